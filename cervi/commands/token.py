"""``cervi token new|hash``: API tokens and the SHA-256 digests that ``api.tokens`` keeps."""

from __future__ import annotations

import argparse
import sys

import yaml

from cervi.auth import Role, hash_token, new_token


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("token", help="make API tokens and their digests")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="a new random token and its api.tokens entry")
    new.add_argument("--name", required=True, help="who uses it (shown in the audit)")
    new.add_argument("--role", choices=[r.value for r in Role], default=Role.READER.value)
    new.set_defaults(func=run_new)
    digest = actions.add_parser(
        "hash", help="the digest of a token read from stdin (one line) for api.tokens[].sha256"
    )
    digest.set_defaults(func=run_hash)


def run_new(args: argparse.Namespace) -> int:
    token = new_token()
    entry = [{"name": args.name, "role": args.role, "sha256": hash_token(token)}]
    print(f"token (give it to {args.name}; it is not stored): {token}", file=sys.stderr)
    print("# add under api.tokens:")
    print(yaml.safe_dump(entry, sort_keys=False), end="")
    return 0


def run_hash(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip()
    if not token:
        print("cervi: no token on stdin", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0
