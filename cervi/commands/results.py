"""``cervi results list|show|export``: the results database from the command line, with the
same filters as ``GET /api/v1/studies``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from sqlalchemy.orm import Session

from cervi.cli import add_config_option
from cervi.settings import resolve_settings
from storage.db import make_engine, session_factory
from storage.detail import study_detail
from storage.queries import (
    EXPORT_COLUMNS,
    FINDING_FIELDS,
    MEASUREMENT_FIELDS,
    InvalidCursor,
    Position,
    StudyFilter,
    export_rows,
    list_studies,
)
from storage.states import StudyState


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("results", help="query the results database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="studies with their latest result, as a table")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--cursor", help="the next page, as the previous page printed it")
    listing.set_defaults(func=run_list)

    show = actions.add_parser("show", help="everything known of one study, as JSON")
    add_config_option(show)
    show.add_argument("study_uid")
    show.set_defaults(func=run_show)

    export = actions.add_parser("export", help="every matching study, one row per label")
    _add_filters(export)
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument(
        "--measurements",
        action="store_true",
        help="one row per measurement (name, view, value, unit) instead of per label",
    )
    export.set_defaults(func=run_export)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument("--patient-id")
    parser.add_argument("--accession")
    parser.add_argument("--date-from", help="YYYYMMDD, inclusive")
    parser.add_argument("--date-to", help="YYYYMMDD, inclusive")
    parser.add_argument(
        "--state",
        choices=[state.value for state in StudyState],
    )
    parser.add_argument("--finding", help="label key present in the latest result")
    parser.add_argument("--min-probability", type=float)
    parser.add_argument("--model-version")


def _filter(
    args: argparse.Namespace, limit: int, offset: int, cursor: str | None = None
) -> StudyFilter:
    for name in ("date_from", "date_to"):
        value = getattr(args, name)
        if value is not None and not (len(value) == 8 and value.isdigit()):
            raise SystemExit(f"cervi results: --{name.replace('_', '-')} must be YYYYMMDD")
    if args.min_probability is not None and not 0 <= args.min_probability <= 1:
        raise SystemExit("cervi results: --min-probability must be between 0 and 1")
    try:
        after = Position.decode(cursor) if cursor is not None else None
    except InvalidCursor as exc:
        raise SystemExit(f"cervi results: --cursor: {exc}") from None
    return StudyFilter(
        patient_id=args.patient_id,
        accession_number=args.accession,
        date_from=args.date_from,
        date_to=args.date_to,
        state=args.state,
        finding=args.finding,
        min_probability=args.min_probability,
        model_version=args.model_version,
        limit=limit,
        offset=offset,
        after=after,
    )


def _query(args: argparse.Namespace, fn: Any, *params: Any) -> Any:
    settings, _ = resolve_settings(args.config)
    engine = make_engine(settings.storage.database_url)
    try:
        with session_factory(engine)() as session:
            return fn(session, *params)
    finally:
        engine.dispose()


def run_list(args: argparse.Namespace) -> int:
    page = _query(args, list_studies, _filter(args, args.limit, args.offset, args.cursor))
    items = page.items
    rows = [
        (
            item["study_uid"],
            item["patient_id"],
            item["accession_number"] or "",
            item["study_date"] or "",
            item["state"],
            str(item["result"]["version"]) if item["result"] else "",
            _leading(item["result"]),
            _key_measurements(item["result"]),
        )
        for item in items
    ]
    header = ("STUDY UID", "PATIENT ID", "ACCESSION", "DATE", "STATE", "VER")
    print_table((*header, "FINDINGS (p >= threshold)", "ADI (mm)"), rows)
    print(f"{len(items)} of {page.total} studies")
    if page.next_cursor:
        print(f"next page: --cursor {page.next_cursor}")
    return 0


def _leading(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    present = [f for f in result["findings"] if f["present"]]
    if not present:
        return "none"
    present.sort(key=lambda f: -f["probability"])
    return ", ".join(f"{f['label']} {100 * f['probability']:.0f}%" for f in present)


def _key_measurements(result: dict[str, Any] | None) -> str:
    """The atlantodental interval in flexion and its change from extension, where measured."""
    if not result:
        return ""
    values = {(m["name"], m["view"]): m["value"] for m in result.get("measurements", [])}
    parts = []
    if ("adi_mm", "flexion") in values:
        parts.append(f"flexion {values[('adi_mm', 'flexion')]:.1f}")
    if ("adi_change_mm", None) in values:
        parts.append(f"change {values[('adi_change_mm', None)]:+.1f}")
    return ", ".join(parts)


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


def run_show(args: argparse.Namespace) -> int:
    detail = _query(args, study_detail, args.study_uid)
    if detail is None:
        print(f"cervi results: no study {args.study_uid}", file=sys.stderr)
        return 1
    print(json.dumps(detail, indent=2))
    return 0


#: Decimals of probabilities and thresholds in the CSV (a spreadsheet needs no 17 digits).
CSV_DECIMALS = 4


def run_export(args: argparse.Namespace) -> int:
    """Stream every matching study to stdout: one query, one session, constant memory."""
    _query(args, _export, _filter(args, limit=0, offset=0), args)
    return 0


def _export(session: Session, where: StudyFilter, args: argparse.Namespace) -> None:
    rows = export_rows(session, where, measurements=args.measurements)
    fields = (*EXPORT_COLUMNS, *(MEASUREMENT_FIELDS if args.measurements else FINDING_FIELDS))
    if args.format == "json":
        _write_json(rows, fields, sys.stdout)
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        writer.writerows(rows if args.measurements else (csv_row(row) for row in rows))


def csv_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A findings export row for the CSV: probability and threshold to ``CSV_DECIMALS`` places,
    the call as 1 or 0."""
    *base, label, probability, threshold, present = row
    numbers = tuple(
        None if v is None else f"{v:.{CSV_DECIMALS}f}" for v in (probability, threshold)
    )
    return (*base, label, *numbers, None if present is None else int(present))


def _write_json(rows: Iterable[tuple[Any, ...]], fields: tuple[str, ...], out: TextIO) -> None:
    """A JSON array of objects, written one record at a time."""
    out.write("[")
    for n, row in enumerate(rows):
        out.write(",\n  " if n else "\n  ")
        out.write(json.dumps(dict(zip(fields, row, strict=True))))
    out.write("\n]\n")
