"""The retention repository: which instance files have expired, and marking them removed (the
rows, results and SRs stay).

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller; removing the files themselves is :class:`storage.files.InstanceStore`'s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.states import StudyState
from storage.tables import Instance, Study


def expired_instances(
    session: Session,
    now: datetime,
    retention_days: float,
    ignored_retention_hours: float,
    limit: int,
) -> list[Instance]:
    """Up to ``limit`` instances whose files are still there and older than ``retention_days``
    (those of ignored studies: than ``ignored_retention_hours``).

    Read through indexes that hold only what can be due, so that a run with nothing due costs
    next to nothing however long the history: ``ix_instances_files_kept`` (instances whose
    files are kept), and the ignored studies of the retention period only.
    """
    before = now - timedelta(days=retention_days)
    ignored_before = now - timedelta(hours=ignored_retention_hours)
    kept = Instance.files_removed_at.is_(None)
    expired = list(
        session.scalars(select(Instance).where(kept, Instance.received_at < before).limit(limit))
    )
    if len(expired) < limit:
        # A study's last arrival is its newest instance's: older ignored studies have nothing
        # that the first query would not have found.
        recent_ignored = select(Study.id).where(
            Study.state == StudyState.IGNORED.value, Study.last_arrival_at >= before
        )
        study_ids = list(session.scalars(recent_ignored))
        if study_ids:
            ignored = select(Instance).where(
                Instance.study_id.in_(study_ids),
                kept,
                Instance.received_at < ignored_before,
                Instance.received_at >= before,
            )
            expired += session.scalars(ignored.limit(limit - len(expired)))
    return expired


def mark_files_removed(instances: list[Instance], now: datetime) -> None:
    """Record on loaded rows that their files are gone."""
    for instance in instances:
        instance.files_removed_at = now
