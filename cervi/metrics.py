"""``GET /metrics``: Prometheus text exposition of :func:`storage.counts.counts`, which the
results database keeps as things happen: every process and restart reports the same numbers,
and a scrape costs the same at 100 studies and at 100,000."""

from __future__ import annotations

from sqlalchemy.orm import Session

from inference.result import ModelIdentity
from storage.counts import counts
from storage.tables import DeliveryState


def render(session: Session) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    now = counts(session)
    metric("cervi_instances_received_total", "counter", "Instances stored.", [("", now.instances)])
    metric(
        "cervi_audit_events_total",
        "counter",
        "Audited events (refusals, replacements) by kind.",
        [(f'{{kind="{kind}"}}', n) for kind, n in now.audit_events.items()],
    )
    metric(
        "cervi_studies",
        "gauge",
        "Studies by state (receiving, ready, processing, analysed, not_analysed, failed, ignored).",
        [(f'{{state="{state}"}}', n) for state, n in now.studies.items()],
    )
    metric(
        "cervi_results_total",
        "counter",
        "Result versions by outcome.",
        [(f'{{outcome="{outcome}"}}', n) for outcome, n in now.results.items()],
    )
    metric(
        "cervi_not_analysed_total",
        "counter",
        "Result versions not analysed, by reason (outside_domain: the model's domain gate "
        "refused a view).",
        [(f'{{reason="{reason}"}}', n) for reason, n in now.not_analysed.items()],
    )
    metric(
        "cervi_delivery_backlog",
        "gauge",
        "Deliveries waiting to be sent.",
        [("", now.deliveries.get(DeliveryState.PENDING.value, 0))],
    )
    metric(
        "cervi_deliveries",
        "gauge",
        "Deliveries by state.",
        [(f'{{state="{state}"}}', n) for state, n in now.deliveries.items()],
    )
    latency = now.latency
    samples = [
        (f'_bucket{{le="{bound:g}"}}', n)
        for bound, n in zip(latency.bounds, latency.cumulative, strict=True)
    ]
    samples += [('_bucket{le="+Inf"}', latency.count), ("_sum", latency.total)]
    samples += [("_count", latency.count)]
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
