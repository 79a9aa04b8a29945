"""The retention repository: which instance files have expired, and marking them removed (the
rows, results and SRs stay).

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller; removing the files themselves is :class:`storage.files.InstanceStore`'s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
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
    (those of ignored studies: than ``ignored_retention_hours``)."""
    expired = Instance.received_at < now - timedelta(days=retention_days)
    ignored_expired = (Study.state == StudyState.IGNORED.value) & (
        Instance.received_at < now - timedelta(hours=ignored_retention_hours)
    )
    query = (
        select(Instance)
        .join(Study, Study.id == Instance.study_id)
        .where(Instance.files_removed_at.is_(None), or_(expired, ignored_expired))
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def mark_files_removed(instances: list[Instance], now: datetime) -> None:
    """Record on loaded rows that their files are gone."""
    for instance in instances:
        instance.files_removed_at = now
