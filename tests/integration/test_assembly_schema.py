"""Migration 0002 (study assembly) goes down and up again on both engines without drift."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.db import alembic_config, current_revision, make_engine, upgrade
from storage.tables import Base


def test_0002_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        command.downgrade(alembic_config(engine), "0001")
        assert "dispatches" not in inspect(engine).get_table_names()
        assert "assembled_at" not in {c["name"] for c in inspect(engine).get_columns("instances")}
        upgrade(engine)
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert current_revision(engine) == head
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
