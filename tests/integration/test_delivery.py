"""The outbox worker against real peers: Orthanc over DIMSE and STOW-RS, a refusing SCP, a
stopped PACS, and Cervi's own listener rejecting a wrong AE title."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pynetdicom import AE, evt
from sqlalchemy import select

from cervi.bootstrap import build_service
from cervi.delivery import DeliveryLoop, DeliveryWorker, RetryPolicy, Sender
from cervi.demo.orthanc import Orthanc
from dicom_node.scu import DimseDestination, StowDestination
from dicom_node.sop import STORAGE_SOP_CLASSES
from storage import deliveries
from storage.db import make_engine, session_factory, transaction, upgrade
from storage.tables import Delivery, DeliveryState, Result, Study
from tests.conftest import require_tool
from tests.integration.conftest import make_settings
from tests.support.dicom import make_dx, write
from tests.support.net import free_port

POLICY = RetryPolicy(first_seconds=5, max_seconds=60, max_attempts=3)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def outbox(database_url: str, tmp_path: Path) -> Iterator[tuple]:
    """Sessions with one study and result, and two DX files queued for destination ``pacs``."""
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    files = [write(make_dx(seed=i), tmp_path / "out" / f"{i}.dcm") for i in range(2)]
    with transaction(sessions) as session:
        study = Study(study_uid="1.2.3", patient_id="P")
        session.add(study)
        session.flush()
        result = Result(study_id=study.id, version=1, outcome="analysed")
        session.add(result)
        session.flush()
        for i, path in enumerate(files):
            deliveries.queue(session, result.id, "pacs", f"1.2.3.{i}", str(path), Clock()())
    yield sessions, files
    engine.dispose()


def _rows(sessions) -> list[Delivery]:
    with sessions() as session:
        return list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())


def _worker(sessions, sender: Sender, clock: Clock, policy: RetryPolicy = POLICY) -> DeliveryWorker:
    return DeliveryWorker(sessions, {"pacs": sender}, policy, clock=clock)


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Orthanc]:
    require_tool("Orthanc")
    orthanc = Orthanc(tmp_path / "orthanc", dicomweb=True).start()
    yield orthanc
    orthanc.stop()


def test_delivered_to_orthanc_over_dimse(outbox, pacs: Orthanc) -> None:
    sessions, _ = outbox
    clock = Clock()
    worker = _worker(
        sessions, DimseDestination("pacs", "ORTHANC", "127.0.0.1", pacs.dicom_port), clock
    )
    assert worker.run_due() == 2
    assert [r.state for r in _rows(sessions)] == [DeliveryState.DELIVERED] * 2
    assert len(pacs.get("/instances")) == 2
    assert worker.run_due() == 0  # nothing is sent twice


def test_a_stopped_pacs_gets_the_result_once_it_returns(outbox, pacs: Orthanc) -> None:
    sessions, _ = outbox
    clock = Clock()
    worker = _worker(
        sessions, DimseDestination("pacs", "ORTHANC", "127.0.0.1", pacs.dicom_port), clock
    )
    pacs.stop()
    assert worker.run_due() == 0
    rows = _rows(sessions)
    assert all(r.state == DeliveryState.PENDING and r.attempts == 1 for r in rows)
    assert rows[0].next_attempt_at == clock.now + timedelta(seconds=5)
    assert rows[0].last_error == (
        f"cannot connect to ORTHANC at 127.0.0.1:{pacs.dicom_port}: "
        "connection refused (nothing listens on that port)"
    )
    assert worker.run_due() == 0 and _rows(sessions)[0].attempts == 1  # not due yet

    pacs.start()
    clock.now += timedelta(seconds=5)
    assert worker.run_due() == 2
    assert len(pacs.get("/instances")) == 2


def test_backoff_doubles_and_gives_up_after_max_attempts(outbox) -> None:
    sessions, _ = outbox
    clock = Clock()
    closed = DimseDestination("pacs", "NOBODY", "127.0.0.1", free_port(), timeout=2)
    worker = _worker(sessions, closed, clock)
    delays = []
    for _ in range(POLICY.max_attempts):
        before = clock.now
        worker.run_due()
        row = _rows(sessions)[0]
        if row.next_attempt_at:
            delays.append((row.next_attempt_at - before).total_seconds())
            clock.now = row.next_attempt_at
    assert delays == [5, 10]
    assert [r.state for r in _rows(sessions)] == [DeliveryState.FAILED] * 2


def test_delivery_errors_say_what_happened(outbox) -> None:
    """The operator reads the cause in ``last_error``: refused, silent, unknown host."""
    sessions, _ = outbox
    port = free_port()
    cases = [
        (DimseDestination("pacs", "PACS", "127.0.0.1", port, timeout=2), "connection refused"),
        (StowDestination("pacs", f"http://127.0.0.1:{port}/studies"), "connection refused"),
        (DimseDestination("pacs", "PACS", "no-such-host.invalid", 104, timeout=2), "unknown host"),
    ]
    for sender, expected in cases:
        worker = _worker(sessions, sender, Clock())
        with transaction(sessions) as session:
            for row in session.scalars(select(Delivery)):
                row.next_attempt_at = Clock()()  # due again
        worker.run_due()
        assert expected in (_rows(sessions)[0].last_error or ""), (sender, _rows(sessions)[0])


def test_an_error_status_is_permanent(outbox) -> None:
    sessions, _ = outbox
    ae = AE("REFUSER")
    for sop_class_uid in STORAGE_SOP_CLASSES:
        ae.add_supported_context(sop_class_uid)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: 0xA900)]
    )
    try:
        worker = _worker(sessions, DimseDestination("pacs", "REFUSER", "127.0.0.1", port), Clock())
        assert worker.run_due() == 0
    finally:
        server.shutdown()
    rows = _rows(sessions)
    assert [r.state for r in rows] == [DeliveryState.FAILED] * 2
    assert rows[0].last_error == "C-STORE status 0xA900" and rows[0].attempts == 1


def test_a_permanent_association_rejection_stops_retrying(outbox, tmp_path: Path) -> None:
    sessions, _ = outbox
    # a Cervi listener on a database of its own: its delivery worker must not take this outbox
    # (it has no destination "pacs" and would fail the rows as "destination not configured")
    listener = build_service(
        make_settings(f"sqlite:///{tmp_path / 'listener.db'}", tmp_path / "listener")
    )
    listener.start()
    try:
        wrong = DimseDestination("pacs", "NOT-CERVI", "127.0.0.1", listener.listener.port)
        assert _worker(sessions, wrong, Clock()).run_due() == 0
    finally:
        listener.stop()
    rows = _rows(sessions)
    assert [r.state for r in rows] == [DeliveryState.FAILED] * 2
    assert "rejected (permanent)" in (rows[0].last_error or "")


def test_stow_rs_to_orthanc_and_a_4xx_is_permanent(outbox, pacs: Orthanc) -> None:
    sessions, _ = outbox
    bad = StowDestination("pacs", f"{pacs.url}/no-such-root/studies")
    assert _worker(sessions, bad, Clock()).run_due() == 0
    assert {r.state for r in _rows(sessions)} == {DeliveryState.FAILED}

    worker = _worker(sessions, StowDestination("pacs", f"{pacs.url}/dicom-web/studies"), Clock())
    for row in _rows(sessions):
        assert worker.retry(row.id)
    assert worker.run_due() == 2
    assert len(pacs.get("/instances")) == 2


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(first_seconds=5, max_seconds=30, max_attempts=10)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_the_loop_sends_at_once_when_woken(outbox, pacs: Orthanc) -> None:
    sessions, _ = outbox
    sender = DimseDestination("pacs", "ORTHANC", "127.0.0.1", pacs.dicom_port)
    loop = DeliveryLoop(DeliveryWorker(sessions, {"pacs": sender}, POLICY), idle_seconds=3600)
    loop.start()
    try:
        loop.wake()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(pacs.get("/instances")) < 2:
            time.sleep(0.05)
    finally:
        loop.stop()
    assert [r.state for r in _rows(sessions)] == [DeliveryState.DELIVERED] * 2
