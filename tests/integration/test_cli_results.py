"""``cervi results list|show|export`` against a seeded database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from cervi.bootstrap import build_service
from cervi.cli import main
from tests.integration.conftest import make_settings
from tests.support.seed import seed


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> str:
    service = build_service(make_settings(database_url, tmp_path))
    seed(service, tmp_path)
    service.stop()
    path = tmp_path / "cervi.yaml"
    path.write_text(yaml.safe_dump({"storage": {"database_url": database_url}}))
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_list_is_a_readable_table_with_filters(config: str, capsys) -> None:
    code, out = _run(capsys, "results", "list", "--config", config)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == [
        "STUDY",
        "UID",
        "PATIENT",
        "ID",
        "ACCESSION",
        "DATE",
        "STATE",
        "VER",
        "FINDINGS",
        "(p",
        ">=",
        "threshold)",
        "ADI",
        "(mm)",
    ]
    assert "atlantoaxial_instability 91%" in out and "flexion 4.0" in out
    assert lines[-1] == "3 of 3 studies"
    assert lines[3].split()[:3] == ["1.2.3.0", "P1", "ACC0"]
    code, out = _run(capsys, "results", "list", "--config", config, "--state", "receiving")
    assert out.splitlines()[-1] == "1 of 1 studies" and "1.2.3.2" in out


def test_show_prints_the_study_as_json(config: str, capsys) -> None:
    code, out = _run(capsys, "results", "show", "--config", config, "1.2.3.1")
    detail = json.loads(out)
    assert code == 0 and detail["results"][0]["version"] == 2
    assert _run(capsys, "results", "show", "--config", config, "9.9")[0] == 1


def test_export_csv_and_json_have_one_row_per_label(config: str, capsys) -> None:
    _, out = _run(
        capsys, "results", "export", "--config", config, "--finding", "atlantoaxial_instability"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["study_uid"], r["label"]) for r in rows] == [
        ("1.2.3.0", "atlantoaxial_instability"),
        ("1.2.3.0", "c2_c3_fusion"),
    ]
    assert rows[0]["probability"] == "0.9100" and rows[0]["threshold"] == "0.5000"
    assert (rows[0]["present"], rows[1]["present"]) == ("1", "0")
    assert rows[0]["accession_number"] == "ACC0"
    assert "True" not in out and "False" not in out
    _, out = _run(capsys, "results", "export", "--config", config, "--format", "json")
    assert len(json.loads(out)) == 5  # 2 + 2 labels, and one row for the unanalysed study


def test_export_measurements_has_one_row_per_measurement(config: str, capsys) -> None:
    _, out = _run(
        capsys, "results", "export", "--config", config, "--measurements", "--patient-id", "P1"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["view"], r["value"], r["unit"]) for r in rows] == [
        ("adi_mm", "flexion", "4.0", "mm"),
        ("occiput_c1_motion_deg", "", "15.0", "deg"),
    ]


def test_bad_filters_are_refused_clearly(config: str, capsys) -> None:
    with pytest.raises(SystemExit, match="YYYYMMDD"):
        main(["results", "list", "--config", config, "--date-from", "2026-01-01"])
