"""The read side of the results database: what the HTTP API, the CLI (``cervi results``,
``cervi studies``) and exports show.

Plain dictionaries out (JSON-ready), one function per question, filters as one dataclass so
that the API and the CLI offer exactly the same ones. Every read is shaped for an index, so
that its cost follows the page asked for, not the size of the history: the latest result is
joined through ``studies.latest_result_id``, the list order is ``ix_studies_arrival`` (or
``ix_studies_state_arrival``), the finding filter starts from ``ix_findings_label_probability``,
and the findings of a page come in one query.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session, aliased

from storage.tables import (
    Finding,
    MeasurementRow,
    Result,
    Study,
    UtcDateTime,
)

# How many rows an export holds in memory at a time.
EXPORT_BATCH = 1000
EXPORT_COLUMNS = (
    "study_uid",
    "accession_number",
    "study_date",
    "state",
    "version",
    "model_version",
)
# What an export row carries of each finding, or (``--measurements``) of each measurement.
FINDING_FIELDS = ("label", "probability", "threshold", "present")
MEASUREMENT_FIELDS = ("name", "scope", "view", "value", "unit")


class InvalidCursor(ValueError):
    """A ``cursor`` that no page of this list handed out."""


@dataclass(frozen=True)
class Position:
    """Where a page ends in the list order (newest arrival first): a keyset cursor.

    The next page starts strictly after it, so pages neither repeat nor skip studies while
    new ones arrive, and reaching page 1,000 costs what reaching page 2 costs.
    """

    last_arrival_at: datetime
    study_id: int

    def encode(self) -> str:
        raw = f"{self.last_arrival_at.isoformat()}|{self.study_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            at, study_id = raw.split("|")
            position = cls(datetime.fromisoformat(at), int(study_id))
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise InvalidCursor("cursor is not one this list handed out") from exc
        if position.last_arrival_at.tzinfo is None:
            raise InvalidCursor("cursor is not one this list handed out")
        return position


@dataclass(frozen=True)
class StudyFilter:
    patient_id: str | None = None
    accession_number: str | None = None
    date_from: str | None = None  # YYYYMMDD, inclusive
    date_to: str | None = None
    state: str | None = None
    finding: str | None = None  # a label key present in the latest result
    min_probability: float | None = None  # of ``finding`` if given, else of any label
    model_version: str | None = None
    limit: int = 50
    offset: int = 0
    after: Position | None = None  # keyset: the page starts after this study


@dataclass(frozen=True)
class StudyPage:
    total: int | None  # None when not asked for
    items: list[dict[str, Any]]
    next_cursor: str | None  # None on the last page


def _conditions(where: StudyFilter) -> tuple[list[ColumnElement[bool]], bool]:
    """The filter as WHERE terms on ``studies`` (and ``results``), and whether they need the
    latest result joined."""
    terms: list[ColumnElement[bool]] = []
    if where.patient_id:
        terms.append(Study.patient_id == where.patient_id)
    if where.accession_number:
        terms.append(Study.accession_number == where.accession_number)
    if where.date_from:
        terms.append(Study.study_date >= where.date_from)
    if where.date_to:
        terms.append(Study.study_date <= where.date_to)
    if where.state:
        terms.append(Study.state == where.state)
    if where.finding or where.min_probability is not None:
        finding = aliased(Finding)
        matching = select(finding.result_id)
        if where.finding:
            matching = matching.where(finding.label == where.finding)
            if where.min_probability is None:
                matching = matching.where(finding.present.is_(True))
        if where.min_probability is not None:
            matching = matching.where(finding.probability >= where.min_probability)
        terms.append(Study.latest_result_id.in_(matching))
    if where.model_version:
        terms.append(Result.model_version == where.model_version)
    return terms, bool(where.model_version)


def _newest_first(query: Select, where: StudyFilter) -> Select:
    query = query.where(*_conditions(where)[0])
    if where.after is not None:
        after = literal(where.after.last_arrival_at, UtcDateTime())
        query = query.where(
            tuple_(Study.last_arrival_at, Study.id) < tuple_(after, where.after.study_id)
        )
    return query.order_by(Study.last_arrival_at.desc(), Study.id.desc())


def count_studies(session: Session, where: StudyFilter) -> int:
    terms, needs_result = _conditions(where)
    query = select(func.count()).select_from(Study)
    if needs_result:
        query = query.join(Result, Result.id == Study.latest_result_id)
    return session.scalar(query.where(*terms)) or 0


# What a list shows of a study and of its latest result: plain columns, not ORM objects, so
# that a page costs its rows and not their bookkeeping.
_STUDY_COLUMNS = (
    Study.id,
    Study.study_uid,
    Study.patient_id,
    Study.accession_number,
    Study.study_date,
    Study.state,
    Study.state_reason,
    Study.last_arrival_at,
)
_RESULT_COLUMNS = (
    Result.id.label("result_id"),
    Result.version,
    Result.outcome,
    Result.reason,
    Result.reason_code,
    Result.model_name,
    Result.model_version,
    Result.views_used,
    Result.created_at,
)
_FINDING_COLUMNS = (
    Finding.result_id,
    Finding.label,
    Finding.probability,
    Finding.threshold,
    Finding.present,
)


def list_studies(session: Session, where: StudyFilter, count: bool = True) -> StudyPage:
    """One page of study summaries with their latest result, newest arrivals first, the
    cursor of the next page, and (``count``) how many studies match in all.

    The page is found first as ``(id, last_arrival_at)`` pairs, which the indexes cover, so
    that a filter matching thousands of studies sorts pairs, not rows; then its rows, then
    their findings: a query each, whatever the page size.
    """
    keys = select(Study.id, Study.last_arrival_at)
    if _conditions(where)[1]:
        keys = keys.join(Result, Result.id == Study.latest_result_id)
    keys = _newest_first(keys, where).offset(where.offset).limit(where.limit + 1)
    page = session.execute(keys).all()
    more, page = len(page) > where.limit, page[: where.limit]
    rows = {}
    if page:
        query = (
            select(*_STUDY_COLUMNS, *_RESULT_COLUMNS)
            .outerjoin(Result, Result.id == Study.latest_result_id)
            .where(Study.id.in_([key.id for key in page]))
        )
        rows = {row.id: row for row in session.execute(query)}
    ordered = [rows[key.id] for key in page if key.id in rows]
    ids = [r.result_id for r in ordered if r.result_id is not None]
    findings, measurements = _findings(session, ids), _measurements(session, ids)
    items = [
        _summary(
            row,
            None
            if row.result_id is None
            else _result(row, findings[row.result_id], measurements[row.result_id]),
        )
        for row in ordered
    ]
    next_cursor = None
    if more:
        next_cursor = Position(page[-1].last_arrival_at, page[-1].id).encode()
    total = count_studies(session, where) if count else None
    return StudyPage(total, items, next_cursor)


def _measurements(session: Session, result_ids: list[int]) -> dict[int, list[Any]]:
    """The measurements of several results (without their lines), in one query."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    if result_ids:
        m = MeasurementRow
        query = select(m.result_id, m.name, m.scope, m.view, m.value, m.unit)
        for row in session.execute(query.where(m.result_id.in_(result_ids)).order_by(m.id)):
            grouped[row.result_id].append(row)
    return grouped


def _findings(session: Session, result_ids: list[int]) -> dict[int, list[Any]]:
    """The findings of several results, in one query."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    if result_ids:
        query = select(*_FINDING_COLUMNS).where(Finding.result_id.in_(result_ids))
        for row in session.execute(query.order_by(Finding.id)):
            grouped[row.result_id].append(row)
    return grouped


def export_rows(
    session: Session, where: StudyFilter, measurements: bool = False
) -> Iterator[tuple[Any, ...]]:
    """Every matching study in list order, one row per label of its latest result (or, with
    ``measurements``, per measurement; one row without when it has none), as tuples of
    :data:`EXPORT_COLUMNS` then :data:`FINDING_FIELDS` (or :data:`MEASUREMENT_FIELDS`).
    Streamed: one query on the session's connection, :data:`EXPORT_BATCH` rows in memory at a
    time. ``limit``, ``offset`` and ``after`` of ``where`` are not used."""
    detail: Any = MeasurementRow if measurements else Finding
    fields = MEASUREMENT_FIELDS if measurements else FINDING_FIELDS
    query = (
        select(
            Study.study_uid,
            Study.accession_number,
            Study.study_date,
            Study.state,
            Result.version,
            Result.model_version,
            *(getattr(detail, field) for field in fields),
        )
        .select_from(Study)
        .outerjoin(Result, Result.id == Study.latest_result_id)
        .outerjoin(detail, detail.result_id == Result.id)
    )
    query = _newest_first(query, replace(where, after=None)).order_by(detail.id)
    streamed = query.execution_options(stream_results=True, yield_per=EXPORT_BATCH)
    yield from session.connection().execute(streamed)


def _by_result(session: Session, model: Any, result_ids: Iterable[int]) -> dict[int, list[Any]]:
    """Rows of ``model`` (measurements, regions, deliveries) of several results, in one query."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    ids = list(result_ids)
    if ids:
        query = select(model).where(model.result_id.in_(ids)).order_by(model.id)
        for row in session.execute(query).scalars():
            grouped[row.result_id].append(row)
    return grouped


def _summary(study: Any, result: dict[str, Any] | None) -> dict[str, Any]:
    """A study as lists show it; ``study`` is a :class:`Study` or a row of its columns."""
    return {
        "study_uid": study.study_uid,
        "patient_id": study.patient_id,
        "accession_number": study.accession_number,
        "study_date": study.study_date,
        "state": study.state,
        "state_reason": study.state_reason,
        "last_arrival_at": study.last_arrival_at.isoformat(),
        "result": result,
    }


def _result(
    result: Any, findings: list[Any], measurements: list[Any], lines: bool = False
) -> dict[str, Any]:
    """A result with its findings and measurements (``lines``: with the lines they are measured
    between); ``result`` is a :class:`Result` or a row of its columns."""
    return {
        "version": result.version,
        "outcome": result.outcome,
        "reason": result.reason,
        "reason_code": result.reason_code,
        "model_name": result.model_name,
        "model_version": result.model_version,
        "views_used": list(result.views_used or []),
        "created_at": result.created_at.isoformat(),
        "findings": [
            {
                "label": f.label,
                "probability": f.probability,
                "threshold": f.threshold,
                "present": f.present,
            }
            for f in findings
        ],
        "measurements": [
            {
                "name": m.name,
                "scope": m.scope,
                "view": m.view,
                "value": m.value,
                "unit": m.unit,
            }
            | ({"lines": m.lines or []} if lines else {})
            for m in measurements
        ],
    }
