"""What ``GET /metrics`` counts, read from the results database at scrape time so that every
process and restart reports the same numbers (the formatting is ``cervi.metrics``')."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from storage.tables import AuditEvent, Delivery, Instance, Result, Study


@dataclass(frozen=True)
class Latency:
    """Analysis latency in ms: ``cumulative[i]`` results took at most ``bounds[i]``."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total: float


@dataclass(frozen=True)
class Counts:
    instances: int
    audit_events: dict[str, int]  # by kind
    studies: dict[str, int]  # by state
    results: dict[str, int]  # by outcome
    deliveries: dict[str, int]  # by state
    latency: Latency


def _by(session: Session, column: object, key: object) -> dict[str, int]:
    rows = session.execute(select(column, func.count(key)).group_by(column)).all()  # type: ignore[call-overload]
    return {str(value): int(n) for value, n in rows}


def counts(session: Session, latency_bounds: Sequence[float]) -> Counts:
    """Every count :mod:`cervi.metrics` exposes, in one read."""
    latency = Result.latency_ms
    buckets = [func.sum(case((latency <= bound, 1), else_=0)) for bound in latency_bounds]
    count, total, *cumulative = session.execute(
        select(func.count(latency), func.coalesce(func.sum(latency), 0), *buckets)
    ).one()
    return Counts(
        instances=session.scalar(select(func.count(Instance.id))) or 0,
        audit_events=_by(session, AuditEvent.kind, AuditEvent.id),
        studies=_by(session, Study.state, Study.id),
        results=_by(session, Result.outcome, Result.id),
        deliveries=_by(session, Delivery.state, Delivery.id),
        latency=Latency(
            tuple(latency_bounds), tuple(int(n or 0) for n in cumulative), int(count), float(total)
        ),
    )
