"""Labelled studies on disk (``cervi synth`` layout) to the arrays training needs (numpy only).

A study is a folder ``DIR/<study>/`` with its DICOM files and ``truth.json``: ``labels`` {key: 0|1},
``landmarks`` {view: {name: [x, y]}} and ``roi`` {view: [x0, y0, x1, y1]} in source pixels, and the
view of each file (``files`` {view: name}); optionally ``points`` {view: {name: [x, y]}} for the
:data:`~inference.labels.MEASUREMENT_POINTS` and ``measurements``. A site's own labelled studies
use the same layout.
Preparing reads every image once through the same :mod:`inference.preprocess` and
:mod:`inference.roi` code as the runtime and caches the result next to the data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from inference.labels import (
    CROP_POINTS,
    LABELS,
    LANDMARKS,
    MEASUREMENT_POINTS,
    STUDY_MEASUREMENTS,
    VIEW_MEASUREMENTS,
    VIEWS,
    measurement_scales,
)
from inference.preprocess import preprocess
from inference.roi import Geometry, classifier_crop, letterbox

CACHE_VERSION = 4


class DatasetError(Exception):
    """A study folder cannot be used for training or evaluation; the message names it."""


@dataclass(frozen=True)
class StudyRecord:
    """One labelled study: files per view and the truth in source pixels."""

    path: Path
    files: dict[str, Path]
    labels: dict[str, int]
    landmarks: dict[str, np.ndarray]  # view -> (len(LANDMARKS), 2)
    roi: dict[str, np.ndarray]  # view -> (4,)
    measurements: dict[str, float]
    # view -> (len(MEASUREMENT_POINTS), 2), NaN where unknown
    points: dict[str, np.ndarray] = field(default_factory=dict)


def load_study(path: Path) -> StudyRecord:
    """Read ``path/truth.json``; raise :class:`DatasetError` naming what is missing."""
    truth_file = path / "truth.json"
    try:
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{truth_file}: cannot read: {exc}") from exc
    mapping = truth.get("files") or truth.get("views")
    if not isinstance(mapping, dict):
        raise DatasetError(f"{truth_file}: no view -> file mapping ('files')")
    files = {view: path / str(name) for view, name in mapping.items() if view in VIEWS}
    landmarks = {
        view: np.array([points[name] for name in LANDMARKS], dtype=np.float64)
        for view, points in truth.get("landmarks", {}).items()
        if view in files
    }
    roi = {
        view: np.array(box, dtype=np.float64)
        for view, box in truth.get("roi", {}).items()
        if view in files
    }
    points = {
        view: np.array(
            [named.get(name, (np.nan, np.nan)) for name in MEASUREMENT_POINTS], dtype=np.float64
        )
        for view, named in truth.get("points", {}).items()
        if view in files
    }
    labels = {key: int(value) for key, value in truth.get("labels", {}).items()}
    measurements = {
        str(k): float(v)
        for k, v in truth.get("measurements", {}).items()
        if isinstance(v, int | float)
    }
    return StudyRecord(path, files, labels, landmarks, roi, measurements, points)


def measurement_targets(record: StudyRecord) -> tuple[np.ndarray, np.ndarray]:
    """The record's measurements scaled for the network, and 1 where the truth has them."""
    keys = [p.format(view=v) for v in VIEWS for _, p, _ in VIEW_MEASUREMENTS]
    keys += [name for name, _ in STUDY_MEASUREMENTS]
    values = np.array([record.measurements.get(k, np.nan) for k in keys], np.float64)
    present = np.isfinite(values)
    scaled = np.where(present, values, 0.0) / np.array(measurement_scales())
    return scaled.astype(np.float32), present.astype(np.float32)


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices into :func:`find_studies`'s list, shuffled by ``seed``; at
    least one of each when n >= 2 (``cervi train`` splits by its ``--seed``)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(n * fraction)), n - 1) if n >= 2 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def find_studies(root: Path) -> list[StudyRecord]:
    """Every study folder under ``root`` (sorted by name, so splits are reproducible)."""
    folders = sorted(p.parent for p in Path(root).glob("*/truth.json"))
    if not folders:
        raise DatasetError(f"{root}: no study folders with truth.json")
    return [load_study(folder) for folder in folders]


@dataclass
class PreparedSet:
    """Arrays for training. ``roi_*`` are per image, the rest per study.

    ``crops`` are wider than the classifier input by ``2 * jitter`` so that training can shift
    them; ``crop_landmarks`` are in those crops' pixels (centre convention).
    """

    roi_images: np.ndarray  # (M, S, S) float16
    roi_boxes: np.ndarray  # (M, 4) normalised to the square
    roi_landmarks: np.ndarray  # (M, 6, 2) normalised
    roi_views: np.ndarray  # (M,) index in VIEWS
    crops: np.ndarray  # (N, 3, C, C) float16, C = crop_px + 2 * jitter
    crop_landmarks: np.ndarray  # (N, 3, len(CROP_POINTS), 2) crop pixels, NaN where unknown
    mask: np.ndarray  # (N, 3) float32
    labels: np.ndarray  # (N, len(labels)) float32
    jitter: int
    measurements: np.ndarray | None = None  # (N, len(measurement_names())) scaled
    measurement_mask: np.ndarray | None = None  # 1 where the truth has the measurement

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def prepare_study(record: StudyRecord, geometry: Geometry, jitter: int) -> dict[str, np.ndarray]:
    """One study's arrays: its ROI images and targets (present views only) and its crops."""
    s, c = geometry.roi_input, geometry.crop_px + 2 * jitter
    out: dict[str, list] = {"roi_images": [], "roi_boxes": [], "roi_landmarks": [], "roi_views": []}
    crops = np.zeros((len(VIEWS), c, c), np.float16)
    crop_landmarks = np.full((len(VIEWS), len(CROP_POINTS), 2), np.nan, np.float32)
    mask = np.zeros(len(VIEWS), np.float32)
    for v, view in enumerate(VIEWS):
        if view not in record.files or view not in record.roi or view not in record.landmarks:
            continue
        try:
            image = preprocess(pydicom.dcmread(record.files[view]), geometry.spacing_mm)
        except Exception as exc:
            raise DatasetError(f"{record.files[view]}: {exc}") from exc
        square, where = letterbox(image.pixels, s)
        box = image.from_source(record.roi[view].reshape(2, 2))
        points = image.from_source(record.landmarks[view])
        out["roi_images"].append(square.astype(np.float16))
        out["roi_boxes"].append(where.to_normalised(box).reshape(4))
        out["roi_landmarks"].append(where.to_normalised(points))
        out["roi_views"].append(v)
        crops[v], frame = classifier_crop(image.pixels, points, c)
        unknown = np.full((len(MEASUREMENT_POINTS), 2), np.nan)
        extra = image.from_source(record.points.get(view, unknown))
        crop_landmarks[v] = frame.to_crop(np.concatenate([points, extra]))
        mask[v] = 1.0
    return {
        "roi_images": np.array(out["roi_images"], np.float16).reshape(-1, s, s),
        "roi_boxes": np.array(out["roi_boxes"], np.float32).reshape(-1, 4),
        "roi_landmarks": np.array(out["roi_landmarks"], np.float32).reshape(-1, len(LANDMARKS), 2),
        "roi_views": np.array(out["roi_views"], np.int64),
        "crops": crops,
        "crop_landmarks": crop_landmarks,
        "mask": mask,
    }


def prepare(
    records: Sequence[StudyRecord],
    geometry: Geometry,
    labels: Sequence[str] = LABELS,
    jitter: int = 12,
    progress: Callable[[Iterable[StudyRecord]], Iterable[StudyRecord]] | None = None,
    cache: Path | None = None,
) -> PreparedSet:
    """Preprocess every view of every study into a :class:`PreparedSet`.

    With ``cache``, each study's arrays are kept there as ``<study>.npz`` (keyed by the geometry
    and jitter), so that preparing can be resumed and run while studies are still being written.
    """
    parts = []
    for record in progress(records) if progress else records:
        file = cache / f"{record.path.name}.npz" if cache is not None else None
        if file is not None and file.is_file():
            with np.load(file) as data:
                parts.append({k: data[k] for k in data.files})
            continue
        part = prepare_study(record, geometry, jitter)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            # per process: the ROI and classifier stages may prepare the same cache at once
            tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **part)
            tmp.replace(file)
        parts.append(part)
    return PreparedSet(
        **{key: np.concatenate([p[key] for p in parts]) for key in _PER_IMAGE},
        **{key: np.stack([p[key] for p in parts]) for key in _PER_STUDY},
        labels=np.array([[r.labels.get(k, 0) for k in labels] for r in records], np.float32),
        jitter=jitter,
        measurements=np.stack([measurement_targets(r)[0] for r in records]),
        measurement_mask=np.stack([measurement_targets(r)[1] for r in records]),
    )


_PER_IMAGE = ("roi_images", "roi_boxes", "roi_landmarks", "roi_views")
_PER_STUDY = ("crops", "crop_landmarks", "mask")


def cache_folder(root: Path, geometry: Geometry, jitter: int) -> Path:
    """Where :func:`prepare_cached` keeps the per-study arrays of ``root``."""
    key = json.dumps([CACHE_VERSION, geometry.to_json(), jitter]).encode()
    return Path(root) / ".cervi-cache" / hashlib.sha256(key).hexdigest()[:16]


def prepare_cached(
    root: Path,
    geometry: Geometry,
    jitter: int = 12,
    progress: Callable[[Iterable[StudyRecord]], Iterable[StudyRecord]] | None = None,
) -> PreparedSet:
    """:func:`prepare` for every study under ``root``, cached in ``root/.cervi-cache/``."""
    records = find_studies(root)
    return prepare(
        records,
        geometry,
        jitter=jitter,
        progress=progress,
        cache=cache_folder(root, geometry, jitter),
    )
