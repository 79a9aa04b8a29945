"""The DICOM listener: Verification and Storage SCP (pynetdicom).

An instance is acknowledged only once its :class:`InstanceSink` has written the file durably and
committed its row; anything that prevents that is answered with a failure status so that the
sender keeps the instance and retries. Handlers only parse, validate and hand over: the sink does
the I/O, and later work (assembly, inference) happens off the association thread.
"""

from __future__ import annotations

import enum
import logging
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Protocol

from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification

from dicom_node._guard import GuardedServer, GuardLimits, Refusal
from dicom_node._limits import Admission, ListenerLoad, RefusalRecorder
from dicom_node.commitment import CommitmentSink, accept_reports, report_handler
from dicom_node.instance import InstanceMeta, MissingIdentifier
from dicom_node.pixels import CorruptPixelData, check_pixel_data
from dicom_node.sop import STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES
from dicom_node.status import RejectReason, RejectResult, RejectSource, Status

logger = logging.getLogger("cervi.scp")

# pynetdicom's state machine event for an invalid or unrecognised PDU (PS3.8 9.2, Evt19).
INVALID_PDU = "Evt19"
CLOSING = "Sta13"  # waiting for the transport connection to close


class StoreOutcome(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REPLACED = "replaced"


class StoreFailed(Exception):
    """The instance could not be made durable (write, commit or space); nothing was kept."""


class StoreRefused(Exception):
    """The instance's data cannot be kept as given (not a resource problem: a resend of the
    same data would fail the same way); nothing was kept."""


@dataclass(frozen=True)
class ReceivedInstance:
    meta: InstanceMeta
    data: bytes
    transfer_syntax_uid: str
    calling_ae: str
    peer: str


@dataclass(frozen=True)
class Rejection:
    """Why an association or instance was refused; never carries patient data."""

    kind: str
    calling_ae: str | None
    peer: str | None
    detail: str
    status: int | None = None
    study_uid: str | None = None
    sop_instance_uid: str | None = None


class InstanceSink(Protocol):
    """Where received instances go (``cervi.ingest`` provides the durable one)."""

    def store(self, received: ReceivedInstance) -> StoreOutcome: ...

    def reject(self, *rejections: Rejection) -> None:
        """Audit the refusals (one transaction for all)."""
        ...

    def has_space(self) -> bool: ...


@dataclass(frozen=True)
class CallerRule:
    ae_title: str
    host: str | None = None

    def admits(self, ae_title: str, host: str) -> bool:
        return ae_title == self.ae_title and (self.host is None or self.host == host)


@dataclass(frozen=True)
class ListenerConfig:
    ae_title: str
    host: str
    port: int
    allowed_callers: Sequence[CallerRule] = ()
    max_associations: int = 16
    max_connections: int = 64
    max_connections_per_peer: int = 24
    max_pdu_size: int = 1_048_576
    acse_timeout: float = 30
    dimse_timeout: float = 60
    network_timeout: float = 60
    ssl_context: ssl.SSLContext | None = None  # DICOM TLS (dicom_node.tls); None: plain TCP


class Listener:
    """A running Storage SCP; :meth:`stop` lets in-flight associations finish first."""

    def __init__(
        self,
        config: ListenerConfig,
        sink: InstanceSink,
        commitment: CommitmentSink | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.commitment = commitment  # takes storage commitment reports when set
        self._ae = _make_ae(config)
        if commitment is not None:
            accept_reports(self._ae)
        self._server: GuardedServer | None = None
        self._admission = Admission(config.max_associations)
        self._refusals: RefusalRecorder[Rejection] = RefusalRecorder(sink.reject, _overflow)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._server is None:
            raise RuntimeError("listener is not running")
        return int(self._server.server_address[1])

    def load(self) -> ListenerLoad:
        """Connections and associations now, against their limits (for ``/health``)."""
        server = self._server
        connections = sum(server.connections().values()) if server else 0
        return ListenerLoad(
            connections=connections,
            associations=self._admission.count() if server else 0,
            max_connections=self.config.max_connections,
            max_associations=self.config.max_associations,
            refusals=self._refusals.count,
        )

    def flush_audit(self) -> None:
        """Wait until every refusal so far has its audit row."""
        self._refusals.flush()

    def start(self) -> None:
        handlers = [
            (
                evt.EVT_REQUESTED,
                handle_requested,
                [self.config, self.sink, self._admission, self._refusals],
            ),
            (evt.EVT_C_ECHO, handle_echo),
            (evt.EVT_C_STORE, handle_store, [self.sink]),
            (evt.EVT_CONN_CLOSE, handle_conn_close),
            (evt.EVT_FSM_TRANSITION, handle_transition, [self._refusals]),
        ]
        if self.commitment is not None:
            handlers.append(report_handler(self.commitment))
        self._refusals.start()
        limits = GuardLimits(
            max_connections=self.config.max_connections,
            max_connections_per_peer=self.config.max_connections_per_peer,
            max_pdu_size=self.config.max_pdu_size,
            acse_timeout=self.config.acse_timeout,
            network_timeout=self.config.network_timeout,
        )
        server = self._ae.make_server(
            (self.config.host, self.config.port),
            evt_handlers=handlers,
            ssl_context=self.config.ssl_context,
            server_class=GuardedServer,
            limits=limits,
            on_refusal=self._guard_refusal,
        )
        thread = threading.Thread(target=server.serve_forever, name="cervi-listener", daemon=True)
        thread.start()
        self._ae._servers.append(server)
        self._server = server
        logger.info(
            "listening",
            extra={
                "ae_title": self.config.ae_title,
                "port": self.port,
                "host": self.config.host,
                "tls": self.config.ssl_context is not None,
            },
        )

    def _guard_refusal(self, refusal: Refusal) -> None:
        self._refusals.record(
            Rejection(kind=refusal.kind, calling_ae=None, peer=refusal.peer, detail=refusal.detail)
        )

    def stop(self, grace_seconds: float = 30.0) -> None:
        """Stop accepting, wait up to ``grace_seconds`` for open associations, then abort."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        deadline = time.monotonic() + grace_seconds
        # Associations still negotiating (or bare TCP probes) have nothing to finish: their
        # threads are daemons, so they are not waited for.
        for assoc in server.active_associations:
            if assoc.is_established:
                assoc.join(timeout=max(0.0, deadline - time.monotonic()))
        for assoc in server.active_associations:
            if not assoc.is_established:
                continue
            logger.warning("aborting association at shutdown", extra={"peer": _peer(assoc)})
            assoc.abort()
        self._refusals.stop()
        logger.info("listener stopped")


def _overflow(dropped: int) -> Rejection:
    detail = f"{dropped} refusals came faster than they could be recorded"
    return Rejection(kind="refusals_not_recorded", calling_ae=None, peer=None, detail=detail)


def _make_ae(config: ListenerConfig) -> AE:
    ae = AE(ae_title=config.ae_title)
    # pynetdicom counts every connection's thread, negotiating or not, against this; Cervi
    # bounds connections in GuardedServer and established associations in handle_requested.
    ae.maximum_associations = max(config.max_connections, config.max_associations)
    # Large PDUs: a 512x512x16 bit image in one PDU instead of 32 costs pynetdicom far less.
    ae.maximum_pdu_size = config.max_pdu_size
    ae.acse_timeout = config.acse_timeout
    ae.dimse_timeout = config.dimse_timeout
    ae.network_timeout = config.network_timeout
    # Called and calling AE titles are checked in handle_requested, which also audits.
    ae.require_called_aet = False
    ae.add_supported_context(Verification)
    for sop_class_uid in STORAGE_SOP_CLASSES:
        ae.add_supported_context(sop_class_uid, list(TRANSFER_SYNTAXES))
    return ae


def _peer(assoc: object) -> str:
    requestor = getattr(assoc, "requestor", None)
    return str(getattr(requestor, "address", "") or "")


def handle_requested(
    event: Event,
    config: ListenerConfig,
    sink: InstanceSink,
    admission: Admission,
    refusals: RefusalRecorder[Rejection],
) -> None:
    """Refuse an association before negotiation: wrong called AE, unknown caller, no space,
    or as many associations as ``max_associations`` already admitted."""
    primitive = event.assoc.requestor.primitive
    calling = str(primitive.calling_ae_title).strip()
    called = str(primitive.called_ae_title).strip()
    peer = _peer(event.assoc)

    if called != config.ae_title:
        reason, result, source, kind = (
            RejectReason.CALLED_AE_NOT_RECOGNISED,
            RejectResult.PERMANENT,
            RejectSource.SERVICE_USER,
            "called_ae_rejected",
        )
    elif config.allowed_callers and not any(
        r.admits(calling, peer) for r in config.allowed_callers
    ):
        reason, result, source, kind = (
            RejectReason.CALLING_AE_NOT_RECOGNISED,
            RejectResult.PERMANENT,
            RejectSource.SERVICE_USER,
            "calling_ae_rejected",
        )
    elif not sink.has_space():
        reason, result, source, kind = (
            RejectReason.TEMPORARY_CONGESTION,
            RejectResult.TRANSIENT,
            RejectSource.SERVICE_PROVIDER_PRESENTATION,
            "low_disk_rejected",
        )
    elif not admission.admit(event.assoc):
        reason, result, source, kind = (
            RejectReason.LOCAL_LIMIT_EXCEEDED,
            RejectResult.TRANSIENT,
            RejectSource.SERVICE_PROVIDER_PRESENTATION,
            "association_limit_rejected",
        )
    else:
        return
    detail = f"association rejected ({result.name.lower()}): called={called!r}"
    refusals.record(Rejection(kind=kind, calling_ae=calling, peer=peer, detail=detail))
    event.assoc.acse.send_reject(result, source, reason)
    _wait_until_sent(event.assoc)


def _wait_until_sent(assoc: object, timeout: float = 2.0) -> None:
    """Wait until the DUL thread has written the A-ASSOCIATE-RJ (state Sta13).

    pynetdicom closes the socket as soon as this handler returns, racing its own DUL thread:
    without the wait the caller may see the connection drop instead of the rejection, and a
    sender that does not see "rejected permanent" keeps retrying.
    """
    dul = assoc.dul  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not dul.to_provider_queue.queue and dul.state_machine.current_state == CLOSING:
            return
        time.sleep(0.001)


def handle_conn_close(event: Event) -> None:
    """Wake an acceptor still waiting for its A-ASSOCIATE-RQ when the connection is gone.

    pynetdicom's association thread waits up to ``acse_timeout`` for the request even after
    the peer has closed; until then the dead connection holds a slot (twenty connections
    opened and closed at once would lock senders out for that long). ``None`` is what its
    wait returns on timeout, so the thread ends at once, as after a timeout.
    """
    assoc = event.assoc
    waiting = assoc.is_acceptor and assoc.requestor.primitive is None
    if waiting and assoc.dul.to_user_queue.empty():
        assoc.dul.to_user_queue.put(None)


def handle_transition(event: Event, refusals: RefusalRecorder) -> None:
    """Audit what the state machine refuses: a PDU it cannot decode or did not expect (once:
    while closing, Sta13, the rest of the garbage is read and dropped)."""
    if event.fsm_event != INVALID_PDU or event.current_state == CLOSING:
        return
    refusals.record(
        Rejection(
            kind="invalid_pdu",
            calling_ae=None,
            peer=_peer(event.assoc),
            detail=f"invalid or unexpected PDU in {event.current_state}: association aborted",
        )
    )


def handle_echo(event: Event) -> int:
    return Status.SUCCESS


def handle_store(event: Event, sink: InstanceSink) -> int:
    """Parse and validate the instance, hand it to the sink, answer with a :class:`Status`."""
    calling = str(event.assoc.requestor.ae_title).strip()
    peer = _peer(event.assoc)
    request = event.request

    def refuse(status: Status, kind: str, detail: str, meta: InstanceMeta | None = None) -> int:
        extra = {
            "event": kind,
            "status": f"0x{status:04X}",
            "calling_ae": calling,
            "peer": peer,
            "study_uid": meta.study_uid if meta else None,
            "sop_instance_uid": meta.sop_instance_uid if meta else None,
        }
        logger.warning("store refused: %s", detail, extra=extra)
        try:
            sink.reject(
                Rejection(
                    kind=kind,
                    calling_ae=calling,
                    peer=peer,
                    detail=detail,
                    status=int(status),
                    study_uid=extra["study_uid"],
                    sop_instance_uid=extra["sop_instance_uid"],
                )
            )
        except Exception:
            logger.exception("could not record the refusal", extra={"event": "audit_failed"})
        return status

    try:
        data = event.encoded_dataset(include_meta=True)
        # Whole, pixels too (a copy, not a decode): check_pixel_data compares their length.
        dataset = dcmread(BytesIO(data))
    except Exception as exc:
        return refuse(
            Status.CANNOT_UNDERSTAND, "undecodable", f"cannot decode: {type(exc).__name__}"
        )

    try:
        meta = InstanceMeta.from_dataset(dataset)
    except MissingIdentifier as exc:
        return refuse(Status.DATASET_DOES_NOT_MATCH, "bad_identifier", str(exc))
    except Exception as exc:  # a value pydicom cannot convert (an IS of letters, ...)
        detail = f"cannot decode the header: {type(exc).__name__}"
        return refuse(Status.CANNOT_UNDERSTAND, "undecodable", detail)
    if meta.sop_class_uid != request.AffectedSOPClassUID:
        return refuse(Status.DATASET_DOES_NOT_MATCH, "bad_identifier", "SOPClassUID differs", meta)
    if meta.sop_instance_uid != request.AffectedSOPInstanceUID:
        detail = "SOPInstanceUID differs from the request"
        return refuse(Status.DATASET_DOES_NOT_MATCH, "bad_identifier", detail, meta)

    try:
        check_pixel_data(dataset, str(event.context.transfer_syntax))
    except CorruptPixelData as exc:
        return refuse(Status.CANNOT_UNDERSTAND, "corrupt_pixel_data", str(exc), meta)

    received = ReceivedInstance(
        meta=meta,
        data=data,
        transfer_syntax_uid=str(event.context.transfer_syntax),
        calling_ae=calling,
        peer=peer,
    )
    try:
        outcome = sink.store(received)
    except StoreRefused as exc:
        return refuse(Status.CANNOT_UNDERSTAND, "store_refused", str(exc), meta)
    except StoreFailed as exc:
        return refuse(Status.OUT_OF_RESOURCES, "store_failed", str(exc), meta)
    except Exception:
        logger.exception(
            "store failed unexpectedly", extra={"sop_instance_uid": meta.sop_instance_uid}
        )
        return refuse(Status.OUT_OF_RESOURCES, "store_failed", "unexpected error", meta)

    logger.info(
        "instance %s",
        outcome.value,
        extra={
            "event": f"instance_{outcome.value}",
            "calling_ae": calling,
            "study_uid": meta.study_uid,
            "sop_instance_uid": meta.sop_instance_uid,
            "bytes": len(data),
        },
    )
    return Status.SUCCESS
