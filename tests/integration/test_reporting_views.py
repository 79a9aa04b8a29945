"""The SQL reporting views answer plain SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cervi.bootstrap import build_service
from storage.db import alembic_config
from tests.integration.conftest import make_settings
from tests.support.seed import seed


def test_views_give_one_row_per_result_and_one_column_per_label(
    database_url: str, tmp_path: Path
) -> None:
    service = build_service(make_settings(database_url, tmp_path))
    seed(service, tmp_path)
    with service.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT study_uid, version, atlantoaxial_instability, c2_c3_fusion,"
                " findings_present FROM study_results ORDER BY study_uid, version"
            )
        ).all()
        latest = connection.execute(
            text(
                "SELECT study_uid, version FROM latest_study_results"
                " WHERE atlantoaxial_instability >= 0.5"
            )
        ).all()
        long = connection.execute(
            text("SELECT COUNT(*) FROM finding_results WHERE label = 'c2_c3_fusion'")
        ).scalar_one()
    service.stop()
    assert [tuple(r) for r in rows] == [
        ("1.2.3.0", 1, pytest.approx(0.91), pytest.approx(0.3), 1),
        ("1.2.3.0", 2, pytest.approx(0.91), pytest.approx(0.3), 1),
        ("1.2.3.1", 1, pytest.approx(0.12), pytest.approx(0.3), 0),
        ("1.2.3.1", 2, pytest.approx(0.12), pytest.approx(0.3), 0),
    ]
    assert [tuple(r) for r in latest] == [("1.2.3.0", 2)]
    assert long == 4


def test_measurement_views_give_one_column_per_measurement(
    database_url: str, tmp_path: Path
) -> None:
    service = build_service(make_settings(database_url, tmp_path))
    seed(service, tmp_path)
    with service.engine.connect() as connection:
        wide = connection.execute(
            text(
                "SELECT study_uid, version, adi_mm_flexion, adi_mm_neutral, occiput_c1_motion_deg"
                " FROM latest_study_measurements WHERE adi_mm_flexion > 3 ORDER BY study_uid"
            )
        ).all()
        long = connection.execute(
            text(
                "SELECT study_uid, version, view, value, unit FROM measurement_results"
                " WHERE name = 'adi_mm' ORDER BY study_uid, version"
            )
        ).all()
    service.stop()
    assert [tuple(r) for r in wide] == [("1.2.3.0", 2, pytest.approx(4.0), None, 15.0)]
    assert [tuple(r) for r in long] == [
        ("1.2.3.0", 1, "flexion", 4.0, "mm"),
        ("1.2.3.0", 2, "flexion", 4.0, "mm"),
        ("1.2.3.1", 1, "flexion", 1.5, "mm"),
        ("1.2.3.1", 2, "flexion", 1.5, "mm"),
    ]


def test_the_views_migration_downgrades_and_upgrades(database_url: str, tmp_path: Path) -> None:
    from alembic import command

    service = build_service(make_settings(database_url, tmp_path))
    config = alembic_config(service.engine)
    command.downgrade(config, "0002")
    command.upgrade(config, "head")
    with service.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM study_results")).scalar_one() == 0
    service.stop()
