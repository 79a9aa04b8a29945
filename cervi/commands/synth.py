"""``cervi synth``: write phantom studies (DICOM + truth.json) or a preview contact sheet."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from inference.phantom import STYLE_NAMES, SynthOptions, generate_study, parse_prevalence
from inference.phantom.dataset import MAX_WORKERS, synthesize
from inference.phantom.preview import contact_sheet


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic cervical spine phantom studies with ground truth",
        description=(
            "Writes OUT/<study>/*.dcm (three lateral DX views: extension, neutral, flexion) and "
            "OUT/<study>/truth.json: labels {key: 0|1} (defined in docs/labels.md), "
            "measurements (mm, degrees), landmarks and roi per view (pixels). Same seed, same "
            "bytes."
        ),
    )
    parser.add_argument("--out", type=Path, help="output folder: OUT/<study>/*.dcm + truth.json")
    parser.add_argument("--studies", type=int, default=10, help="number of studies (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="data set seed (default 0)")
    parser.add_argument(
        "--prevalence",
        default=None,
        help="label prevalence: one number for all, or key=p,key=p (keys as in docs/labels.md)",
    )
    parser.add_argument(
        "--style",
        action="append",
        choices=STYLE_NAMES,
        help="vendor header style (repeatable; default: all)",
    )
    parser.add_argument("--workers", type=int, default=MAX_WORKERS, help="processes (at most 2)")
    parser.add_argument("--scale", type=float, default=1.0, help="image size factor (tests: <1)")
    parser.add_argument("--preview", type=Path, help="write a contact sheet PNG instead")
    parser.add_argument("--list-styles", action="store_true", help="print the style names")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_styles:
        print("\n".join(STYLE_NAMES))
        return 0
    try:
        options = SynthOptions(
            prevalence=parse_prevalence(args.prevalence),
            styles=tuple(args.style or STYLE_NAMES),
            scale=args.scale,
        )
    except ValueError as exc:
        print(f"cervi synth: {exc}", file=sys.stderr)
        return 2
    if args.preview:
        count = min(args.studies, 6)
        studies = [generate_study(args.seed, i, options) for i in range(count)]
        print(f"wrote {contact_sheet(studies, args.preview)}")
        return 0
    if args.out is None:
        print("cervi synth: give --out DIR (or --preview PNG)", file=sys.stderr)
        return 2
    started = time.monotonic()
    manifest = synthesize(args.out, args.studies, args.seed, options, args.workers, _Progress())
    elapsed = time.monotonic() - started
    print(f"wrote {manifest['studies']} studies to {args.out} in {elapsed:.1f} s")
    return 0


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        filled = self.width * done // max(total, 1)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done == total else ""
        print(
            f"\r[{bar}] {done}/{total} {rate:.2f} studies/s", end=end, file=sys.stderr, flush=True
        )
