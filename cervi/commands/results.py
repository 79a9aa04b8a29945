"""``cervi results list|show|export``: the results database from the command line, with the
same filters as ``GET /api/v1/studies``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from cervi.cli import add_config_option
from cervi.settings import resolve_settings
from storage.db import make_engine, session_factory
from storage.queries import StudyFilter, list_studies, study_detail
from storage.states import StudyState

EXPORT_PAGE = 500


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("results", help="query the results database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="studies with their latest result, as a table")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
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


def _filter(args: argparse.Namespace, limit: int, offset: int) -> StudyFilter:
    for name in ("date_from", "date_to"):
        value = getattr(args, name)
        if value is not None and not (len(value) == 8 and value.isdigit()):
            raise SystemExit(f"cervi results: --{name.replace('_', '-')} must be YYYYMMDD")
    if args.min_probability is not None and not 0 <= args.min_probability <= 1:
        raise SystemExit("cervi results: --min-probability must be between 0 and 1")
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
    total, items = _query(args, list_studies, _filter(args, args.limit, args.offset))
    rows = [
        (
            item["study_uid"],
            item["study_date"] or "",
            item["state"],
            str(item["result"]["version"]) if item["result"] else "",
            _leading(item["result"]),
            _key_measurements(item["result"]),
        )
        for item in items
    ]
    header = ("STUDY UID", "DATE", "STATE", "VER", "FINDINGS (p >= threshold)", "ADI (mm)")
    print_table(header, rows)
    print(f"{len(items)} of {total} studies")
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


def run_export(args: argparse.Namespace) -> int:
    records: list[dict[str, Any]] = []
    offset = 0
    while True:
        _, items = _query(args, list_studies, _filter(args, EXPORT_PAGE, offset))
        for item in items:
            result = item["result"] or {"findings": []}
            base = {
                "study_uid": item["study_uid"],
                "study_date": item["study_date"],
                "state": item["state"],
                "version": result.get("version"),
                "model_version": result.get("model_version"),
            }
            if args.measurements:
                records += _measurement_records(base, result)
                continue
            if not result["findings"]:
                records.append(base | {"label": None, "probability": None, "present": None})
            for finding in result["findings"]:
                records.append(
                    base
                    | {
                        "label": finding["label"],
                        "probability": finding["probability"],
                        "present": finding["present"],
                    }
                )
        if len(items) < EXPORT_PAGE:
            break
        offset += EXPORT_PAGE
    if args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        fields = ["study_uid", "study_date", "state", "version", "model_version"]
        values = (
            ["name", "scope", "view", "value", "unit"]
            if args.measurements
            else ["label", "probability", "present"]
        )
        writer = csv.DictWriter(sys.stdout, fieldnames=[*fields, *values])
        writer.writeheader()
        writer.writerows(records)
    return 0


def _measurement_records(base: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """One export row per measurement of ``result`` (one empty row when it has none)."""
    empty = {"name": None, "scope": None, "view": None, "value": None, "unit": None}
    rows = [
        base | {k: m[k] for k in ("name", "scope", "view", "value", "unit")}
        for m in result.get("measurements", [])
    ]
    return rows or [base | empty]
