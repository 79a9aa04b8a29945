"""Retention: instance files go after ``storage.retention_days`` (those of ignored studies after
``storage.ignored_retention_hours``); rows, results and SRs stay. Runs as a scheduler job; which
files have expired is :mod:`storage.retention`'s question."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from storage import retention
from storage.db import transaction
from storage.files import InstanceStore
from storage.tables import utcnow

logger = logging.getLogger("cervi.retention")

BATCH = 500


def apply_retention(
    sessions: sessionmaker[Session],
    files: InstanceStore,
    retention_days: float,
    ignored_retention_hours: float,
    now: datetime | None = None,
) -> int:
    """Remove expired instance files and mark their rows; return how many files went."""
    now = now or utcnow()
    removed = 0
    while True:
        with transaction(sessions) as session:
            batch = retention.expired_instances(
                session, now, retention_days, ignored_retention_hours, BATCH
            )
            for instance in batch:
                files.remove(instance.path)
            retention.mark_files_removed(batch, now)
        removed += len(batch)
        if len(batch) < BATCH:
            break
    if removed:
        logger.info("instance files removed by retention", extra={"files": removed})
    return removed
