"""metric counters kept as things happen, so that ``GET /metrics`` reads a few rows

Triggers on ``instances``, ``audit_events``, ``studies``, ``results`` and ``deliveries`` append a
row to ``metric_deltas`` for every change a metric counts, not-analysed results by reason code
among them (insert only: concurrent writers never wait on a shared counter row).
``metric_counts`` holds the totals the deltas are folded into (storage.counts.fold_deltas); a
reading adds both. The counts of the rows already there are taken once, here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Upper bounds (ms) of the analysis latency histogram; a reading takes them from the rows.
LATENCY_BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000, 10000)


def _bucket(value: str) -> str:
    """SQL: the label of the smallest bucket that holds ``value``."""
    cases = " ".join(f"WHEN {value} <= {bound} THEN '{bound}'" for bound in LATENCY_BUCKETS_MS)
    return f"CASE {cases} ELSE '+Inf' END"


def _reason(value: str) -> str:
    """SQL: the reason label of a not-analysed result (rows from before reason codes have none)."""
    return f"COALESCE({value}, 'unspecified')"


def _insert(*rows: str) -> str:
    return "INSERT INTO metric_deltas (name, label, delta) VALUES " + ", ".join(rows) + ";"


# table -> (events, {event: SQL run for each row}); NEW/OLD as in both engines' triggers.
COUNTED = {
    "instances": {"INSERT": _insert("('instances_received', '', 1)")},
    "audit_events": {"INSERT": _insert("('audit_events', NEW.kind, 1)")},
    "results": {
        "INSERT": _insert("('results', NEW.outcome, 1)")
        + " INSERT INTO metric_deltas (name, label, delta) SELECT n, l, d FROM ("
        + "SELECT 'analysis_latency_count' AS n, '' AS l, 1.0 AS d "
        + "UNION ALL SELECT 'analysis_latency_sum', '', NEW.latency_ms "
        + f"UNION ALL SELECT 'analysis_latency_bucket', {_bucket('NEW.latency_ms')}, 1.0"
        + ") AS latency WHERE NEW.latency_ms IS NOT NULL;"
        + " INSERT INTO metric_deltas (name, label, delta) "
        + f"SELECT 'not_analysed', {_reason('NEW.reason_code')}, 1 "
        + "WHERE NEW.outcome = 'not_analysed';"
    },
    "studies": {
        "INSERT": _insert("('studies', NEW.state, 1)"),
        "UPDATE": _insert("('studies', OLD.state, -1)", "('studies', NEW.state, 1)"),
        "DELETE": _insert("('studies', OLD.state, -1)"),
    },
    "deliveries": {
        "INSERT": _insert("('deliveries', NEW.state, 1)"),
        "UPDATE": _insert("('deliveries', OLD.state, -1)", "('deliveries', NEW.state, 1)"),
        "DELETE": _insert("('deliveries', OLD.state, -1)"),
    },
}

# The counts of what is already there: (name, SQL giving (label, value) rows).
INITIAL = {
    "instances_received": "SELECT '', COUNT(*) FROM instances",
    "audit_events": "SELECT kind, COUNT(*) FROM audit_events GROUP BY kind",
    "results": "SELECT outcome, COUNT(*) FROM results GROUP BY outcome",
    "analysis_latency_count": "SELECT '', COUNT(latency_ms) FROM results",
    "analysis_latency_sum": "SELECT '', COALESCE(SUM(latency_ms), 0) FROM results",
    "analysis_latency_bucket": f"SELECT {_bucket('latency_ms')}, COUNT(*) FROM results "
    f"WHERE latency_ms IS NOT NULL GROUP BY {_bucket('latency_ms')}",
    "not_analysed": f"SELECT {_reason('reason_code')}, COUNT(*) FROM results "
    f"WHERE outcome = 'not_analysed' GROUP BY {_reason('reason_code')}",
    "studies": "SELECT state, COUNT(*) FROM studies GROUP BY state",
    "deliveries": "SELECT state, COUNT(*) FROM deliveries GROUP BY state",
}


def upgrade() -> None:
    counts = op.create_table(
        "metric_counts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", "label"),
    )
    op.create_table(
        "metric_deltas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("delta", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    connection = op.get_bind()
    rows = {("analysis_latency_bucket", str(b)): 0.0 for b in LATENCY_BUCKETS_MS}
    rows[("analysis_latency_bucket", "+Inf")] = 0.0
    rows[("instances_received", "")] = 0.0
    rows[("analysis_latency_count", "")] = 0.0
    rows[("analysis_latency_sum", "")] = 0.0
    for name, query in INITIAL.items():
        for label, value in connection.execute(sa.text(query)):
            rows[(name, label)] = float(value)
    op.bulk_insert(
        counts, [{"name": n, "label": label, "value": v} for (n, label), v in rows.items()]
    )

    postgresql = connection.dialect.name == "postgresql"
    for table, events in COUNTED.items():
        for event, body in events.items():
            name = f"{table}_count_{event.lower()}"
            when = ""
            if event == "UPDATE":
                when = (
                    " WHEN (OLD.state IS DISTINCT FROM NEW.state)"
                    if postgresql
                    else (" WHEN OLD.state IS NOT NEW.state")
                )
            of = " OF state" if event == "UPDATE" else ""
            if postgresql:
                op.execute(
                    f"CREATE FUNCTION cervi_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN {body} RETURN NULL; END $$"
                )
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {event}{of} ON {table} FOR EACH ROW{when} "
                    f"EXECUTE FUNCTION cervi_{name}()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {event}{of} ON {table}{when} BEGIN {body} END"
                )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, events in COUNTED.items():
        for event in events:
            name = f"{table}_count_{event.lower()}"
            if postgresql:
                op.execute(f"DROP TRIGGER {name} ON {table}")
                op.execute(f"DROP FUNCTION cervi_{name}()")
            else:
                op.execute(f"DROP TRIGGER {name}")
    op.drop_table("metric_deltas")
    op.drop_table("metric_counts")
