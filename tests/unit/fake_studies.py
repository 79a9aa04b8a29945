"""Tiny labelled studies in the ``cervi synth`` layout, for tests of the training tools.

Not phantoms: a bright disc marks the region, and the first label is whether a second disc moves
between the views, so a working pipeline can learn it in a few steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from inference.labels import LABELS, LANDMARKS, MEASUREMENT_POINTS, VIEWS
from tests.unit.dicom_factory import make_dx

ROWS, COLS = 96, 80
SPACING = 1.0


def _disc(image: np.ndarray, x: float, y: float, r: float, value: float) -> None:
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    image[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] += value


def write_studies(root: Path, n: int, seed: int = 0) -> list[int]:
    """Write ``n`` studies under ``root``; returns the first label of each. Even-numbered studies
    also carry the measurement points (``truth["points"]``)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    positives = []
    for s in range(n):
        folder = root / f"study{s:03d}"
        folder.mkdir()
        moving = int(rng.random() < 0.5)
        positives.append(moving)
        study_uid = generate_uid()
        cx, cy = rng.uniform(30, 50), rng.uniform(30, 60)
        truth: dict = {"labels": dict.fromkeys(LABELS, 0), "files": {}, "landmarks": {}, "roi": {}}
        truth["labels"][LABELS[0]] = moving
        for v, view in enumerate(VIEWS):
            image = rng.normal(300, 20, (ROWS, COLS))
            _disc(image, cx, cy, 6, 1500)
            offset = (v - 1) * 5.0 * moving
            _disc(image, cx + 10 + offset, cy, 3, 1000)
            ds = make_dx(np.clip(image, 0, 4000), imager_spacing=(SPACING, SPACING))
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = generate_uid()
            name = f"{view}.dcm"
            ds.save_as(folder / name, enforce_file_format=True)
            truth["files"][view] = name
            points = {k: [cx + i, cy - i] for i, k in enumerate(LANDMARKS)}
            points["c1_anterior_arch"] = [cx + 10 + offset, cy]
            truth["landmarks"][view] = points
            truth["roi"][view] = [cx - 12, cy - 12, cx + 12, cy + 12]
            if s % 2 == 0:  # measurement points in every other study, like a partly marked set
                marked = {k: [cx - 3, cy + 2 + i] for i, k in enumerate(MEASUREMENT_POINTS)}
                truth.setdefault("points", {})[view] = marked
        (folder / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return positives
