"""What ``GET /metrics`` counts, kept as things happen (the formatting is ``cervi.metrics``').

Triggers (migration 0009) append one row to ``metric_deltas`` per counted change: an instance
stored, an audit event, a result (a not-analysed one also by its reason code), a study or
delivery changing state. A reading adds the folded totals in ``metric_counts`` and the deltas
not folded yet, so it costs a few dozen rows whatever the size of the history, and every process
and restart reports the same numbers. :func:`fold_deltas` (a scheduler job) moves deltas into
the totals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, func, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.tables import MetricCount, MetricDelta

# Deltas folded per statement (a fold after a bulk load does not hold them all at once).
FOLD_BATCH = 10_000


@dataclass(frozen=True)
class Latency:
    """Analysis latency in ms: ``cumulative[i]`` results took at most ``bounds[i]``.
    The bounds are the histogram's, as migration 0009 defines them."""

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
    not_analysed: dict[str, int]  # not_analysed results by reason code
    deliveries: dict[str, int]  # by state
    latency: Latency


def counts(session: Session) -> Counts:
    """Every count :mod:`cervi.metrics` exposes, in one read of a few dozen rows."""
    values = metric_values(session)

    def by(name: str) -> dict[str, int]:
        return {label: int(n) for label, n in sorted(values[name].items())}

    finite = sorted(
        (float(bound), int(n))
        for bound, n in values["analysis_latency_bucket"].items()
        if not math.isinf(float(bound))
    )
    cumulative, running = [], 0
    for _, n in finite:
        running += n
        cumulative.append(running)
    return Counts(
        instances=int(values["instances_received"].get("", 0)),
        audit_events=by("audit_events"),
        studies=by("studies"),
        results=by("results"),
        not_analysed=by("not_analysed"),
        deliveries=by("deliveries"),
        latency=Latency(
            tuple(bound for bound, _ in finite),
            tuple(cumulative),
            int(values["analysis_latency_count"].get("", 0)),
            values["analysis_latency_sum"].get("", 0.0),
        ),
    )


def metric_values(session: Session) -> dict[str, dict[str, float]]:
    """``{metric name: {label: value}}``: totals plus the deltas not yet folded."""
    both = union_all(
        select(MetricCount.name, MetricCount.label, MetricCount.value),
        select(MetricDelta.name, MetricDelta.label, MetricDelta.delta),
    ).subquery()
    query = select(both.c.name, both.c.label, func.sum(both.c.value)).group_by(
        both.c.name, both.c.label
    )
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for name, label, value in session.execute(query):
        values[name][label] = float(value)
    return values


def fold_deltas(session: Session) -> int:
    """Move up to :data:`FOLD_BATCH` deltas into the totals; returns how many went.

    The deltas deleted are exactly the ones added (``DELETE ... RETURNING``), so a delta
    committed meanwhile, or one another process folds at the same time, counts once.
    """
    oldest = select(MetricDelta.id).order_by(MetricDelta.id).limit(FOLD_BATCH)
    gone = session.execute(
        delete(MetricDelta)
        .where(MetricDelta.id.in_(oldest.scalar_subquery()))
        .returning(MetricDelta.name, MetricDelta.label, MetricDelta.delta)
    ).all()
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for name, label, delta in gone:
        sums[(name, label)] += delta
    if sums:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [{"name": n, "label": label, "value": v} for (n, label), v in sums.items()]
        statement = insert(MetricCount).values(rows)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["name", "label"],
                set_={"value": MetricCount.value + statement.excluded.value},
            )
        )
    return len(gone)
