"""The outbox worker: sends due deliveries, retries transient failures with capped exponential
backoff, stops at permanent ones. Runs as an APScheduler job; every decision is a database row,
so a restart picks up where it stopped, and a resend is harmless (SR UIDs are deterministic).
The rows are ``storage.deliveries``'; the retry policy is this module's.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydicom.uid import generate_uid
from sqlalchemy.orm import Session, sessionmaker

from cervi.settings import Destination, ListenerTlsSettings, RetrySettings
from dicom_node.commitment import CommitmentSink
from dicom_node.scu import DimseDestination, SendOutcome, StowDestination, Verdict
from dicom_node.tls import ClientTls
from storage import deliveries
from storage.db import transaction
from storage.tables import DeliveryState, utcnow

logger = logging.getLogger("cervi.delivery")


class Sender(Protocol):
    name: str
    commitment: bool  # "delivered" needs the destination's storage commitment
    commitment_timeout: float

    def send(self, files: Sequence[Path], transaction_uid: str | None = None) -> SendOutcome: ...


def make_sender(
    destination: Destination,
    calling_ae_title: str,
    node_tls: ListenerTlsSettings | None = None,
    reports: CommitmentSink | None = None,
) -> Sender:
    """The sender for one configured destination (settings validated its fields).

    A TLS destination without its own client certificate presents the listener's
    (``node.tls``), which is what a PACS requiring mutual TLS usually trusts.
    """
    if destination.kind == "stow":
        return StowDestination(destination.name, str(destination.url))
    tls = None
    if destination.tls is not None:
        certificate, key = destination.tls.certificate, destination.tls.private_key
        if certificate is None and node_tls is not None:
            certificate, key = node_tls.certificate, node_tls.private_key
        tls = ClientTls(destination.tls.ca, certificate, key, destination.tls.verify_hostname)
        tls.context()  # unreadable files stop the start (TlsConfigError), not each delivery
    return DimseDestination(
        destination.name,
        str(destination.ae_title),
        str(destination.host),
        int(destination.port or 0),
        calling_ae_title=calling_ae_title,
        tls=tls,
        commitment=destination.commitment,
        commitment_timeout=destination.commitment_timeout_seconds,
        reports=reports,
    )


@dataclass(frozen=True)
class RetryPolicy:
    first_seconds: float
    max_seconds: float
    max_attempts: int

    @classmethod
    def from_settings(cls, retry: RetrySettings) -> RetryPolicy:
        return cls(retry.first_seconds, retry.max_seconds, retry.max_attempts)

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed try: first, 2x first, 4x first, ... capped."""
        seconds = min(self.max_seconds, self.first_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=seconds)


class DeliveryWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        senders: Mapping[str, Sender],
        policy: RetryPolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.senders = senders
        self.policy = policy
        self.clock = clock

    def run_due(self) -> int:
        """Send every due delivery, one association per destination; return how many went out."""
        now = self.clock()
        with self.sessions() as session:
            due = deliveries.due(session, now)
            batches: dict[str, list[tuple[int, str]]] = defaultdict(list)
            unanswered = 0
            for row in due:
                batches[row.destination].append((row.id, row.path))
                unanswered += row.state == DeliveryState.COMMITTING.value
        if unanswered:
            logger.warning(
                "no storage commitment in time; sending again", extra={"deliveries": unanswered}
            )
        delivered = 0
        for destination, rows in batches.items():
            ids = [row_id for row_id, _ in rows]
            sender = self.senders.get(destination)
            if sender is None:
                outcome = SendOutcome(Verdict.PERMANENT, "destination not configured")
            elif sender.commitment:
                transaction_uid = generate_uid()
                with transaction(self.sessions) as session:
                    deliveries.assign_transaction(session, ids, transaction_uid)
                outcome = sender.send([Path(path) for _, path in rows], transaction_uid)
            else:
                outcome = sender.send([Path(path) for _, path in rows])
            timeout = sender.commitment_timeout if sender is not None else 0.0
            self._record(ids, outcome, destination, timeout)
            delivered += len(rows) if outcome.delivered else 0
        return delivered

    def _record(
        self, ids: list[int], outcome: SendOutcome, destination: str, commitment_timeout: float
    ) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            deliveries.record_attempt(
                session,
                ids,
                delivered=outcome.verdict is Verdict.DELIVERED,
                permanent=outcome.verdict is Verdict.PERMANENT,
                detail=outcome.detail,
                now=now,
                max_attempts=self.policy.max_attempts,
                delay=self.policy.delay,
                commitment_wait=(
                    timedelta(seconds=commitment_timeout) if outcome.commitment_requested else None
                ),
            )
        log = logger.info if outcome.delivered else logger.warning
        log(
            "delivery %s",
            outcome.verdict.value,
            extra={"destination": destination, "deliveries": len(ids), "detail": outcome.detail},
        )

    def retry(self, delivery_id: int) -> bool:
        """Make a failed or waiting delivery due now (the API's retry); False if unknown."""
        with transaction(self.sessions) as session:
            return deliveries.make_due(session, delivery_id, self.clock())


class DeliveryLoop:
    """Runs :meth:`DeliveryWorker.run_due` on its own thread: at once when :meth:`wake` is
    called (a new SR was queued), else when the next retry is due, else every ``idle_seconds``.

    A thread with an event rather than a scheduler job: a wake-up that arrives while a run is
    in flight must not be dropped, or a result would wait for the next periodic run.
    """

    def __init__(self, worker: DeliveryWorker, idle_seconds: float = 30.0) -> None:
        self.worker = worker
        self.idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cervi-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.worker.run_due() and not self._stop.is_set():
                    pass  # more may have become due while sending
            except Exception:
                logger.exception("delivery run failed; retrying later")
            self._wake.wait(self._seconds_to_next())

    def _seconds_to_next(self) -> float:
        try:
            with self.worker.sessions() as session:
                due = deliveries.next_due(session)
        except Exception:
            return self.idle_seconds
        if due is None:
            return self.idle_seconds
        wait = (due - self.worker.clock()).total_seconds()
        return min(self.idle_seconds, max(0.0, wait))
