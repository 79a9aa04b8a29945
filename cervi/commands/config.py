"""``cervi config check``: validate the settings, print the effective values (secrets masked)
and name every open setting (``--strict``: exit 1 when there is any)."""

from __future__ import annotations

import argparse
import sys

import yaml

from cervi.cli import add_config_option
from cervi.exposure import open_settings
from cervi.settings import resolve_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="inspect the settings")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate and print the effective settings")
    add_config_option(check)
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a setting is open (see the warnings on stderr)",
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    settings, source = resolve_settings(args.config)
    print(f"# effective settings from {source} and CERVI_* environment variables")
    print(yaml.safe_dump(settings.masked(), sort_keys=False), end="")
    findings = open_settings(settings)
    for finding in findings:
        print(f"cervi: warning: {finding}", file=sys.stderr)
    return 1 if findings and args.strict else 0
