"""The results database: SQLAlchemy 2.0 typed tables (the README, "Using the results").

The schema itself is owned by the Alembic migrations in ``storage/migrations``; these classes
must stay in step with them (``tests/integration/test_storage.py`` checks that they do).
Study states and their moves live in :mod:`storage.states`; the view values are
:class:`inference.labels.View` (the one vocabulary module every layer shares).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from inference.labels import View
from storage.states import StudyState

__all__ = [
    "AuditEvent",
    "Base",
    "Delivery",
    "DeliveryState",
    "Dispatch",
    "DomainScore",
    "Finding",
    "Instance",
    "Region",
    "Result",
    "Study",
    "StudyState",
    "UtcDateTime",
    "View",
    "utcnow",
]

UID = String(64)


def header_text(vr_length: int) -> String:
    """A column for a header value: the DICOM VR's length is declared, but a sender may exceed
    it, and the value is kept whole on every engine (TEXT on PostgreSQL; SQLite does not
    enforce declared lengths). Migration 0007."""
    return String(vr_length).with_variant(Text(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    COMMITTING = "committing"  # stored; waiting for the destination's storage commitment
    COMMITTED = "committed"  # the destination confirmed it keeps the instance
    FAILED = "failed"


class Base(DeclarativeBase):
    pass


# Partial index predicates, written once: migration 0008 has the same text (a migration is a
# snapshot and does not import), and the queries that use the indexes repeat their terms.
UNREPORTED = "reported_version < result_version AND group_id IS NULL"
FILES_KEPT = "files_removed_at IS NULL"


def _partial(name: str, predicate: str, *columns: str) -> Index:
    where = text(predicate)
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (
        Index("ix_studies_arrival", "last_arrival_at", "id"),
        Index("ix_studies_state_arrival", "state", "last_arrival_at", "id"),
        Index("ix_studies_patient_id", "patient_id", "last_arrival_at"),
        Index("ix_studies_study_date", "study_date", "last_arrival_at"),
        Index("ix_studies_accession_number", "accession_number"),
        Index("ix_studies_updated_at", "updated_at", "id"),
        Index("ix_studies_latest_result_id", "latest_result_id", "last_arrival_at"),
        _partial("ix_studies_unreported", UNREPORTED, "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_uid: Mapped[str] = mapped_column(UID, unique=True)
    patient_id: Mapped[str] = mapped_column(header_text(64))
    accession_number: Mapped[str | None] = mapped_column(header_text(16))
    study_date: Mapped[str | None] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default=StudyState.RECEIVING)
    state_reason: Mapped[str | None] = mapped_column(Text)
    # The version of the newest result asked for; each is dispatched once (table dispatches).
    result_version: Mapped[int] = mapped_column(default=0)
    last_arrival_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # With assembly.study_key: patient_window, the study whose row carries this group's state.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), index=True)
    # The newest result and its version, kept by a trigger on results (migration 0008).
    latest_result_id: Mapped[int | None]
    reported_version: Mapped[int] = mapped_column(default=0, server_default="0")

    instances: Mapped[list[Instance]] = relationship(back_populates="study")
    results: Mapped[list[Result]] = relationship(back_populates="study")


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        _partial("ix_instances_files_kept", FILES_KEPT, "received_at"),
        _partial("ix_instances_files_kept_by_study", FILES_KEPT, "study_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    sop_class_uid: Mapped[str] = mapped_column(UID)
    series_uid: Mapped[str] = mapped_column(UID)
    transfer_syntax_uid: Mapped[str] = mapped_column(UID)
    modality: Mapped[str | None] = mapped_column(header_text(16))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    view: Mapped[str] = mapped_column(String(16), default=View.UNKNOWN)
    view_rule: Mapped[str | None] = mapped_column(String(64))
    superseded: Mapped[bool] = mapped_column(default=False)
    # Set by study assembly: when it looked at the instance, and why it was not taken (if not).
    assembled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    ignored_reason: Mapped[str | None] = mapped_column(Text)
    header: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    calling_ae: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    files_removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    study: Mapped[Study] = relationship(back_populates="instances")


class Dispatch(Base):
    """One result version of a study handed on: to analysis (maybe partial) or as not analysed.

    The unique (study, version) index makes a second hand-off of the same version impossible.
    """

    __tablename__ = "dispatches"
    __table_args__ = (Index("ix_dispatches_study_version", "study_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    partial: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    views: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trigger: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Result(Base):
    __tablename__ = "results"
    __table_args__ = (Index("ix_results_study_version", "study_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    version: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    # storage.states.NotAnalysedReason of a not_analysed outcome
    reason_code: Mapped[str | None] = mapped_column(String(32))
    model_name: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    views_used: Mapped[list[str]] = mapped_column(JSON, default=list)
    latency_ms: Mapped[float | None]
    sr_sop_instance_uid: Mapped[str | None] = mapped_column(UID)
    sr_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    study: Mapped[Study] = relationship(back_populates="results")
    findings: Mapped[list[Finding]] = relationship(back_populates="result")
    regions: Mapped[list[Region]] = relationship(back_populates="result")
    measurements: Mapped[list[MeasurementRow]] = relationship(back_populates="result")
    domain_scores: Mapped[list[DomainScore]] = relationship(back_populates="result")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="result")


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_label_probability", "label", "probability", "result_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float]
    threshold: Mapped[float]
    present: Mapped[bool]

    result: Mapped[Result] = relationship(back_populates="findings")


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(UID)
    view: Mapped[str] = mapped_column(String(16))
    x0: Mapped[float]
    y0: Mapped[float]
    x1: Mapped[float]
    y1: Mapped[float]
    landmarks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    result: Mapped[Result] = relationship(back_populates="regions")


class MeasurementRow(Base):
    """One measurement of a result: per view (``scope`` "view", ``view`` set) or for the
    study (``scope`` "study"; ``view`` is the view it is read on, if one). ``lines``: the
    polylines it is measured between, in pixels of ``sop_instance_uid`` (the view's image)."""

    __tablename__ = "measurements"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))  # e.g. "adi_mm"
    scope: Mapped[str] = mapped_column(String(8))  # "view" | "study"
    view: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[float]
    unit: Mapped[str] = mapped_column(String(16))  # UCUM: "mm", "deg"
    sop_instance_uid: Mapped[str | None] = mapped_column(UID)
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)

    result: Mapped[Result] = relationship(back_populates="measurements")


class DomainScore(Base):
    """The model's domain gate on one view of a result: distance from the training domain
    (null where it is not finite), the model's threshold, and the decision."""

    __tablename__ = "domain_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(UID)
    view: Mapped[str] = mapped_column(String(16))
    distance: Mapped[float | None]
    threshold: Mapped[float]
    in_domain: Mapped[bool]

    result: Mapped[Result] = relationship(back_populates="domain_scores")


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    sop_instance_uid: Mapped[str] = mapped_column(UID)
    path: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transaction_uid: Mapped[str | None] = mapped_column(UID, index=True)
    committed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    result: Mapped[Result] = relationship(back_populates="deliveries")


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    calling_ae: Mapped[str | None] = mapped_column(String(16))
    peer: Mapped[str | None] = mapped_column(String(64))
    study_uid: Mapped[str | None] = mapped_column(UID)
    sop_instance_uid: Mapped[str | None] = mapped_column(UID)
    status: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(64))


class MetricCount(Base):
    """A metric's folded total per label; triggers append changes to :class:`MetricDelta`."""

    __tablename__ = "metric_counts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float]


class MetricDelta(Base):
    """One change to a metric, written by a trigger (migration 0009), folded in later."""

    __tablename__ = "metric_deltas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    delta: Mapped[float]
