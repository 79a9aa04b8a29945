"""Storage commitment on delivery against a pynetdicom PACS that answers as told: commits,
refuses, or never answers. Its reports go to Cervi's running listener on a new association
(the PACS in the SCP role), the way PACS usually send them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydicom import Dataset
from pynetdicom import AE, evt
from pynetdicom.presentation import build_role
from pynetdicom.sop_class import StorageCommitmentPushModel, StorageCommitmentPushModelInstance
from sqlalchemy import select

from cervi.api import create_app
from cervi.bootstrap import Service, build_service
from cervi.delivery import DeliveryWorker, RetryPolicy
from cervi.settings import Settings
from dicom_node.commitment import COMMITTED, FAILURES_EXIST, CommitmentReport
from dicom_node.scu import DimseDestination
from dicom_node.sop import STORAGE_SOP_CLASSES
from storage import deliveries
from storage.db import transaction
from storage.tables import AuditEvent, Delivery, DeliveryState, Result, Study
from tests.integration.conftest import make_settings
from tests.support.dicom import make_dx, write
from tests.support.net import free_port

POLICY = RetryPolicy(first_seconds=5, max_seconds=60, max_attempts=3)


# Far ahead of the real clock: the service's own delivery worker on the same database never finds
# the rows these tests queue due; only the test's worker, on its hand-moved clock, sends them.
START = datetime(2100, 1, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class FakePacs:
    """Takes C-STORE and N-ACTION; then reports ``answer`` ("commit", "refuse" or "silent")
    to Cervi's listener on a new association."""

    def __init__(self, cervi_port: int, answer: str, commitment: bool = True) -> None:
        self.cervi_port = cervi_port
        self.answer = answer
        self.requests: list[Dataset] = []
        self.report_statuses: list[int] = []
        ae = AE("FAKEPACS")
        for uid in STORAGE_SOP_CLASSES:
            ae.add_supported_context(uid)
        if commitment:
            ae.add_supported_context(StorageCommitmentPushModel)
        self.port = free_port()
        self._server = ae.start_server(
            ("127.0.0.1", self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_C_STORE, lambda event: 0x0000),
                (evt.EVT_N_ACTION, self._n_action),
            ],
        )

    def _n_action(self, event) -> tuple[int, None]:
        request = event.action_information
        self.requests.append(request)
        if self.answer != "silent":
            threading.Thread(target=self._report, args=(request,), daemon=True).start()
        return 0x0000, None

    def _report(self, request: Dataset) -> None:
        time.sleep(0.2)  # after the requesting association has been released
        info = Dataset()
        info.TransactionUID = request.TransactionUID
        items = list(request.ReferencedSOPSequence)
        if self.answer == "commit":
            info.ReferencedSOPSequence, event_type = items, COMMITTED
        else:
            for item in items:
                item.FailureReason = 0x0112
            info.FailedSOPSequence, event_type = items, FAILURES_EXIST
        ae = AE("FAKEPACS")
        ae.add_requested_context(StorageCommitmentPushModel)
        role = build_role(StorageCommitmentPushModel, scp_role=True)
        assoc = ae.associate("127.0.0.1", self.cervi_port, ae_title="CERVI", ext_neg=[role])
        if assoc.is_established:
            status, _ = assoc.send_n_event_report(
                info, event_type, StorageCommitmentPushModel, StorageCommitmentPushModelInstance
            )
            self.report_statuses.append(int(getattr(status, "Status", -1)))
            assoc.release()
        else:
            self.report_statuses.append(-2)

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def cervi(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """Cervi with a commitment destination (so its listener takes reports); the destination's
    port is replaced per test by a worker of its own."""
    data = make_settings(database_url, tmp_path).model_dump()
    data["results"]["destinations"] = [
        {"name": "pacs", "ae_title": "FAKEPACS", "host": "127.0.0.1", "port": 1, "commitment": True}
    ]
    settings = Settings.model_validate(data)
    running = build_service(settings)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _queue(service: Service, tmp_path: Path, n: int = 2) -> list[str]:
    uids = []
    with transaction(service.sessions) as session:
        study = Study(study_uid="1.2.826.0.1.3680043.10.1434.99", patient_id="P")
        session.add(study)
        session.flush()
        result = Result(study_id=study.id, version=1, outcome="analysed")
        session.add(result)
        session.flush()
        for i in range(n):
            ds = make_dx(seed=i)
            path = write(ds, tmp_path / "out" / f"{i}.dcm")
            deliveries.queue(session, result.id, "pacs", ds.SOPInstanceUID, str(path), START)
            uids.append(ds.SOPInstanceUID)
    return uids


def _worker(service: Service, pacs: FakePacs, clock: Clock, timeout: float = 60) -> DeliveryWorker:
    sender = DimseDestination(
        "pacs", "FAKEPACS", "127.0.0.1", pacs.port,
        commitment=True, commitment_timeout=timeout,
    )  # fmt: skip
    return DeliveryWorker(service.sessions, {"pacs": sender}, POLICY, clock=clock)


async def _get(service: Service, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://cervi") as client:
        return await client.get(path)


def _rows(service: Service) -> list[Delivery]:
    with service.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def _wait_for(service: Service, state: str, timeout: float = 15) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _rows(service)
        if all(r.state == state for r in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"deliveries not {state}: {[r.state for r in _rows(service)]}")


def test_delivery_is_committed_only_when_the_pacs_confirms(cervi: Service, tmp_path: Path) -> None:
    _queue(cervi, tmp_path)
    pacs = FakePacs(cervi.listener.port, "commit")
    try:
        clock = Clock()
        assert _worker(cervi, pacs, clock).run_due() == 2
        rows = _wait_for(cervi, DeliveryState.COMMITTED)
    finally:
        pacs.stop()
    assert pacs.report_statuses == [0x0000]
    assert {r.transaction_uid for r in rows} == {str(pacs.requests[0].TransactionUID)}
    assert all(r.committed_at is not None for r in rows)
    with cervi.sessions() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.kind == "commitment_report"))
        assert [a.calling_ae for a in audit] == ["FAKEPACS"]
    detail = asyncio.run(_get(cervi, "/api/v1/studies/1.2.826.0.1.3680043.10.1434.99"))
    assert detail.status_code == 200
    listed = detail.json()["results"][0]["deliveries"]
    assert [d["state"] for d in listed] == ["committed", "committed"]
    assert all(d["committed_at"] for d in listed)


def test_a_refused_commitment_is_sent_again(cervi: Service, tmp_path: Path) -> None:
    _queue(cervi, tmp_path)
    pacs = FakePacs(cervi.listener.port, "refuse")
    try:
        clock = Clock()
        worker = _worker(cervi, pacs, clock)
        worker.run_due()
        rows = _wait_for(cervi, DeliveryState.PENDING)
        assert all("0x0112" in (r.last_error or "") for r in rows)
        pacs.answer = "commit"
        clock.now = max(r.next_attempt_at for r in rows)
        assert worker.run_due() == 2
        _wait_for(cervi, DeliveryState.COMMITTED)
    finally:
        pacs.stop()
    assert len(pacs.requests) == 2
    assert pacs.requests[0].TransactionUID != pacs.requests[1].TransactionUID


def test_no_answer_in_time_sends_again_and_then_gives_up(cervi: Service, tmp_path: Path) -> None:
    _queue(cervi, tmp_path, n=1)
    pacs = FakePacs(cervi.listener.port, "silent")
    try:
        clock = Clock()
        worker = _worker(cervi, pacs, clock, timeout=30)
        worker.run_due()
        (row,) = _rows(cervi)
        assert row.state == DeliveryState.COMMITTING and row.attempts == 1
        assert row.next_attempt_at == clock.now + timedelta(seconds=30)
        assert worker.run_due() == 0  # not due before the deadline
        for attempt in (2, 3):
            clock.now += timedelta(seconds=30)
            worker.run_due()
            (row,) = _rows(cervi)
            assert row.attempts == attempt and "no answer within 30 s" in row.last_error
        assert row.state == DeliveryState.FAILED  # max_attempts = 3
    finally:
        pacs.stop()
    assert len(pacs.requests) == 3


def test_a_report_for_an_unknown_transaction_is_refused(cervi: Service) -> None:
    assert not cervi.listener.commitment.report(
        CommitmentReport("1.2.3.4", ("1.2.3.4.5",), ()), "X", "127.0.0.1"
    )


def test_a_pacs_without_storage_commitment_fails_for_good(cervi: Service, tmp_path: Path) -> None:
    _queue(cervi, tmp_path, n=1)
    pacs = FakePacs(cervi.listener.port, "commit", commitment=False)
    try:
        assert _worker(cervi, pacs, Clock()).run_due() == 0
    finally:
        pacs.stop()
    (row,) = _rows(cervi)
    assert row.state == DeliveryState.FAILED
    assert row.last_error == "destination refuses Storage Commitment"
