"""``GET /metrics``: Prometheus text exposition of the counts the results database keeps as
things happen (storage.metrics), so that every process and restart reports the same numbers
and a scrape costs the same at 100 studies and at 100,000."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from storage.metrics import metric_values
from storage.tables import DeliveryState


def render(session: Session) -> str:
    values = metric_values(session)
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    def by(name: str, key: str) -> list[tuple[str, float]]:
        return [(f'{{{key}="{label}"}}', n) for label, n in sorted(values[name].items())]

    received = values["instances_received"].get("", 0)
    metric("cervi_instances_received_total", "counter", "Instances stored.", [("", received)])
    metric(
        "cervi_audit_events_total",
        "counter",
        "Audited events (refusals, replacements) by kind.",
        by("audit_events", "kind"),
    )
    metric(
        "cervi_studies",
        "gauge",
        "Studies by state (receiving, ready, processing, analysed, not_analysed, failed, ignored).",
        by("studies", "state"),
    )
    outcomes = by("results", "outcome")
    metric("cervi_results_total", "counter", "Result versions by outcome.", outcomes)
    pending = values["deliveries"].get(DeliveryState.PENDING.value, 0)
    metric("cervi_delivery_backlog", "gauge", "Deliveries waiting to be sent.", [("", pending)])
    metric("cervi_deliveries", "gauge", "Deliveries by state.", by("deliveries", "state"))

    buckets = sorted(values["analysis_latency_bucket"].items(), key=lambda b: float(b[0]))
    count = values["analysis_latency_count"].get("", 0)
    samples, cumulative = [], 0.0
    for bound, n in buckets:
        cumulative += n
        if not math.isinf(float(bound)):
            samples.append((f'_bucket{{le="{bound}"}}', cumulative))
    samples += [('_bucket{le="+Inf"}', count), ("_sum", values["analysis_latency_sum"].get("", 0))]
    samples.append(("_count", count))
    lines.append("# HELP cervi_analysis_latency_ms Time from dispatch to stored result.")
    lines.append("# TYPE cervi_analysis_latency_ms histogram")
    lines.extend(f"cervi_analysis_latency_ms{suffix} {value:g}" for suffix, value in samples)
    return "\n".join(lines) + "\n"
