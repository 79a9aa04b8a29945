"""The common reads go through the indexes made for them (SQLite as Cervi runs it, without
statistics; PostgreSQL told to prefer indexes, as it does on a large table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from storage import studies
from storage.db import make_engine, session_factory, upgrade
from storage.queries import StudyFilter, count_studies, list_studies
from storage.retention import expired_instances
from storage.tables import utcnow

NOW = utcnow()


def _plans(engine: Engine, read: Callable[[Session], Any]) -> list[str]:
    """The query plan of every SELECT that ``read`` runs, as text."""
    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_factory(engine)() as session:
            read(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    plans = []
    with engine.connect() as connection:
        postgresql = engine.dialect.name == "postgresql"
        if postgresql:
            connection.execute(text("SET enable_seqscan = off"))
        for statement, parameters in statements:
            explain = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
            plans.append("\n".join(str(row[-1] if not postgresql else row[0]) for row in rows))
    return plans


READS: dict[str, tuple[Callable[[Session], Any], list[str]]] = {
    "default page": (lambda s: list_studies(s, StudyFilter(), count=False), ["ix_studies_arrival"]),
    "state page": (
        lambda s: list_studies(s, StudyFilter(state="ignored"), count=False),
        ["ix_studies_state_arrival"],
    ),
    "finding count": (
        lambda s: count_studies(s, StudyFilter(finding="c2_c3_fusion", min_probability=0.5)),
        ["ix_findings_label_probability"],
    ),
    "patient page": (
        lambda s: list_studies(s, StudyFilter(patient_id="P1"), count=False),
        ["ix_studies_patient_id"],
    ),
    "date count": (
        lambda s: count_studies(s, StudyFilter(date_from="20260101", date_to="20260131")),
        ["ix_studies_study_date"],
    ),
    "retention": (
        lambda s: expired_instances(s, NOW, 30, 24, 10),
        ["ix_instances_files_kept", "ix_studies_state_arrival"],
    ),
    "sweep": (lambda s: studies.studies_to_reconcile(s), ["ix_studies_unreported"]),
}


@pytest.mark.parametrize("name", list(READS))
def test_common_reads_use_their_indexes(database_url: str, name: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    read, indexes = READS[name]
    plans = "\n".join(_plans(engine, read))
    for index in indexes:
        assert index in plans, plans
    engine.dispose()
