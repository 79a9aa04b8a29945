"""The ``cervi`` command line: one sub-command module per concern in ``cervi/commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cervi.settings import SettingsError

# Each module has ``register(subparsers)``; the parser it adds sets ``func(args) -> int``.
COMMAND_MODULES = (
    "cervi.commands.serve",
    "cervi.commands.config",
    "cervi.commands.token",
    "cervi.commands.db",
    "cervi.commands.studies",
    "cervi.commands.results",
    "cervi.commands.synth",
    "cervi.commands.demo",
    "cervi.commands.train",
    "cervi.commands.evaluate",
    "cervi.commands.export",
    "cervi.commands.predict",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cervi", description="DICOM-native AI for dynamic cervical spine radiographs."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


class CommandError(Exception):
    """A failure the user can fix (a busy port, a missing model or folder): ``main`` prints the
    message as one line naming the cause, no traceback, and exits with status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SettingsError, CommandError) as exc:
        print(f"cervi {args.command}: {exc}", file=sys.stderr)
        return 2


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default=None,
        help="settings file (YAML); default: ./config.yaml if present",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` and ``--roi-model``, overriding the settings' ``inference`` files."""
    parser.add_argument(
        "--model", type=Path, default=None, help="classifier ONNX (default: settings)"
    )
    parser.add_argument("--roi-model", type=Path, default=None, help="ROI ONNX (default: settings)")
    add_config_option(parser)


def open_runtime(args: argparse.Namespace, shift_px: int | None = None) -> Any:
    """The :class:`inference.runtime.CerviRuntime` that :func:`add_model_options` chose;
    ``shift_px`` overrides its test-time shift."""
    from cervi.settings import resolve_settings
    from inference.runtime import (  # onnxruntime: only here
        TEST_TIME_SHIFT_PX,
        CerviRuntime,
        ModelFileError,
    )

    settings, _ = resolve_settings(args.config)
    try:
        return CerviRuntime(
            args.model or settings.inference.model,
            args.roi_model or settings.inference.roi_model,
            settings.inference.threads,
            TEST_TIME_SHIFT_PX if shift_px is None else shift_px,
        )
    except ModelFileError as exc:
        raise CommandError(f"cannot load the model: {exc}") from None
