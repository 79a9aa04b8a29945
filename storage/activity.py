"""The operator's read side: what arrived, what went out, what was refused.

Plain dictionaries out (ready for a template or JSON), newest first, one query per question
(no query per row), so that a console page polled every few seconds stays cheap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.detail import delivery_dict
from storage.tables import AuditEvent, Delivery, Instance, Result, Study

#: Audit kinds that record something done, not something refused.
NOT_REFUSALS = ("instance_replaced", "api_reprocess", "api_delivery_retry")


def recent_arrivals(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The newest received instances with their study, the view assembly gave each and why."""
    rows = session.execute(
        select(Instance, Study.study_uid, Study.state)
        .join(Study, Study.id == Instance.study_id)
        .order_by(Instance.received_at.desc(), Instance.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "received_at": instance.received_at.isoformat(),
            "study_uid": study_uid,
            "study_state": state,
            "sop_instance_uid": instance.sop_instance_uid,
            "modality": instance.modality,
            "calling_ae": instance.calling_ae,
            "view": instance.view,
            "view_rule": instance.view_rule,
            "assembled": instance.assembled_at is not None,
            "ignored_reason": instance.ignored_reason,
        }
        for instance, study_uid, state in rows
    ]


def views_by_study(session: Session, study_uids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """For each study: the instances assembly took, with their view and the rule that named it."""
    if not study_uids:
        return {}
    rows = session.execute(
        select(Study.study_uid, Instance.view, Instance.view_rule, Instance.superseded)
        .join(Study, Study.id == Instance.study_id)
        .where(Study.study_uid.in_(list(study_uids)), Instance.ignored_reason.is_(None))
        .order_by(Instance.id)
    ).all()
    views: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for study_uid, view, rule, superseded in rows:
        views[study_uid].append({"view": view, "rule": rule, "superseded": superseded})
    return dict(views)


def list_deliveries(
    session: Session, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Deliveries, newest first, with the study and result version each carries."""
    query = (
        select(Delivery, Result.version, Study.study_uid)
        .join(Result, Result.id == Delivery.result_id)
        .join(Study, Study.id == Result.study_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if state:
        query = query.where(Delivery.state == state)
    return [
        delivery_dict(delivery) | {"version": version, "study_uid": study_uid}
        for delivery, version, study_uid in session.execute(query).all()
    ]


def list_refusals(
    session: Session, kind: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Audited refusals (rejected associations, refused instances), newest first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    query = query.where(AuditEvent.kind.not_in(NOT_REFUSALS))
    if kind:
        query = query.where(AuditEvent.kind == kind)
    return [
        {
            "at": event.at.isoformat(),
            "kind": event.kind,
            "calling_ae": event.calling_ae,
            "peer": event.peer,
            "status": f"0x{event.status:04X}" if event.status is not None else None,
            "study_uid": event.study_uid,
            "sop_instance_uid": event.sop_instance_uid,
            "detail": event.detail,
            "actor": event.actor,
        }
        for event in session.execute(query).scalars()
    ]


def refusal_kinds(session: Session) -> list[str]:
    """The refusal kinds seen so far (for the console's filter)."""
    query = select(AuditEvent.kind).where(AuditEvent.kind.not_in(NOT_REFUSALS)).distinct()
    return sorted(session.execute(query).scalars())
