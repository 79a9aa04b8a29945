"""The instances repository: received instances, their studies' rows, and the audit trail.

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller, so that several steps share one transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.tables import (
    AuditEvent,
    Instance,
    Study,
    StudyState,
    utcnow,
)


class Recorded(enum.StrEnum):
    NEW = "new"
    SAME = "same"
    REPLACED = "replaced"


@dataclass(frozen=True)
class InstanceRecord:
    """A durable instance file and the header facts kept about it."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    patient_id: str
    path: str
    sha256: str
    size: int
    accession_number: str | None = None
    study_date: str | None = None
    modality: str | None = None
    calling_ae: str | None = None
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordOutcome:
    recorded: Recorded
    instance_id: int
    study_id: int
    replaced_path: str | None = None


def instance_digest(session: Session, sop_instance_uid: str) -> tuple[str, str] | None:
    """``(sha256, path)`` of a stored instance, or None."""
    row = session.execute(
        select(Instance.sha256, Instance.path).where(Instance.sop_instance_uid == sop_instance_uid)
    ).first()
    return (row.sha256, row.path) if row else None


def ensure_study(session: Session, record: InstanceRecord, now: datetime) -> Study:
    """The study row for ``record``, created if missing (safe under concurrent inserts)."""
    study = session.execute(
        select(Study).where(Study.study_uid == record.study_uid)
    ).scalar_one_or_none()
    if study is not None:
        return study
    values = {
        "study_uid": record.study_uid,
        "patient_id": record.patient_id,
        "accession_number": record.accession_number,
        "study_date": record.study_date,
        "state": StudyState.RECEIVING.value,
        "result_version": 0,
        "last_arrival_at": now,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Study).values(**values).on_conflict_do_nothing(index_elements=["study_uid"])
    )
    return session.execute(select(Study).where(Study.study_uid == record.study_uid)).scalar_one()


def record_instance(
    session: Session, record: InstanceRecord, now: datetime | None = None
) -> RecordOutcome:
    """Insert or replace the row of ``record``; a changed copy re-opens its study and is audited."""
    now = now or utcnow()
    study = ensure_study(session, record, now)
    study.last_arrival_at = now
    existing = session.execute(
        select(Instance).where(Instance.sop_instance_uid == record.sop_instance_uid)
    ).scalar_one_or_none()

    if existing is not None and existing.sha256 == record.sha256:
        return RecordOutcome(Recorded.SAME, existing.id, existing.study_id)

    if existing is None:
        instance = Instance(sop_instance_uid=record.sop_instance_uid, received_at=now)
        session.add(instance)
        replaced_path = None
    else:
        instance, replaced_path = existing, existing.path
    instance.study_id = study.id
    instance.series_uid = record.series_uid
    instance.sop_class_uid = record.sop_class_uid
    instance.transfer_syntax_uid = record.transfer_syntax_uid
    instance.modality = record.modality
    instance.path = record.path
    instance.sha256 = record.sha256
    instance.size = record.size
    instance.header = record.header
    instance.calling_ae = record.calling_ae
    instance.received_at = now
    instance.files_removed_at = None

    if existing is not None:
        # Study assembly looks at the changed copy again and re-opens the study only if the
        # copy is taken (Cervi's own SR sent back changed must not start a new version).
        instance.assembled_at = None
        instance.ignored_reason = None
        instance.superseded = False
        session.add(
            AuditEvent(
                at=now,
                kind="instance_replaced",
                calling_ae=record.calling_ae,
                study_uid=record.study_uid,
                sop_instance_uid=record.sop_instance_uid,
                detail=f"sha256 {existing.sha256[:16]} -> {record.sha256[:16]}",
            )
        )
    session.flush()
    recorded = Recorded.NEW if existing is None else Recorded.REPLACED
    return RecordOutcome(recorded, instance.id, study.id, replaced_path)


def add_audit(session: Session, kind: str, **fields: Any) -> None:
    session.add(AuditEvent(kind=kind, **fields))
