"""The results database on SQLite and PostgreSQL: migrations, instance records, audit rows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from storage.db import (
    alembic_config,
    current_revision,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from storage.instances import InstanceRecord, Recorded, record_instance
from storage.tables import AuditEvent, Base, Instance, Study, StudyState


def _record(sop: str = "1.2.3.4.5", sha: str = "a" * 64, study: str = "1.2.3") -> InstanceRecord:
    return InstanceRecord(
        study_uid=study,
        series_uid="1.2.3.4",
        sop_instance_uid=sop,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        patient_id="P1",
        path=f"/store/{sop}.{sha[:16]}.dcm",
        sha256=sha,
        size=10,
        header={"SeriesDescription": "neutral"},
    )


def test_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # idempotent: serve upgrades on every start
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None and current_revision(engine) == head
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'c.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_record_new_same_and_replaced(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        assert record_instance(session, _record()).recorded is Recorded.NEW
    with transaction(sessions) as session:
        assert record_instance(session, _record()).recorded is Recorded.SAME
    with transaction(sessions) as session:
        session.execute(select(Study)).scalar_one().state = StudyState.ANALYSED.value
    with transaction(sessions) as session:
        outcome = record_instance(session, _record(sha="b" * 64))
    assert outcome.recorded is Recorded.REPLACED
    assert outcome.replaced_path == "/store/1.2.3.4.5.aaaaaaaaaaaaaaaa.dcm"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 1
        assert session.execute(select(Instance.sha256)).scalar_one() == "b" * 64
        # Re-opening is study assembly's decision: the changed copy is only marked unseen.
        assert session.execute(select(Study.state)).scalar_one() == StudyState.ANALYSED
        assert session.execute(select(Instance.assembled_at)).scalar_one() is None
        kinds = session.execute(select(AuditEvent.kind)).scalars().all()
        assert kinds == ["instance_replaced"]
    engine.dispose()


def test_concurrent_first_instances_of_one_study_make_one_study_row(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)

    def store(i: int) -> Recorded:
        with transaction(sessions) as session:
            return record_instance(session, _record(sop=f"1.2.3.4.{i}", sha=f"{i:064x}")).recorded

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(store, range(8)))
    assert results == [Recorded.NEW] * 8
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 1
        assert session.scalar(select(func.count()).select_from(Instance)) == 8
    engine.dispose()
