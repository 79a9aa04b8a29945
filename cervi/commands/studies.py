"""``cervi studies``: what study assembly made of the received studies.

One line per study: its state and result version, the views found and the rule that found
each (superseded repeats in brackets), and when its quiet timer is due. No patient data.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from cervi.cli import add_config_option
from cervi.settings import resolve_settings
from storage.db import make_engine, session_factory
from storage.queries import StudyOverview, study_overview
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
    for line in lines:
        print(json.dumps(_as_json(line)) if args.json else format_line(line))
    if not lines and not args.json:
        print("no studies")
    return 0


def format_line(line: StudyOverview) -> str:
    """``<study uid>  <state> v<version>  <views>  due <time>``, then the reason if any."""
    views = " ".join(
        f"[{v.view}:{v.rule or '-'}]" if v.superseded else f"{v.view}:{v.rule or '-'}"
        for v in line.views
    )
    parts = [line.study_uid, f"{line.state} v{line.version}", views or "no views"]
    if line.ignored:
        parts.append(f"{line.ignored} ignored")
    if line.due_at is not None:
        parts.append(f"due {line.due_at.isoformat(timespec='seconds')}")
    if line.group_uid:
        parts.append(f"in group {line.group_uid}")
    if line.reason:
        parts.append(f"({line.reason})")
    return "  ".join(parts)


def _as_json(line: StudyOverview) -> dict[str, Any]:
    data = asdict(line)
    data["due_at"] = line.due_at.isoformat() if line.due_at else None
    return data
