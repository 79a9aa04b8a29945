"""The read side of the results database: what the HTTP API, the CLI (``cervi results``,
``cervi studies``) and exports show.

Plain dictionaries out (JSON-ready), one function per question, filters as one dataclass so
that the API and the CLI offer exactly the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session

from storage.tables import Delivery, Finding, Instance, MeasurementRow, Region, Result, Study


@dataclass(frozen=True)
class StudyFilter:
    patient_id: str | None = None
    accession_number: str | None = None
    date_from: str | None = None  # YYYYMMDD, inclusive
    date_to: str | None = None
    state: str | None = None
    finding: str | None = None  # a label key present in the latest result
    min_probability: float | None = None  # of ``finding`` if given, else of any label
    model_version: str | None = None
    limit: int = 50
    offset: int = 0


def _latest_results() -> Any:
    """Subquery: the newest result version of each study."""
    return (
        select(Result.study_id, func.max(Result.version).label("version"))
        .group_by(Result.study_id)
        .subquery()
    )


def _filtered(query: Select, where: StudyFilter) -> Select:
    latest = _latest_results()
    query = query.outerjoin(latest, latest.c.study_id == Study.id).outerjoin(
        Result, and_(Result.study_id == Study.id, Result.version == latest.c.version)
    )
    if where.patient_id:
        query = query.where(Study.patient_id == where.patient_id)
    if where.accession_number:
        query = query.where(Study.accession_number == where.accession_number)
    if where.date_from:
        query = query.where(Study.study_date >= where.date_from)
    if where.date_to:
        query = query.where(Study.study_date <= where.date_to)
    if where.state:
        query = query.where(Study.state == where.state)
    if where.model_version:
        query = query.where(Result.model_version == where.model_version)
    if where.finding or where.min_probability is not None:
        conditions = [Finding.result_id == Result.id]
        if where.finding:
            conditions.append(Finding.label == where.finding)
            if where.min_probability is None:
                conditions.append(Finding.present.is_(True))
        if where.min_probability is not None:
            conditions.append(Finding.probability >= where.min_probability)
        query = query.where(exists().where(*conditions))
    return query


def list_studies(session: Session, where: StudyFilter) -> tuple[int, list[dict[str, Any]]]:
    """``(total matching, one page of study summaries)``, newest arrivals first."""
    total = session.scalar(_filtered(select(func.count(Study.id)), where)) or 0
    page = _filtered(select(Study, Result), where).order_by(
        Study.last_arrival_at.desc(), Study.id.desc()
    )
    rows = session.execute(page.limit(where.limit).offset(where.offset)).all()
    return total, [_summary(session, study, result) for study, result in rows]


def _summary(session: Session, study: Study, result: Result | None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "study_uid": study.study_uid,
        "patient_id": study.patient_id,
        "accession_number": study.accession_number,
        "study_date": study.study_date,
        "state": study.state,
        "state_reason": study.state_reason,
        "last_arrival_at": study.last_arrival_at.isoformat(),
        "result": None,
    }
    if result is not None:
        summary["result"] = result_dict(session, result, with_details=False)
    return summary


def result_dict(session: Session, result: Result, with_details: bool = True) -> dict[str, Any]:
    findings = session.execute(
        select(Finding).where(Finding.result_id == result.id).order_by(Finding.id)
    ).scalars()
    data: dict[str, Any] = {
        "version": result.version,
        "outcome": result.outcome,
        "reason": result.reason,
        "model_name": result.model_name,
        "model_version": result.model_version,
        "views_used": list(result.views_used or []),
        "created_at": result.created_at.isoformat(),
        "findings": [
            {
                "label": f.label,
                "probability": f.probability,
                "threshold": f.threshold,
                "present": f.present,
            }
            for f in findings
        ],
        "measurements": [
            {
                "name": m.name,
                "scope": m.scope,
                "view": m.view,
                "value": m.value,
                "unit": m.unit,
            }
            | ({"lines": m.lines or []} if with_details else {})
            for m in session.execute(
                select(MeasurementRow)
                .where(MeasurementRow.result_id == result.id)
                .order_by(MeasurementRow.id)
            ).scalars()
        ],
    }
    if with_details:
        data["model_sha256"] = result.model_sha256
        data["latency_ms"] = result.latency_ms
        data["sr_sop_instance_uid"] = result.sr_sop_instance_uid
        data["regions"] = [
            {
                "view": r.view,
                "sop_instance_uid": r.sop_instance_uid,
                "box": [r.x0, r.y0, r.x1, r.y1],
                "landmarks": r.landmarks or {},
            }
            for r in session.execute(
                select(Region).where(Region.result_id == result.id).order_by(Region.id)
            ).scalars()
        ]
        data["deliveries"] = [
            delivery_dict(d)
            for d in session.execute(
                select(Delivery).where(Delivery.result_id == result.id).order_by(Delivery.id)
            ).scalars()
        ]
    return data


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
    detail = _summary(session, study, None)
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
    detail["results"] = [
        result_dict(session, r)
        for r in session.execute(
            select(Result).where(Result.study_id == study.id).order_by(Result.version.desc())
        ).scalars()
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
    """One line of ``cervi studies``: no patient data, only identifiers and assembly state."""

    study_uid: str
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
