"""Load beside the attacks: 16 associations storing at once while hostile peers hold
connections half open, trickle bytes, declare huge PDUs, send garbage and open and close in
bursts. Senders retry transient failures (0xA700, a lost association) as a PACS does; echoscu
(timeouts of one second) keeps being answered, and every instance acknowledged
is in the database with its file."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from sqlalchemy import select

from cervi.bootstrap import Service, build_service
from dicom_node.status import Status
from storage.tables import Instance
from tests.conftest import require_tool
from tests.integration.conftest import make_settings
from tests.support import attack
from tests.support.analyser import FixedAnalyser
from tests.support.attack import attacker, pdu_header
from tests.support.dicom import make_dx

SENDERS = 16
INSTANCES = 8  # per sender
RETRIES = 5  # associations a sender tries
# Generous: the machine running the tests is shared; what must not happen is a lock-out.
ECHO_SUCCESS = 0.5
ECHO_MAX_MISSED_IN_A_ROW = 5


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[Service]:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'cervi.db'}",
        tmp_path,
        max_associations=20,
        max_connections=64,
        max_connections_per_peer=20,
        acse_timeout=3,
        network_timeout=30,
    )
    settings.assembly.quiet_seconds = 3600  # assembly and analysis are not the subject
    service = build_service(settings, analyser=FixedAnalyser())
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _sender(port: int, acknowledged: list[str], errors: list[str]) -> None:
    """Send INSTANCES as a PACS does: a transient failure (0xA700, a lost association) is
    retried on a new association, a few times."""
    ae = AE(ae_title=f"LOAD{threading.get_ident() % 1000}")
    ae.add_requested_context(make_dx().SOPClassUID, [ExplicitVRLittleEndian])
    # Senders, attackers and listener share one interpreter on a shared machine: a store may
    # wait its turn long; what is asserted is that each is answered, not how fast.
    ae.dimse_timeout = ae.acse_timeout = 120
    pending = [make_dx(seed=i, size=128) for i in range(INSTANCES)]
    for _attempt in range(RETRIES):
        assoc = ae.associate("127.0.0.1", port, ae_title="CERVI")
        if not assoc.is_established:
            continue
        try:
            while pending:
                status = assoc.send_c_store(pending[0])
                code = int(status.Status) if "Status" in status else None
                if code == Status.SUCCESS:
                    acknowledged.append(str(pending.pop(0).SOPInstanceUID))
                elif code == Status.OUT_OF_RESOURCES or code is None:
                    break  # transient: a new association, later
                else:
                    errors.append(f"store answered 0x{code:04X}")
                    pending.pop(0)
        except Exception:
            pass  # the association was lost: a new one
        finally:
            if assoc.is_established:
                assoc.release()
        if not pending:
            return
        time.sleep(1)
    errors.append(f"{len(pending)} instances not stored after {RETRIES} associations")


def _repeat(stop: threading.Event, attack_once: Callable[[], None]) -> None:
    """Attack again and again; the pause keeps the attackers, which share this process's
    interpreter with the listener, from starving it of CPU rather than of connections."""
    while not stop.is_set():
        with contextlib.suppress(OSError, ConnectionError):
            attack_once()
        time.sleep(0.05)


def _half_open() -> None:
    with attack.sockets(25, port_of[0], attacker(1)) as held:  # over its per-peer limit
        for sock in held:
            with contextlib.suppress(OSError):
                sock.sendall(pdu_header(0x01, 500))
        time.sleep(1)


def _slow() -> None:
    with attack.sockets(3, port_of[0], attacker(2)) as held:
        for byte in attack.associate_rq()[:40]:
            for sock in held:
                sock.sendall(bytes([byte]))
            time.sleep(0.2)


def _huge() -> None:
    with attack.sockets(1, port_of[0], attacker(3)) as (sock,):
        sock.sendall(pdu_header(0x01, 0xFFFFFFF0) + b"\x00" * 65536)


def _garbage() -> None:
    with attack.sockets(1, port_of[0], attacker(4)) as (sock,):
        sock.sendall(b"\xff\x00" * 512)
        attack.received_abort(sock, 1)


def _burst() -> None:
    with attack.sockets(20, port_of[0], attacker(5)):
        pass
    time.sleep(0.1)


port_of: list[int] = []


def test_echo_is_answered_and_nothing_acknowledged_is_lost_under_load_and_attack(
    loaded: Service,
) -> None:
    echoscu = require_tool("echoscu")
    port = loaded.listener.port
    port_of[:] = [port]
    stop = threading.Event()
    attackers = [
        threading.Thread(target=_repeat, args=(stop, a), daemon=True)
        for a in (_half_open, _slow, _huge, _garbage, _burst)
    ]
    acknowledged: list[str] = []
    errors: list[str] = []
    senders = [
        threading.Thread(target=_sender, args=(port, acknowledged, errors), daemon=True)
        for _ in range(SENDERS)
    ]
    for thread in attackers:
        thread.start()
    time.sleep(0.5)  # the attacks are under way before the load begins
    for thread in senders:
        thread.start()
    echoes: list[bool] = []
    command = [echoscu, "-aec", "CERVI", "-to", "1", "-ta", "1", "-td", "1", "127.0.0.1"]
    while any(t.is_alive() for t in senders) or len(echoes) < 10:
        done = subprocess.run([*command, str(port)], capture_output=True, timeout=30)
        echoes.append(done.returncode == 0)
        time.sleep(0.2)
    stop.set()
    for thread in senders + attackers:
        thread.join(timeout=30)

    assert errors == []
    assert len(acknowledged) == SENDERS * INSTANCES
    print(f"echo answered {sum(echoes)}/{len(echoes)}, {len(acknowledged)} stores acknowledged")
    # never locked out: no long run of unanswered echoes, and most of them answered
    longest = max(len(run) for run in "".join("x" if ok else "." for ok in echoes).split("x"))
    assert longest <= ECHO_MAX_MISSED_IN_A_ROW, echoes
    assert sum(echoes) >= ECHO_SUCCESS * len(echoes), echoes
    with loaded.sessions() as session:
        rows = dict(session.execute(select(Instance.sop_instance_uid, Instance.path)).all())
    assert set(acknowledged) <= set(rows)
    assert all(Path(rows[uid]).is_file() for uid in acknowledged)
