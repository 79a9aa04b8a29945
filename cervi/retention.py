"""Retention: instance files go after ``storage.retention_days`` (those of ignored studies after
``storage.ignored_retention_hours``); rows, results and SRs stay. Runs as a scheduler job."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.files import InstanceStore
from storage.repository import expired_instances
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
    before = now - timedelta(days=retention_days)
    ignored_before = now - timedelta(hours=ignored_retention_hours)
    removed = 0
    while True:
        with transaction(sessions) as session:
            batch = expired_instances(session, before, ignored_before, BATCH)
            for instance in batch:
                files.remove(instance.path)
                instance.files_removed_at = now
        removed += len(batch)
        if len(batch) < BATCH:
            break
    if removed:
        logger.info("instance files removed by retention", extra={"files": removed})
    return removed
