"""``cervi config check``: validate the settings and print the effective values, secrets masked."""

from __future__ import annotations

import argparse

import yaml

from cervi.cli import add_config_option
from cervi.settings import resolve_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="inspect the settings")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate and print the effective settings")
    add_config_option(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    settings, source = resolve_settings(args.config)
    print(f"# effective settings from {source} and CERVI_* environment variables")
    print(yaml.safe_dump(settings.masked(), sort_keys=False), end="")
    return 0
