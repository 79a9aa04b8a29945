"""The service's inference: onnxruntime sessions (created once) for the ROI network and CerviHFENet.

No torch. ``CerviRuntime(classifier_path, roi_path, threads)`` loads both files and their metadata;
``analyse_datasets({view: dataset})`` or ``analyse({view: PixelImage})`` runs ROI detection on every
view in one batch, cuts each view's crop around the detected region, and runs the classifier once
with missing views masked. ``detect`` alone also tells the view of an image no header rule named.
With ``shift_px``, the classifier also sees the crops moved by that many pixels in four directions
and the probabilities are averaged (test-time augmentation; the landmarks stay those of the
unshifted crop). Results are :class:`inference.result.StudyPrediction`, with each label's threshold
and code from the model file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from inference.domain import DomainModel, agreement_mm, landmark_distances
from inference.labels import CROP_POINTS, LANDMARKS, VIEWS
from inference.measurements import report
from inference.preprocess import PixelImage, preprocess
from inference.result import (
    LabelPrediction,
    ModelIdentity,
    RegionOfInterest,
    StudyPrediction,
    UnreadableImage,
)
from inference.roi import (
    CropFrame,
    Geometry,
    RoiDetection,
    classifier_crop,
    decode_roi,
    letterbox,
)

# chosen on the validation split of model 0.4.0's first run (--validation-of 0 --shift-px N):
# mean AP 0.985 with one pass, 0.987 at 2 px, 0.989 at 3, 0.988 at 4, 0.990 at 5, 0.989 at 6
TEST_TIME_SHIFT_PX = 5


class ModelFileError(Exception):
    """A model file is missing, unreadable, or not the kind of network it should be."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself (its ``cervi.*`` metadata) and its identity."""

    path: Path
    name: str
    kind: str
    version: str
    sha256: str
    labels: tuple[str, ...]
    codes: dict[str, dict[str, str]]
    thresholds: dict[str, float]
    geometry: Geometry
    intended_use: str
    metadata: dict[str, str] = field(repr=False)
    domain: DomainModel | None = field(default=None, repr=False)  # the gate (cervi.domain)

    @property
    def identity(self) -> ModelIdentity:
        """The file's account of itself as results carry it: a model whose intended use does
        not say otherwise is a demo (not for diagnostic use)."""
        use = self.intended_use.lower()
        return ModelIdentity(
            self.name, self.version, self.sha256, demo="not for diagnostic" in use or not use
        )

    def label(self, key: str, probability: float) -> LabelPrediction:
        """A label's prediction with this file's threshold and code for it."""
        code = self.codes.get(key, {})
        return LabelPrediction(
            key,
            probability,
            self.thresholds.get(key, 0.5),
            code=code.get("value", ""),
            meaning=code.get("meaning", ""),
        )


def read_model_info(path: Path, session: Any, kind: str) -> ModelInfo:
    """Metadata of an onnxruntime session's model file; checks that it is a ``kind`` network."""
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get("cervi.kind") != kind:
        raise ModelFileError(
            f"{path}: not a Cervi {kind} model (cervi.kind={meta.get('cervi.kind')})"
        )
    try:
        labels = tuple(json.loads(meta["cervi.labels"]))
        return ModelInfo(
            path=path,
            name=path.stem,
            kind=kind,
            version=meta["cervi.version"],
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            labels=labels,
            codes=json.loads(meta.get("cervi.codes", "{}")),
            thresholds={k: float(v) for k, v in json.loads(meta["cervi.thresholds"]).items()},
            geometry=Geometry.from_json(meta["cervi.geometry"]),
            intended_use=meta.get("cervi.intended_use", ""),
            metadata=meta,
            domain=DomainModel.from_json(meta["cervi.domain"]) if "cervi.domain" in meta else None,
        )
    except (KeyError, ValueError, TypeError) as exc:  # DomainModelError is a ValueError
        raise ModelFileError(f"{path}: incomplete cervi metadata: {exc}") from exc


class CerviRuntime:
    """Both networks, loaded once; safe to call from one worker thread at a time per instance."""

    def __init__(
        self,
        classifier_path: Path | str,
        roi_path: Path | str,
        threads: int = 2,
        shift_px: int = TEST_TIME_SHIFT_PX,
    ) -> None:
        from inference._onnxruntime import load_onnxruntime

        ort = load_onnxruntime()

        # test-time augmentation: the classifier also sees each study's crops moved by this many
        # pixels left, right, up and down, and the probabilities are averaged (0: one pass)
        self.shift_px = shift_px
        self.shifts = [(0, 0)] + (
            [(shift_px, 0), (-shift_px, 0), (0, shift_px), (0, -shift_px)] if shift_px else []
        )

        options = ort.SessionOptions()
        self.threads = threads
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions = []
        for path in (Path(classifier_path), Path(roi_path)):
            if not path.is_file():
                raise ModelFileError(f"{path}: model file not found")
            try:
                sessions.append(
                    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelFileError(f"{path}: cannot load: {exc}") from exc
        self._classifier, self._roi = sessions
        self._classifier_outputs = [o.name for o in self._classifier.get_outputs()]
        self.model = read_model_info(Path(classifier_path), self._classifier, "classifier")
        self.roi_model = read_model_info(Path(roi_path), self._roi, "roi")
        if self.model.geometry.spacing_mm != self.roi_model.geometry.spacing_mm:
            raise ModelFileError("the classifier and ROI models were trained at different spacings")
        self.geometry = self.model.geometry
        self.domain = self.model.domain
        if self.domain is not None and "features" not in self._classifier_outputs:
            raise ModelFileError(f"{classifier_path}: cervi.domain without a 'features' output")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    def preprocess(self, ds: Dataset) -> PixelImage:
        """The dataset's pixels at the models' input spacing (raises :class:`UnreadableImage`)."""
        return preprocess(ds, self.geometry.spacing_mm)

    def detect(self, images: Sequence[PixelImage]) -> list[RoiDetection]:
        """ROI, landmarks and view probabilities of each image, in one batch."""
        if not images:
            return []
        size = self.roi_model.geometry.roi_input
        squares, boxes = zip(*(letterbox(im.pixels, size) for im in images), strict=True)
        batch = np.stack(squares)[:, None].astype(np.float32)
        box, points, view_logits = self._roi.run(None, {"image": batch})
        return [decode_roi(box[i], points[i], view_logits[i], boxes[i]) for i in range(len(images))]

    def analyse(self, images: Mapping[str, PixelImage]) -> StudyPrediction:
        """ROI detection and classification of a study's views (keys from ``VIEWS``), with the
        domain gate's score of each view when the classifier file carries a gate."""
        return self.analyse_measured(images)[0]

    def analyse_measured(
        self, images: Mapping[str, PixelImage]
    ) -> tuple[StudyPrediction, dict[str, tuple[np.ndarray, np.ndarray, float]]]:
        """:meth:`analyse`, and what the domain gate measured on each view (for fitting it:
        ``inference.domain.fit_domain``); empty without the classifier's ``features`` output."""
        unknown = set(images) - set(VIEWS)
        if unknown or not images:
            raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {sorted(images)}")
        order = [v for v in VIEWS if v in images]
        detections = dict(zip(order, self.detect([images[v] for v in order]), strict=True))
        p, n = self.geometry.crop_px, len(self.shifts)
        views = np.zeros((n, len(VIEWS), 1, p, p), np.float32)
        mask = np.zeros((n, len(VIEWS)), np.float32)
        frames: dict[str, CropFrame] = {}
        for v, view in enumerate(VIEWS):
            if view not in images:
                continue
            for k, shift in enumerate(self.shifts):
                centre = detections[view].landmarks_xy + np.array(shift, np.float64)
                crop, frame = classifier_crop(images[view].pixels, centre, p)
                views[k, v, 0], mask[k, v] = crop, 1.0
                if k == 0:  # the unshifted crop gives the landmarks
                    frames[view] = frame
        outputs = dict(
            zip(
                self._classifier_outputs,
                self._classifier.run(None, {"views": views, "mask": mask}),
                strict=True,
            )
        )
        # in float64 from the logits: float32's sigmoid is exactly 0 below a logit of about -88,
        # and a report must not say 0 % (nor show OHIF's empty value for it)
        logits = np.clip(outputs["logits"].astype(np.float64), -700.0, 700.0)
        probabilities = (1.0 / (1.0 + np.exp(-logits))).mean(axis=0, keepdims=True)
        landmarks = outputs["landmarks"]
        if outputs.get("measurements") is not None:
            outputs["measurements"] = outputs["measurements"].mean(axis=0, keepdims=True)
        regions, points = {}, {}
        domain, measured = {}, {}
        features = outputs.get("features")
        for v, view in enumerate(VIEWS):
            if view in images:
                # the classifier's landmarks are finer (crop resolution) than the ROI network's;
                # the measurement points after the six landmarks are for the measurements only
                names = CROP_POINTS[: landmarks.shape[2]]
                fine = frames[view].to_image(landmarks[0, v, : len(names)] * p - 0.5)
                if features is not None:  # the unshifted crop's embedding
                    embedding = features.reshape(n, len(VIEWS), -1)[0, v]
                    measured[view] = self.domain_features(
                        embedding, detections[view].landmarks_xy, fine[: len(LANDMARKS)]
                    )
                    if self.domain is not None:
                        domain[view] = self.domain.score(*measured[view])
                roi = detections[view].in_source(images[view])
                source = images[view].to_source(fine)
                points[view] = {
                    name: (round(float(x), 1), round(float(y), 1))
                    for name, (x, y) in zip(names, source, strict=True)
                }
                regions[view] = RegionOfInterest(
                    view,
                    tuple(roi["box"]),  # type: ignore[arg-type]
                    {name: points[view][name] for name in LANDMARKS},
                    view_from_image=str(roi["view"]),
                    view_probabilities=roi["view_probabilities"],  # type: ignore[arg-type]
                )
        values = self._measurements(outputs.get("measurements"), order)
        spacing = {view: images[view].source_spacing_mm for view in points}
        return StudyPrediction(
            labels=tuple(
                self.model.label(k, float(probabilities[0, i])) for i, k in enumerate(self.labels)
            ),
            views_used=tuple(order),
            regions=regions,
            model=self.model.identity,
            measurements=report(values, points, spacing) if values else (),
            domain=domain,
        ), measured

    def domain_features(
        self, embedding: np.ndarray, roi_xy: np.ndarray, classifier_xy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """What the domain gate measures on one view (see ``inference.domain``): the classifier's
        embedding, the ROI landmarks' pairwise distances in mm, and the two networks' landmark
        agreement in mm (landmarks in preprocessed-image pixels)."""
        mm = self.geometry.spacing_mm
        roi_mm = np.asarray(roi_xy, np.float64) * mm
        return (
            np.asarray(embedding, np.float64),
            landmark_distances(roi_mm),
            agreement_mm(roi_mm, np.asarray(classifier_xy, np.float64) * mm),
        )

    def _measurements(self, values: np.ndarray | None, used: list[str]) -> dict[str, float]:
        """The measurement output in mm and degrees, per-view entries only for views used."""
        scales = json.loads(self.model.metadata.get("cervi.measurements", "{}"))
        if values is None or len(scales) != values.shape[1]:
            return {}
        missing = [v for v in VIEWS if v not in used]
        return {
            name: float(values[0, i]) * scale
            for i, (name, scale) in enumerate(scales.items())
            if not any(name.endswith(f"_{view}") for view in missing)
        }

    def analyse_datasets(self, datasets: Mapping[str, Dataset]) -> StudyPrediction:
        """:meth:`analyse` from DICOM datasets; an unreadable view raises :class:`UnreadableImage`
        naming the view (its ``view``, and the start of its message)."""

        def prepare(item: tuple[str, Dataset]) -> tuple[str, PixelImage]:
            view, ds = item
            try:
                return view, self.preprocess(ds)
            except UnreadableImage as exc:
                raise UnreadableImage(f"{view}: {exc}", view=view) from exc

        # Decoding and resampling are numpy work that releases the GIL: the views in parallel.
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="preprocess") as pool:
            images = dict(pool.map(prepare, datasets.items()))
        return self.analyse(images)
