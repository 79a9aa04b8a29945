"""The read side of one study: its detail with result versions, findings, measurements,
regions, domain scores and deliveries (the API's study page, the console), its SR file, and the
assembly overview ``cervi studies`` prints. Lists, filters and exports are in
:mod:`storage.queries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.queries import _by_result, _findings, _result, _summary
from storage.tables import (
    Delivery,
    DomainScore,
    Instance,
    MeasurementRow,
    Region,
    Result,
    Study,
)


def _result_detail(
    result: Result,
    findings: list[Any],
    measurements: list[MeasurementRow],
    regions: list[Region],
    domain: list[DomainScore],
    deliveries: list[Delivery],
) -> dict[str, Any]:
    return _result(result, findings, measurements, lines=True) | {
        "model_sha256": result.model_sha256,
        "latency_ms": result.latency_ms,
        "sr_sop_instance_uid": result.sr_sop_instance_uid,
        "regions": [
            {
                "view": r.view,
                "sop_instance_uid": r.sop_instance_uid,
                "box": [r.x0, r.y0, r.x1, r.y1],
                "landmarks": r.landmarks or {},
            }
            for r in regions
        ],
        "domain": [
            {
                "view": d.view,
                "sop_instance_uid": d.sop_instance_uid,
                "distance": d.distance,
                "threshold": d.threshold,
                "in_domain": d.in_domain,
            }
            for d in domain
        ],
        "deliveries": [delivery_dict(d) for d in deliveries],
    }


def delivery_dict(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "destination": delivery.destination,
        "sop_instance_uid": delivery.sop_instance_uid,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "last_error": delivery.last_error,
        "delivered_at": _iso(delivery.delivered_at),
        "committed_at": _iso(delivery.committed_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def study_detail(session: Session, study_uid: str) -> dict[str, Any] | None:
    """Everything known of one study: instances with their views, every result version."""
    study = session.execute(select(Study).where(Study.study_uid == study_uid)).scalar_one_or_none()
    if study is None:
        return None
    detail = _summary(study, None)
    del detail["result"]
    detail["due_at"] = _iso(study.due_at)
    detail["instances"] = [
        {
            "sop_instance_uid": i.sop_instance_uid,
            "series_uid": i.series_uid,
            "sop_class_uid": i.sop_class_uid,
            "view": i.view,
            "view_rule": i.view_rule,
            "superseded": i.superseded,
            "received_at": i.received_at.isoformat(),
        }
        for i in session.execute(
            select(Instance).where(Instance.study_id == study.id).order_by(Instance.id)
        ).scalars()
    ]
    results = list(
        session.execute(
            select(Result).where(Result.study_id == study.id).order_by(Result.version.desc())
        ).scalars()
    )
    ids = [r.id for r in results]
    findings = _findings(session, ids)
    measurements = _by_result(session, MeasurementRow, ids)
    regions = _by_result(session, Region, ids)
    domain = _by_result(session, DomainScore, ids)
    deliveries = _by_result(session, Delivery, ids)
    detail["results"] = [
        _result_detail(
            r, findings[r.id], measurements[r.id], regions[r.id], domain[r.id], deliveries[r.id]
        )
        for r in results
    ]
    return detail


def sr_path(session: Session, study_uid: str, version: int | None = None) -> str | None:
    """Path of the SR of the newest (or the given) result version of a study."""
    query = (
        select(Result.sr_path)
        .join(Study, Study.id == Result.study_id)
        .where(Study.study_uid == study_uid, Result.sr_path.is_not(None))
    )
    if version is not None:
        query = query.where(Result.version == version)
    return session.execute(query.order_by(Result.version.desc()).limit(1)).scalar_one_or_none()


@dataclass(frozen=True)
class ViewFound:
    view: str
    rule: str | None
    sop_instance_uid: str
    superseded: bool


@dataclass(frozen=True)
class StudyOverview:
    """One line of ``cervi studies``: the identifiers people look studies up by (no names),
    and the assembly state."""

    study_uid: str
    patient_id: str
    accession_number: str | None
    state: str
    reason: str | None
    version: int
    due_at: datetime | None
    group_uid: str | None
    views: list[ViewFound]
    ignored: int


def study_overview(
    session: Session, state: str | None = None, limit: int = 50
) -> list[StudyOverview]:
    """The most recently changed studies with the views assembly found in them."""
    query = select(Study).order_by(Study.updated_at.desc(), Study.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Study.state == state)
    studies = list(session.scalars(query))
    groups = {
        s.id: s.study_uid
        for s in session.scalars(
            select(Study).where(
                Study.id.in_([s.group_id for s in studies if s.group_id is not None])
            )
        )
    }
    lines = []
    for study in studies:
        instances = session.scalars(
            select(Instance).where(Instance.study_id == study.id).order_by(Instance.id)
        ).all()
        views = [
            ViewFound(i.view, i.view_rule, i.sop_instance_uid, i.superseded)
            for i in instances
            if i.assembled_at is not None and i.ignored_reason is None
        ]
        ignored = sum(1 for i in instances if i.ignored_reason is not None)
        lines.append(
            StudyOverview(
                study.study_uid,
                study.patient_id,
                study.accession_number,
                study.state,
                study.state_reason,
                study.result_version,
                study.due_at,
                groups.get(study.group_id) if study.group_id else None,
                views,
                ignored,
            )
        )
    return lines
