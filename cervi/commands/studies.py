"""``cervi studies``: what study assembly made of the received studies.

A table, one row per study: its patient ID and accession number, state and result version, the
views found and the rule that found each (superseded repeats in brackets), when its quiet timer
is due, and notes (ignored instances, the group it belongs to, the state's reason).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from cervi.cli import add_config_option
from cervi.commands.results import print_table
from cervi.settings import resolve_settings
from storage.db import make_engine, session_factory
from storage.detail import StudyOverview, study_overview
from storage.tables import StudyState


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("studies", help="list studies with their views and state")
    add_config_option(parser)
    parser.add_argument("--state", choices=[s.value for s in StudyState], help="only this state")
    parser.add_argument("--limit", type=int, default=50, help="most recent N studies (50)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings, _ = resolve_settings(args.config)
    engine = make_engine(settings.storage.database_url)
    try:
        with session_factory(engine)() as session:
            lines = study_overview(session, args.state, args.limit)
    finally:
        engine.dispose()
    if args.json:
        for line in lines:
            print(json.dumps(_as_json(line)))
        return 0
    if not lines:
        print("no studies")
        return 0
    print_table(HEADER, [table_row(line) for line in lines])
    return 0


HEADER = (
    "STUDY UID",
    "PATIENT ID",
    "ACCESSION",
    "STATE",
    "VER",
    "VIEWS (view:rule; [superseded])",
    "DUE (UTC)",
    "NOTES",
)


def table_row(line: StudyOverview) -> tuple[str, ...]:
    views = " ".join(
        f"[{v.view}:{v.rule or '-'}]" if v.superseded else f"{v.view}:{v.rule or '-'}"
        for v in line.views
    )
    notes = []
    if line.ignored:
        notes.append(f"{line.ignored} ignored")
    if line.group_uid:
        notes.append(f"in group {line.group_uid}")
    if line.reason:
        notes.append(line.reason)
    due = line.due_at.strftime("%Y-%m-%d %H:%M:%S") if line.due_at is not None else "-"
    return (
        line.study_uid,
        line.patient_id,
        line.accession_number or "-",
        line.state,
        str(line.version),
        views or "no views",
        due,
        "; ".join(notes),
    )


def _as_json(line: StudyOverview) -> dict[str, Any]:
    data = asdict(line)
    data["due_at"] = line.due_at.isoformat() if line.due_at else None
    return data
