"""``cervi db upgrade``: bring the results database schema to the newest migration."""

from __future__ import annotations

import argparse

from cervi.cli import add_config_option
from cervi.settings import resolve_settings
from storage.db import current_revision, make_engine, upgrade


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="manage the results database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", help="apply the database migrations")
    add_config_option(up)
    up.set_defaults(func=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    settings, _ = resolve_settings(args.config)
    engine = make_engine(settings.storage.database_url)
    try:
        upgrade(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0
