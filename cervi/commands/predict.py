"""``cervi predict DIR --json``: run the models on the DICOM files under a folder, per study.

Files are grouped by StudyInstanceUID. Views are told by the image (the ROI network's view head,
assigned jointly so that a study's images get distinct views): the header rules of the service's
study assembly are not applied here. Each view's domain-gate distance and decision is printed; a
study with a view outside the model's training domain gets no probabilities.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from cervi.cli import CommandError, add_model_options, open_runtime


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="run the models on a folder of DICOM files")
    parser.add_argument("folder", type=Path, help="folder searched recursively for *.dcm")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per study (the default)"
    )
    add_model_options(parser)
    parser.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    import pydicom

    from inference.result import UnreadableImage
    from inference.roi import assign_views

    if not args.folder.is_dir():
        raise CommandError(f"{args.folder}: no such folder")
    paths = sorted(args.folder.rglob("*.dcm"))
    if not paths:
        raise CommandError(f"{args.folder}: no *.dcm files in it or below it; nothing to do")
    runtime = open_runtime(args)
    studies: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        studies[str(header.get("StudyInstanceUID", path.parent.name))].append(path)
    failures = 0
    for study_uid, paths in studies.items():
        result: dict[str, Any]
        try:
            images = [runtime.preprocess(pydicom.dcmread(p)) for p in paths]
            views = assign_views([d.view_probabilities for d in runtime.detect(images)])
            chosen = {v: im for v, im in zip(views, images, strict=True) if v is not None}
            # status "analysed", or "not_analysed" when the domain gate refused a view; the
            # gate's distance and decision per view either way
            result = runtime.analyse(chosen).to_json(study_uid)
        except UnreadableImage as exc:
            failures += 1
            result = {
                "study_uid": study_uid,
                "status": "not_analysed",
                "reason": f"unreadable view: {exc}",
            }
        print(json.dumps(result), flush=True)
    return 1 if failures else 0
