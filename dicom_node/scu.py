"""Sending results out: C-STORE (pynetdicom) or STOW-RS (DICOMweb) to one destination.

Each send ends in a :class:`SendOutcome` that says whether a retry can help: a refused
connection, a timeout, a transient association rejection or an out-of-resources status are
transient; a permanent rejection, an ``0xA9xx`` or ``0xCxxx`` status or an HTTP 4xx are
permanent, so the outbox stops retrying and shows the reason.

A DICOM destination may be reached over TLS (``dicom_node.tls.ClientTls``) and may be asked for
Storage Commitment after the C-STOREs (``dicom_node.commitment``): then "delivered" means only
"stored and commitment requested", and the outbox waits for the PACS's report.
"""

from __future__ import annotations

import enum
import logging
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import StorageCommitmentPushModel

from dicom_node import identity
from dicom_node.commitment import CommitmentSink, Reference, report_handler, request_commitment
from dicom_node.status import RejectResult
from dicom_node.tls import ClientTls, TlsConfigError

logger = logging.getLogger("cervi.scu")


class Verdict(enum.StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendOutcome:
    verdict: Verdict
    detail: str
    commitment_requested: bool = False

    @property
    def delivered(self) -> bool:
        return self.verdict is Verdict.DELIVERED


def classify_status(status: int) -> Verdict:
    """PS3.4 Annex B: success and warnings deliver; 0xA7xx is transient; other failures are not."""
    if status == 0x0000 or status in (0x0001, 0xB000, 0xB006, 0xB007):
        return Verdict.DELIVERED
    if 0xA700 <= status <= 0xA7FF:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT


@dataclass(frozen=True)
class DimseDestination:
    """A DICOM node that takes C-STORE: the PACS, usually."""

    name: str
    ae_title: str
    host: str
    port: int
    calling_ae_title: str = identity.AE_TITLE
    timeout: float = 30.0
    tls: ClientTls | None = None
    commitment: bool = False
    commitment_timeout: float = 600.0  # no report by then: the outbox sends again
    reports: CommitmentSink | None = None  # takes a report sent back on this association

    def send(self, files: Sequence[Path], transaction_uid: str | None = None) -> SendOutcome:
        """Send ``files`` over one association proposing only their SOP classes and syntaxes;
        with :attr:`commitment`, then request Storage Commitment under ``transaction_uid``."""
        if self.commitment and not transaction_uid:
            raise ValueError('Argument "transaction_uid" is required with commitment.')
        datasets = [dcmread(path) for path in files]
        ae = AE(ae_title=self.calling_ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        for sop_class_uid, syntaxes in _contexts(datasets).items():
            ae.add_requested_context(sop_class_uid, syntaxes)
        where = f"{self.ae_title} at {self.host}:{self.port}"
        if self.commitment:
            ae.add_requested_context(StorageCommitmentPushModel)
        handlers = [report_handler(self.reports)] if self.reports is not None else []
        try:
            tls_args = (self.tls.context(), self.host) if self.tls is not None else None
        except TlsConfigError as exc:
            return SendOutcome(Verdict.PERMANENT, f"TLS settings: {exc}")
        try:
            assoc = ae.associate(
                self.host,
                self.port,
                ae_title=self.ae_title,
                tls_args=tls_args,
                evt_handlers=handlers,
            )
        except OSError as exc:  # ssl.SSLError included: a failed handshake
            return SendOutcome(Verdict.TRANSIENT, f"cannot connect to {where}: {describe(exc)}")
        if assoc.is_rejected:
            result = getattr(assoc.acceptor.primitive, "result", None)
            verdict = Verdict.PERMANENT if result == RejectResult.PERMANENT else Verdict.TRANSIENT
            return SendOutcome(verdict, f"association rejected ({verdict.value}) by {where}")
        if not assoc.is_established:
            if self.tls is not None:  # pynetdicom logs the handshake error, returns no reason
                detail = "no association: TLS handshake failed, or the peer did not answer"
                return SendOutcome(Verdict.TRANSIENT, detail)
            return SendOutcome(Verdict.TRANSIENT, self._not_established(where))
        try:
            for ds in datasets:
                response = assoc.send_c_store(ds)
                status = int(getattr(response, "Status", -1))
                if status == -1:
                    return SendOutcome(Verdict.TRANSIENT, "no C-STORE response")
                verdict = classify_status(status)
                if verdict is not Verdict.DELIVERED:
                    return SendOutcome(verdict, f"C-STORE status 0x{status:04X}")
            if self.commitment:
                return self._request_commitment(assoc, str(transaction_uid), datasets)
        except (OSError, RuntimeError, ValueError) as exc:
            return SendOutcome(Verdict.TRANSIENT, f"C-STORE failed: {exc}")
        finally:
            if assoc.is_established:
                assoc.release()
        return SendOutcome(Verdict.DELIVERED, f"{len(datasets)} instance(s) stored")

    def _not_established(self, where: str) -> str:
        """Why no association came about. pynetdicom logs a failed connect but returns only an
        aborted association, so the TCP connection is tried once more to name the cause."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                pass
        except OSError as exc:
            return f"cannot connect to {where}: {describe(exc)}"
        return (
            f"{where} took the connection but aborted the association or did not answer "
            f"within {self.timeout:g} s"
        )

    def _request_commitment(
        self, assoc: Association, transaction_uid: str, datasets: Sequence[Dataset]
    ) -> SendOutcome:
        accepted = {str(c.abstract_syntax) for c in assoc.accepted_contexts}
        if StorageCommitmentPushModel not in accepted:
            return SendOutcome(Verdict.PERMANENT, "destination refuses Storage Commitment")
        references = [Reference(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in datasets]
        status = request_commitment(assoc, transaction_uid, references)
        if status == -1:
            return SendOutcome(Verdict.TRANSIENT, "no N-ACTION response")
        if status != 0x0000:
            return SendOutcome(Verdict.TRANSIENT, f"N-ACTION status 0x{status:04X}")
        return SendOutcome(
            Verdict.DELIVERED,
            f"{len(datasets)} instance(s) stored, commitment requested",
            commitment_requested=True,
        )


def describe(exc: OSError) -> str:
    """A socket error in words: 'connection refused', 'timed out', 'unknown host ...'."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return "timed out (no answer: host down or a firewall dropping packets)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return exc.strerror or str(exc) or type(exc).__name__


def _contexts(datasets: Sequence[object]) -> dict[str, list[str]]:
    contexts: dict[str, list[str]] = {}
    for ds in datasets:
        syntax = str(ds.file_meta.TransferSyntaxUID)  # type: ignore[attr-defined]
        wanted = contexts.setdefault(str(ds.SOPClassUID), [])  # type: ignore[attr-defined]
        for candidate in (syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if candidate not in wanted:
                wanted.append(candidate)
    return contexts


@dataclass(frozen=True)
class StowDestination:
    """A DICOMweb server that takes STOW-RS at ``url`` (the ``.../studies`` resource)."""

    name: str
    url: str
    timeout: float = 30.0
    commitment: bool = False  # DICOMweb has no storage commitment
    commitment_timeout: float = 0.0

    def send(self, files: Sequence[Path], transaction_uid: str | None = None) -> SendOutcome:
        boundary = f"cervi-{uuid.uuid4().hex}"
        body = (
            b"".join(
                b"--"
                + boundary.encode()
                + b"\r\nContent-Type: application/dicom\r\n\r\n"
                + Path(path).read_bytes()
                + b"\r\n"
                for path in files
            )
            + b"--"
            + boundary.encode()
            + b"--\r\n"
        )
        request = urllib.request.Request(self.url, data=body, method="POST")
        request.add_header(
            "Content-Type", f'multipart/related; type="application/dicom"; boundary={boundary}'
        )
        request.add_header("Accept", "application/dicom+json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except urllib.error.URLError as exc:
            reason = exc.reason if isinstance(exc.reason, OSError) else None
            detail = describe(reason) if reason is not None else str(exc.reason)
            return SendOutcome(Verdict.TRANSIENT, f"cannot reach {self.url}: {detail}")
        except OSError as exc:
            return SendOutcome(Verdict.TRANSIENT, f"cannot reach {self.url}: {describe(exc)}")
        if 200 <= code < 300:
            return SendOutcome(Verdict.DELIVERED, f"STOW-RS HTTP {code}")
        transient = code >= 500 or code in (408, 429)
        verdict = Verdict.TRANSIENT if transient else Verdict.PERMANENT
        return SendOutcome(verdict, f"STOW-RS HTTP {code}")
