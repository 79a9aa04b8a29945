"""``GET /metrics``: Prometheus text exposition, computed from the results database at scrape
time so that every process and restart reports the same numbers."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from inference.result import ModelIdentity
from storage.tables import AuditEvent, Delivery, DeliveryState, Instance, Result, Study

LATENCY_BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000, 10000)


def render(session: Session) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    received = session.scalar(select(func.count(Instance.id))) or 0
    metric("cervi_instances_received_total", "counter", "Instances stored.", [("", received)])
    refused = session.execute(
        select(AuditEvent.kind, func.count(AuditEvent.id)).group_by(AuditEvent.kind)
    ).all()
    metric(
        "cervi_audit_events_total",
        "counter",
        "Audited events (refusals, replacements) by kind.",
        [(f'{{kind="{kind}"}}', n) for kind, n in refused],
    )
    states = session.execute(select(Study.state, func.count(Study.id)).group_by(Study.state)).all()
    metric(
        "cervi_studies",
        "gauge",
        "Studies by state (receiving, ready, processing, analysed, not_analysed, failed, ignored).",
        [(f'{{state="{state}"}}', n) for state, n in states],
    )
    outcomes = session.execute(
        select(Result.outcome, func.count(Result.id)).group_by(Result.outcome)
    ).all()
    metric(
        "cervi_results_total",
        "counter",
        "Result versions by outcome.",
        [(f'{{outcome="{outcome}"}}', n) for outcome, n in outcomes],
    )
    deliveries = session.execute(
        select(Delivery.state, func.count(Delivery.id)).group_by(Delivery.state)
    ).all()
    by_state = dict(deliveries)
    metric(
        "cervi_delivery_backlog",
        "gauge",
        "Deliveries waiting to be sent.",
        [("", by_state.get(DeliveryState.PENDING.value, 0))],
    )
    metric(
        "cervi_deliveries",
        "gauge",
        "Deliveries by state.",
        [(f'{{state="{state}"}}', n) for state, n in deliveries],
    )
    latency = Result.latency_ms
    buckets = [func.sum(case((latency <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS_MS]
    row = session.execute(
        select(func.count(latency), func.coalesce(func.sum(latency), 0), *buckets)
    ).one()
    count, total, *cumulative = row
    samples = [
        (f'_bucket{{le="{bound}"}}', n or 0)
        for bound, n in zip(LATENCY_BUCKETS_MS, cumulative, strict=True)
    ]
    samples += [('_bucket{le="+Inf"}', count), ("_sum", total), ("_count", count)]
    lines.append("# HELP cervi_analysis_latency_ms Time from dispatch to stored result.")
    lines.append("# TYPE cervi_analysis_latency_ms histogram")
    lines.extend(f"cervi_analysis_latency_ms{suffix} {value:g}" for suffix, value in samples)
    return "\n".join(lines) + "\n"


def render_model(identity: ModelIdentity | None) -> str:
    """``cervi_model_info``: which model answers (name, version, file hash), Prometheus' info
    idiom (a constant 1 with the facts as labels); nothing when no model could be loaded."""
    if identity is None:
        return ""
    labels = ",".join(
        f'{key}="{_escape(value)}"'
        for key, value in (
            ("name", identity.name),
            ("version", identity.version),
            ("sha256", identity.sha256),
            ("demo", str(identity.demo).lower()),
        )
    )
    return (
        "# HELP cervi_model_info The model that analyses studies.\n"
        "# TYPE cervi_model_info gauge\n"
        f"cervi_model_info{{{labels}}} 1\n"
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
