"""Hostile peers for the listener's tests: raw sockets that misbehave, and the echo that must
still get through. Attackers connect from other loopback addresses (127.0.0.2, ...), as peers on
other machines would, so that per-peer limits apply to them and not to the honest echo."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator

from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification
from pynetdicom.transport import AddressInformation

ABORT_PDU = 0x07
HONEST = "127.0.0.1"


def attacker(n: int) -> str:
    """The n-th attacker's loopback address (n >= 1): 127.0.0.(n + 1)."""
    return f"127.0.0.{n + 1}"


def connect(port: int, source: str = HONEST, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def pdu_header(pdu_type: int, length: int) -> bytes:
    return struct.pack(">BBL", pdu_type, 0, length)


def associate_rq(
    called: str = "CERVI",
    calling: str = "ATTACKER",
    max_pdu: int = 16384,
    abstract_syntax: str = Verification,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> bytes:
    """An encoded A-ASSOCIATE-RQ proposing one presentation context (ID 1)."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    primitive.calling_presentation_address = AddressInformation("127.0.0.1", 0)
    primitive.called_presentation_address = AddressInformation("127.0.0.1", 104)
    context = build_context(abstract_syntax, [transfer_syntax])
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    item = MaximumLengthNotification()
    item.maximum_length_received = max_pdu
    primitive.user_information = [item]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def p_data(message: bytes, *, command: bool, context_id: int = 1) -> bytes:
    """One P-DATA-TF PDU carrying ``message`` whole, as the last fragment (PS3.8 9.3.5, E.2)."""
    control = (0x01 if command else 0x00) | 0x02
    item = struct.pack(">LBB", len(message) + 2, context_id, control) + message
    return pdu_header(0x04, len(item)) + item


def store_command(sop_class_uid: str, sop_instance_uid: str, message_id: int = 1) -> bytes:
    """A C-STORE-RQ command set in Implicit VR Little Endian (PS3.7 9.3.1.1), UIDs as given,
    valid or not: the encoding is done here, not by pynetdicom, which would refuse them."""
    body = b"".join(
        (
            _element(0x0002, _ui(sop_class_uid)),
            _element(0x0100, struct.pack("<H", 0x0001)),
            _element(0x0110, struct.pack("<H", message_id)),
            _element(0x0700, struct.pack("<H", 0)),
            _element(0x0800, struct.pack("<H", 0x0000)),
            _element(0x1000, _ui(sop_instance_uid)),
        )
    )
    return _element(0x0000, struct.pack("<L", len(body))) + body


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


def _ui(uid: str) -> bytes:
    raw = uid.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def associate(
    port: int, source: str, abstract_syntax: str, transfer_syntax: str = ExplicitVRLittleEndian
) -> socket.socket:
    """A raw connection with an association on context 1 already accepted."""
    sock = connect(port, source)
    sock.sendall(associate_rq(abstract_syntax=abstract_syntax, transfer_syntax=transfer_syntax))
    header = _read_exactly(sock, 6)
    if header[:1] != b"\x02":
        sock.close()
        raise ConnectionError(f"association not accepted (PDU type 0x{header[0]:02X})")
    _read_exactly(sock, struct.unpack(">L", header[2:6])[0])
    return sock


def read_pdu(sock: socket.socket, timeout: float) -> tuple[int, bytes] | None:
    """The next PDU as (type, body), or None when the connection ends first."""
    sock.settimeout(timeout)
    try:
        header = _read_exactly(sock, 6)
        return header[0], _read_exactly(sock, struct.unpack(">L", header[2:6])[0])
    except (OSError, ConnectionError):
        return None


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data.extend(chunk)
    return bytes(data)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the listener ends the connection within ``seconds`` (EOF, reset or abort)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            return True
        if not data:
            return True
    return False


def received_abort(sock: socket.socket, seconds: float) -> bool:
    """True when an A-ABORT PDU arrives within ``seconds``."""
    sock.settimeout(seconds)
    with contextlib.suppress(OSError):
        return sock.recv(6)[:1] == bytes([ABORT_PDU])
    return False


def echo(port: int, timeout: float = 5.0) -> int | None:
    """C-ECHO from the honest address; the status, or None when no association was made."""
    ae = AE(ae_title="HONEST")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate("127.0.0.1", port, ae_title="CERVI", bind_address=(HONEST, 0))
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if "Status" in status else None
    finally:
        assoc.release()


def wait_until(condition: Callable[[], object], seconds: float) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@contextlib.contextmanager
def sockets(count: int, port: int, source: str) -> Iterator[list[socket.socket]]:
    """``count`` connections from ``source``, closed at the end."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            with contextlib.suppress(OSError):
                opened.append(connect(port, source))
        yield opened
    finally:
        for sock in opened:
            sock.close()
