"""What inference hands to the rest of Cervi: plain, frozen result types (no torch, no arrays).

``dicom_node`` (SR builder) and ``cervi`` (pipeline, API) import these and nothing else from
``inference``'s internals; the vocabulary they share (views, labels and their codes) is
re-exported here from :mod:`inference.labels`. :class:`StudyPrediction` is what
``inference.runtime.CerviRuntime`` returns; :class:`UnreadableImage` is what it raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inference.labels import CODING_SCHEME, LABEL_CODES, LABELS, VIEWS, View
from inference.measurements import KINDS, Measurement, MeasurementKind

__all__ = [
    "CODING_SCHEME",
    "KINDS",
    "LABELS",
    "LABEL_CODES",
    "VIEWS",
    "LabelPrediction",
    "Measurement",
    "MeasurementKind",
    "ModelIdentity",
    "RegionOfInterest",
    "StudyPrediction",
    "UnreadableImage",
    "View",
]


@dataclass(frozen=True)
class RegionOfInterest:
    """The upper cervical region found in one view, in pixel coordinates of the source image
    (column x, row y, origin at the top-left pixel's corner, as DICOM SCOORD)."""

    view: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)
    view_from_image: str | None = None  # the view the image itself suggests, if estimated
    # the ROI network's view probabilities for this image
    view_probabilities: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelPrediction:
    """One label's probability and decision, with the code the model file gives the label
    (``cervi.codes``; the defaults of :data:`LABEL_CODES` where the file names none)."""

    key: str  # e.g. "atlantoaxial_instability" (DESIGN.md label table)
    probability: float
    threshold: float
    code: str = ""  # code value in CODING_SCHEME
    meaning: str = ""

    def __post_init__(self) -> None:
        default = LABEL_CODES.get(self.key, (self.key, self.key.replace("_", " ")))
        if not self.code:
            object.__setattr__(self, "code", default[0])
        if not self.meaning:
            object.__setattr__(self, "meaning", default[1])

    @property
    def present(self) -> bool:
        return self.probability >= self.threshold


@dataclass(frozen=True)
class ModelIdentity:
    name: str  # e.g. "CerviHFENet"
    version: str
    sha256: str  # of the model file(s)
    demo: bool = True  # trained on phantoms: not for diagnostic use


@dataclass(frozen=True)
class StudyPrediction:
    """One study's result: a prediction per label, the views used, the ROI of each view, the
    model's identity, and the measurements the network read (mm, degrees) with the lines they
    are measured between (:mod:`inference.measurements`)."""

    labels: tuple[LabelPrediction, ...]
    views_used: tuple[str, ...]
    regions: dict[str, RegionOfInterest]
    model: ModelIdentity
    measurements: tuple[Measurement, ...] = ()

    @property
    def probabilities(self) -> dict[str, float]:
        return {label.key: label.probability for label in self.labels}

    @property
    def findings(self) -> dict[str, bool]:
        return {label.key: label.present for label in self.labels}

    def probability(self, key: str) -> float:
        for label in self.labels:
            if label.key == key:
                return label.probability
        raise KeyError(key)

    def to_json(self, study_uid: str) -> dict[str, Any]:
        """The ``cervi predict --json`` object for this study."""
        return {
            "study_uid": study_uid,
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "findings": self.findings,
            "views_used": list(self.views_used),
            "roi": {
                view: {
                    "box": [round(v, 1) for v in region.box],
                    "landmarks": {k: list(p) for k, p in region.landmarks.items()},
                    "view": region.view_from_image,
                    "view_probabilities": region.view_probabilities,
                }
                for view, region in self.regions.items()
            },
            "measurements": {m.name: round(m.value, 2) for m in self.measurements},
            "model": {"name": self.model.name, "version": self.model.version},
        }


class UnreadableImage(Exception):
    """A view's pixel data cannot be decoded or used; ``view`` names it when known. The study is
    then reported "not analysed: unreadable view"."""

    def __init__(self, message: str, view: str | None = None) -> None:
        super().__init__(message)
        self.view = view
