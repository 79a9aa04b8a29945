"""Storage commitment reports from the destinations, recorded on the outbox.

:class:`CommitmentRecorder` is the :class:`dicom_node.commitment.CommitmentSink` that the
listener (and a sender's own association) hand each N-EVENT-REPORT to: committed instances
become ``committed``; instances the destination did not commit are sent again after the
first retry delay. Every report leaves an audit row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from cervi.delivery import RetryPolicy
from dicom_node.commitment import CommitmentReport
from storage.db import transaction
from storage.deliveries import record_report
from storage.instances import add_audit
from storage.tables import utcnow

logger = logging.getLogger("cervi.commitment")


class CommitmentRecorder:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: RetryPolicy,
        on_retry: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.on_retry = on_retry  # wakes the outbox when something is to be sent again
        self.clock = clock

    def report(self, report: CommitmentReport, calling_ae: str, peer: str) -> bool:
        now = self.clock()
        with transaction(self.sessions) as session:
            matched = record_report(
                session,
                report.transaction_uid,
                report.committed,
                report.failed,
                now,
                now + self.policy.delay(1),
            )
            if matched:
                add_audit(
                    session,
                    "commitment_report",
                    at=now,
                    calling_ae=calling_ae[:16],
                    peer=peer[:64],
                    detail=(
                        f"transaction {report.transaction_uid}: {len(report.committed)} committed,"
                        f" {len(report.failed)} failed"
                    ),
                )
        log = logger.info if not report.failed else logger.warning
        log(
            "storage commitment report",
            extra={
                "event": "commitment_report",
                "transaction_uid": report.transaction_uid,
                "committed": len(report.committed),
                "failed": len(report.failed),
                "calling_ae": calling_ae,
            },
        )
        if report.failed and matched:
            self.on_retry()
        return matched > 0
