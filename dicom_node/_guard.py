"""The listener's transport guard: connection limits, PDU deadlines and PDU size bounds.

pynetdicom trusts its peer at the transport level: the DUL thread reads a PDU's declared length
(up to 4 GiB) into memory in one blocking call, without a deadline, and a peer that sends a PDU
header and then nothing (or one byte every few seconds) holds its thread, and with it an
association slot, for ever. pynetdicom counts those threads against ``maximum_associations``,
so a handful of such connections lock every sender out.

This module wraps pynetdicom at its documented seams instead of patching it:

- :class:`GuardedServer` (a :class:`ThreadedAssociationServer` with a custom request handler)
  counts TCP connections per peer address and in total at ``accept`` and closes those over the
  limits at once;
- :class:`GuardedSocket` (an :class:`AssociationSocket`) bounds each PDU before its body is
  read: the declared length against ``max_pdu_size`` (PS3.8 9.3.1, "Maximum Length Received"),
  and the time to receive it against a deadline: the whole A-ASSOCIATE-RQ within
  ``acse_timeout`` of the connection opening, any later PDU within ``network_timeout`` of its
  first byte. A PDU over either bound ends the connection as if the peer had closed it
  (pynetdicom's Evt17), so the slot is free within the deadline whatever the peer does.

Every refusal is reported to the ``on_refusal`` callback with the peer address and no data.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

logger = logging.getLogger("cervi.scp")

PDU_HEADER_LENGTH = 6
A_ASSOCIATE_RQ = 0x01
P_DATA_TF = 0x04
KNOWN_PDU_TYPES = frozenset(range(0x01, 0x08))
CLOSING = "Sta13"  # awaiting the transport connection's close
# An A-ASSOCIATE-RQ carries no data set, only negotiation items: even a PACS proposing every
# storage SOP class with several transfer syntaxes stays far below this.
MAX_NEGOTIATION_PDU = 1_048_576
# A-ABORT source 2 (service provider), reason 6 (invalid PDU parameter value), PS3.8 9.3.8.
ABORT_SOURCE_PROVIDER = 0x02
ABORT_INVALID_PARAMETER = 0x06


@dataclass(frozen=True)
class GuardLimits:
    """What one peer, and all peers together, may hold, and how long a PDU may take."""

    max_connections: int
    max_connections_per_peer: int
    max_pdu_size: int
    acse_timeout: float
    network_timeout: float


@dataclass(frozen=True)
class Refusal:
    """A connection the guard ended; ``kind`` names why, ``detail`` never carries data."""

    kind: str
    peer: str
    detail: str


RefusalCallback = Callable[[Refusal], None]


class GuardedSocket(AssociationSocket):
    """An :class:`AssociationSocket` whose reads are bounded in size and time.

    pynetdicom's DUL reads each PDU as ``recv(6)`` (the header) then ``recv(length)``; this
    class keeps track of which of the two a call is, so it can refuse a body before reading it.
    """

    @classmethod
    def adopt(cls, plain: AssociationSocket, server: GuardedServer) -> GuardedSocket:
        """Take over the state of the socket pynetdicom made for a new association."""
        guarded = cls.__new__(cls)
        guarded.__dict__.update(vars(plain))
        guarded._guard = server
        guarded._opened = time.monotonic()
        guarded._negotiated = False
        guarded._body = None
        guarded._refused = False
        guarded._peer = peer_of(plain.socket)
        return guarded

    _guard: GuardedServer
    _opened: float
    _negotiated: bool
    _body: tuple[int, int, float] | None  # (type, declared length, deadline) of the next read
    _refused: bool
    _peer: str

    def recv(self, nr_bytes: int) -> bytearray:
        if self._refused or self._closing():
            # The connection is being closed (PS3.8 9.2, Sta13: what arrives is discarded):
            # read as if the peer had gone, so garbage after an A-ABORT ends it at once.
            return bytearray()
        limits = self._guard.limits
        if self._body is None:
            deadline = time.monotonic() + limits.network_timeout
            if not self._negotiated:
                deadline = min(deadline, self._opened + limits.acse_timeout)
            header = self._read(nr_bytes, deadline)
            if len(header) == PDU_HEADER_LENGTH == nr_bytes:
                pdu_type, _, length = struct.unpack(">BBL", header)
                if pdu_type in KNOWN_PDU_TYPES:
                    self._body = (pdu_type, length, deadline)
            return header
        pdu_type, length, deadline = self._body
        self._body = None
        limit = limits.max_pdu_size if pdu_type == P_DATA_TF else MAX_NEGOTIATION_PDU
        if nr_bytes != length or length > limit:
            # Refused before a byte of the body is read, let alone allocated.
            detail = f"PDU type 0x{pdu_type:02X} declares {length} bytes; the limit is {limit}"
            self._refuse("pdu_too_large", detail)
            return bytearray()
        body = self._read(nr_bytes, deadline)
        if pdu_type == A_ASSOCIATE_RQ and len(body) == nr_bytes:
            self._negotiated = True
        return body

    def _closing(self) -> bool:
        return bool(self.assoc.dul.state_machine.current_state == CLOSING)

    def _read(self, nr_bytes: int, deadline: float) -> bytearray:
        """Like :meth:`AssociationSocket.recv` (a short read means the connection is gone),
        but also short once ``deadline`` has passed."""
        sock = self.socket
        data = bytearray()
        while sock is not None and len(data) < nr_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kind = "negotiation_timeout" if not self._negotiated else "pdu_timeout"
                self._refuse(kind, f"PDU incomplete at the deadline ({len(data)} bytes read)")
                break
            try:
                sock.settimeout(remaining)
                chunk = sock.recv(min(nr_bytes - len(data), 65536))
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            data.extend(chunk)
        return data

    def _refuse(self, kind: str, detail: str) -> None:
        """Tell the peer (A-ABORT), report the refusal, and shut the connection down."""
        self._refused = True
        self._guard.refused(Refusal(kind, self._peer, detail))
        sock = self.socket
        if sock is not None:
            abort = A_ABORT_RQ()
            abort.source = ABORT_SOURCE_PROVIDER
            abort.reason_diagnostic = ABORT_INVALID_PARAMETER
            try:
                sock.settimeout(1.0)
                sock.sendall(abort.encode())
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def peer_of(sock: Any) -> str:
    """The peer's IP address, or "" when the socket is already gone."""
    try:
        return str(sock.getpeername()[0])
    except (OSError, AttributeError, IndexError, TypeError):
        return ""


class GuardedRequestHandler(RequestHandler):
    """pynetdicom's request handler, with the association reading through a guarded socket."""

    server: GuardedServer

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        # Swapped before the association's threads start, so every read goes through it.
        assoc.dul.socket = GuardedSocket.adopt(assoc.dul.socket, self.server)
        self.server.track(self.request, assoc)
        return assoc


class GuardedServer(ThreadedAssociationServer):
    """A threaded association server that bounds connections per peer and in total.

    A connection counts from ``accept`` for as long as its association thread lives; the
    deadlines in :class:`GuardedSocket` bound that life before and during negotiation.
    """

    def __init__(
        self, *args: Any, limits: GuardLimits, on_refusal: RefusalCallback, **kwargs: Any
    ) -> None:
        self.limits = limits
        self._on_refusal = on_refusal
        self._lock = threading.Lock()
        # id(request socket) -> (peer, its association once made)
        self._open: dict[int, tuple[str, Any]] = {}
        super().__init__(*args, request_handler=GuardedRequestHandler, **kwargs)

    def connections(self) -> Counter[str]:
        """Open connections per peer address."""
        with self._lock:
            return self._count()

    def _count(self) -> Counter[str]:
        for key, (_, assoc) in list(self._open.items()):
            # Not yet made, made but not yet started, or running: the connection is held.
            if assoc is not None and assoc.ident is not None and not assoc.is_alive():
                del self._open[key]
        return Counter(peer for peer, _ in self._open.values())

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Admit a new TCP connection only within the total and per-peer limits."""
        peer = str(client_address[0])
        with self._lock:
            counts = self._count()
            total = sum(counts.values())
            if total >= self.limits.max_connections:
                kind, detail = "connection_limit", f"{total} connections open (the limit)"
            elif counts[peer] >= self.limits.max_connections_per_peer:
                kind = "peer_connection_limit"
                detail = f"{counts[peer]} connections open from this peer (the limit)"
            else:
                self._open[id(request)] = (peer, None)
                return True
        self.refused(Refusal(kind, peer, detail))
        return False

    def track(self, request: Any, assoc: Any) -> None:
        with self._lock:
            peer, _ = self._open.get(id(request), (peer_of(request), None))
            self._open[id(request)] = (peer, assoc)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            super().finish_request(request, client_address)
        finally:
            with self._lock:
                entry = self._open.get(id(request))
                if entry is not None and entry[1] is None:  # no association was made
                    del self._open[id(request)]

    def refused(self, refusal: Refusal) -> None:
        try:
            self._on_refusal(refusal)
        except Exception:
            logger.exception("could not report a refusal", extra={"event": "audit_failed"})
