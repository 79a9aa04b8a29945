"""The listener under hostile peers: no lock-out, bounded PDUs, every refusal audited.

Attackers connect from 127.0.0.2 and up, the honest echo from 127.0.0.1 (tests/support/attack.py).
Timeouts are short here so that "a slot is free within acse_timeout" is seen within the test.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cervi.bootstrap import Service, build_service
from storage.tables import AuditEvent
from tests.integration.conftest import make_settings
from tests.support import attack
from tests.support.attack import (
    attacker,
    closed_within,
    echo,
    pdu_header,
    sockets,
    wait_until,
)

ACSE = 2.0
NETWORK = 3.0
MARGIN = 2.0  # scheduling slack on a busy machine; never part of what is asserted as fast


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Service]:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'cervi.db'}",
        tmp_path,
        max_associations=4,
        max_connections=8,
        max_connections_per_peer=4,
        acse_timeout=ACSE,
        network_timeout=NETWORK,
        max_pdu_size=16384,
    )
    service = build_service(settings)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _audits(service: Service, kind: str | None = None) -> list[AuditEvent]:
    service.listener.flush_audit()
    with service.sessions() as session:
        query = select(AuditEvent)
        if kind is not None:
            query = query.where(AuditEvent.kind == kind)
        return list(session.scalars(query))


def test_half_open_pdus_from_one_peer_leave_room_for_others(guarded: Service) -> None:
    port = guarded.listener.port
    with sockets(17, port, attacker(1)) as held:
        for sock in held:
            with contextlib.suppress(OSError):  # one refused at once may be gone already
                sock.sendall(pdu_header(0x01, 0xFFFFFFF0))
        assert echo(port) == 0x0000
        # The listener closes each within acse_timeout of its opening, whatever it sends.
        assert all(closed_within(sock, ACSE + MARGIN) for sock in held)
    # At least those over the per-peer limit were refused and audited; the others were aborted
    # for the length they declare or at the deadline, unless the accept loop, lagging, took
    # them only after the test had closed them.
    kinds = ("peer_connection_limit", "pdu_too_large", "negotiation_timeout")
    enough = 17 - guarded.settings.node.max_connections_per_peer
    assert wait_until(lambda: sum(len(_audits(guarded, k)) for k in kinds) >= enough, MARGIN)
    assert _audits(guarded, "peer_connection_limit")
    assert {a.peer for a in _audits(guarded)} == {attacker(1)}


def test_many_peers_saturate_then_free_within_acse_timeout(guarded: Service) -> None:
    port = guarded.listener.port
    # 4 peers x 2 connections = max_connections, each with an A-ASSOCIATE-RQ begun, not ended.
    opened = [attack.connect(port, attacker(n)) for n in range(1, 5) for _ in range(2)]
    try:
        for sock in opened:
            sock.sendall(pdu_header(0x01, 1000) + b"\x00" * 10)
        assert wait_until(lambda: guarded.listener.load().saturated, MARGIN)
        assert echo(port, timeout=1) is None
        assert wait_until(lambda: echo(port, timeout=1) == 0x0000, ACSE + MARGIN)
        assert all(closed_within(sock, MARGIN) for sock in opened)
    finally:
        for sock in opened:
            sock.close()
    timeouts = _audits(guarded, "negotiation_timeout")
    assert {a.peer for a in timeouts} == {attacker(n) for n in range(1, 5)}
    assert {a.peer for a in _audits(guarded, "connection_limit")} == {attack.HONEST}


def test_a_slow_sender_is_cut_off_at_the_deadline(guarded: Service) -> None:
    port = guarded.listener.port
    request = attack.associate_rq()
    with sockets(1, port, attacker(1)) as (sock,):
        started = time.monotonic()
        cut_off = False
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut_off = True
                break
            if closed_within(sock, 0.25):
                cut_off = True
                break
        assert cut_off
        assert time.monotonic() - started <= ACSE + MARGIN
    assert [a.peer for a in _audits(guarded, "negotiation_timeout")] == [attacker(1)]


def test_opened_and_closed_connections_free_their_slots_at_once(guarded: Service) -> None:
    port = guarded.listener.port
    for n in range(1, 6):
        with sockets(4, port, attacker(n)):
            pass
    # Well below acse_timeout: the slots of closed connections are not held until it expires.
    assert wait_until(lambda: guarded.listener.load().connections == 0, ACSE / 2)
    assert echo(port) == 0x0000


def test_a_pdu_longer_than_max_pdu_size_is_aborted_unread(guarded: Service) -> None:
    port = guarded.listener.port
    with sockets(1, port, attacker(1)) as (sock,):
        sock.sendall(pdu_header(0x01, 0xFFFFFFF0))
        assert attack.received_abort(sock, ACSE)
        with pytest.raises(OSError):
            for _ in range(1024):  # 64 MiB: the listener must not take it
                sock.sendall(b"\x00" * 65536)
    audit = _audits(guarded, "pdu_too_large")
    assert [a.peer for a in audit] == [attacker(1)]
    assert "4294967280" in (audit[0].detail or "")


def test_a_p_data_pdu_over_the_negotiated_maximum_is_aborted(guarded: Service) -> None:
    port = guarded.listener.port
    with sockets(1, port, attacker(1)) as (sock,):
        sock.sendall(attack.associate_rq())
        reply = sock.recv(6)
        assert reply[:1] == b"\x02"  # A-ASSOCIATE-AC
        (length,) = struct.unpack(">L", reply[2:6])
        sock.recv(length)
        sock.sendall(pdu_header(0x04, 16384 + 1))
        assert attack.received_abort(sock, NETWORK)
    assert [a.peer for a in _audits(guarded, "pdu_too_large")] == [attacker(1)]


def test_garbage_is_aborted_and_audited(guarded: Service) -> None:
    port = guarded.listener.port
    with sockets(1, port, attacker(1)) as (sock,):
        sock.sendall(b"\xff" * 64)
        assert attack.received_abort(sock, ACSE)
    assert wait_until(lambda: _audits(guarded, "invalid_pdu"), MARGIN)
    assert [a.peer for a in _audits(guarded, "invalid_pdu")] == [attacker(1)]
    assert echo(port) == 0x0000


def test_association_limit_rejections_are_audited(guarded: Service) -> None:
    port = guarded.listener.port
    held = [attack.connect(port, attacker(n)) for n in range(1, 5)]  # max_associations = 4
    try:
        for sock in held:
            sock.sendall(attack.associate_rq())
            assert sock.recv(1) == b"\x02"  # A-ASSOCIATE-AC
        assert guarded.listener.load().associations == 4
        assert guarded.listener.load().saturated
        assert echo(port) is None
    finally:
        for sock in held:
            sock.close()
    refused = _audits(guarded, "association_limit_rejected")
    assert [a.peer for a in refused] == [attack.HONEST]
    assert wait_until(lambda: echo(port) == 0x0000, MARGIN)
