"""Keyset pagination and the streaming export, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from cervi.cli import main
from storage import queries
from storage.db import make_engine, session_factory, transaction, upgrade
from storage.queries import (
    EXPORT_COLUMNS,
    FINDING_FIELDS,
    InvalidCursor,
    Position,
    StudyFilter,
    export_rows,
    list_studies,
)
from storage.tables import Finding, Result, Study

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
LABELS = ("atlantoaxial_instability", "c2_c3_fusion")
STUDIES = 23


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade(engine)
    made = session_factory(engine)
    with transaction(made) as session:
        for n in range(STUDIES):
            _add_study(session, n)
    yield made
    engine.dispose()


def _add_study(session: Session, n: int, at: datetime | None = None) -> None:
    """Study ``n``: arrivals in threes at the same instant (ties for the cursor to break);
    every third has no result, every fifth a result without findings, the others two versions."""
    study = Study(
        study_uid=f"1.2.3.{n}",
        patient_id=f"P{n % 4}",
        study_date=f"202606{1 + n % 28:02d}",
        state="receiving" if n % 3 == 0 else "analysed",
        last_arrival_at=at or T0 + timedelta(minutes=n // 3),
    )
    session.add(study)
    session.flush()
    if n % 3 == 0:
        return
    for version in (1, 2) if n % 5 else (1,):
        result = Result(study_id=study.id, version=version, outcome="analysed")
        session.add(result)
        session.flush()
        if n % 5 == 0:
            continue
        for k, label in enumerate(LABELS):
            p = ((n * 7 + k * 3 + version) % 10) / 10
            session.add(
                Finding(result_id=result.id, label=label, probability=p, threshold=0.5,
                        present=p >= 0.5)
            )  # fmt: skip


def _walk(sessions: sessionmaker[Session], where: StudyFilter) -> list[dict]:
    """Every page by cursor, checking the total and the cursor of each."""
    items: list[dict] = []
    after = where.after
    for _ in range(STUDIES + 2):
        with sessions() as session:
            page = list_studies(session, StudyFilter(**{**where.__dict__, "after": after}))
        items += page.items
        if page.next_cursor is None:
            return items
        assert len(page.items) == where.limit
        after = Position.decode(page.next_cursor)
    raise AssertionError("the cursor never reached the last page")


@pytest.mark.parametrize(
    "where",
    [
        StudyFilter(limit=4),
        StudyFilter(limit=1),
        StudyFilter(limit=3, finding="atlantoaxial_instability", min_probability=0.5),
        StudyFilter(limit=2, finding="c2_c3_fusion"),
        StudyFilter(limit=2, min_probability=0.8),
        StudyFilter(limit=5, state="analysed", date_from="20260605"),
    ],
)
def test_cursor_pages_give_every_study_once_in_offset_order(
    sessions: sessionmaker[Session], where: StudyFilter
) -> None:
    with sessions() as session:
        everything = list_studies(session, StudyFilter(**{**where.__dict__, "limit": 500}))
    walked = _walk(sessions, where)
    assert [i["study_uid"] for i in walked] == [i["study_uid"] for i in everything.items]
    assert len(walked) == everything.total and everything.next_cursor is None
    # the newest first, ties broken by the newer row
    keys = [(i["last_arrival_at"], int(i["study_uid"].rsplit(".", 1)[1])) for i in walked]
    assert keys == sorted(keys, reverse=True)


def test_a_study_arriving_during_a_walk_does_not_shift_the_pages(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        first = list_studies(session, StudyFilter(limit=5))
    with transaction(sessions) as session:
        _add_study(session, 99, at=T0 + timedelta(days=1))
    rest = _walk(sessions, StudyFilter(limit=5, after=Position.decode(first.next_cursor or "")))
    uids = [i["study_uid"] for i in first.items + rest]
    assert len(uids) == len(set(uids)) == STUDIES and "1.2.3.99" not in uids


def test_latest_result_and_findings_come_with_each_item(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        page = list_studies(session, StudyFilter(limit=500, patient_id="P1"), count=False)
    assert page.total is None
    by_uid = {i["study_uid"]: i for i in page.items}
    assert by_uid["1.2.3.9"]["result"] is None  # receiving, no result
    assert by_uid["1.2.3.5"]["result"]["version"] == 1
    assert by_uid["1.2.3.5"]["result"]["findings"] == []
    latest = by_uid["1.2.3.1"]["result"]
    assert latest["version"] == 2
    assert [f["label"] for f in latest["findings"]] == list(LABELS)
    assert latest["findings"][0]["probability"] == pytest.approx(((1 * 7 + 2) % 10) / 10)


def test_a_page_costs_the_same_number_of_queries_whatever_its_size(
    sessions: sessionmaker[Session],
) -> None:
    engine: Engine = sessions.kw["bind"]
    for limit in (2, 20):
        with _statements(engine) as statements, sessions() as session:
            list_studies(session, StudyFilter(limit=limit))
        # the page (keys, then rows), its findings, its measurements, the count
        assert len(statements) == 5


def test_bad_cursors_are_refused() -> None:
    for cursor in ("", "not base64!", Position(T0, 1).encode()[:-3], "MjAyNnwx"):
        with pytest.raises(InvalidCursor):
            Position.decode(cursor)
    assert Position.decode(Position(T0, 7).encode()) == Position(T0, 7)


def _expected_export(sessions: sessionmaker[Session], where: StudyFilter) -> list[dict]:
    """The export as the pages of the list show it: one row per label, or one without."""
    with sessions() as session:
        items = list_studies(session, StudyFilter(**{**where.__dict__, "limit": 500})).items
    rows = []
    for item in items:
        result = item["result"] or {"findings": []}
        base = {
            "study_uid": item["study_uid"],
            "accession_number": item["accession_number"],
            "study_date": item["study_date"],
            "state": item["state"],
            "version": result.get("version"),
            "model_version": result.get("model_version"),
        }
        if not result["findings"]:
            rows.append(
                base | {"label": None, "probability": None, "threshold": None, "present": None}
            )
        for f in result["findings"]:
            rows.append(base | {k: f[k] for k in ("label", "probability", "threshold", "present")})
    return rows


@pytest.mark.parametrize(
    "where", [StudyFilter(), StudyFilter(finding="atlantoaxial_instability", min_probability=0.5)]
)
def test_export_streams_every_row_in_one_query(
    sessions: sessionmaker[Session], where: StudyFilter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "EXPORT_BATCH", 2)  # many fetches of a few rows each
    engine: Engine = sessions.kw["bind"]
    with _statements(engine) as statements, sessions() as session:
        rows = [
            dict(zip(EXPORT_COLUMNS + FINDING_FIELDS, row, strict=True))
            for row in export_rows(session, where)
        ]
    assert rows == _expected_export(sessions, where)
    assert len(rows) > STUDIES if where.finding is None else len(rows) > 2
    assert len(statements) == 1


def test_cli_export_writes_csv_and_json(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path, capsys
) -> None:
    config = tmp_path / "cervi.yaml"
    config.write_text(yaml.safe_dump({"storage": {"database_url": database_url}}))
    expected = _expected_export(sessions, StudyFilter())
    assert main(["results", "export", "--config", str(config)]) == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS + FINDING_FIELDS
    text_rows = [{k: _csv_text(k, v) for k, v in row.items()} for row in expected]
    assert list(reader) == text_rows
    assert main(["results", "export", "--config", str(config), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected


def _csv_text(field: str, value: object) -> str:
    """A value as the CSV writes it: numbers of findings to 4 places, the call as 1 or 0."""
    if value is None:
        return ""
    if field in ("probability", "threshold"):
        return f"{value:.4f}"
    if field == "present":
        return str(int(value))  # type: ignore[call-overload]
    return str(value)


class _statements:
    """The SQL statements an engine runs inside the ``with`` block."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.seen = engine, []

    def _record(self, _conn, _cursor, statement: str, *_args) -> None:
        self.seen.append(statement)

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)
