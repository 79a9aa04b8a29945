"""What inference hands to the rest of Cervi: plain, frozen result types (no torch, no arrays).

``dicom_node`` (SR builder) and ``cervi`` (pipeline, API) import these and nothing else from
``inference``'s internals; the vocabulary they share (views, labels and their codes) is
re-exported here from :mod:`inference.labels`. :class:`StudyPrediction` is what
``inference.runtime.CerviRuntime`` returns; :class:`UnreadableImage` is what it raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from inference.labels import CODING_SCHEME, LABEL_CODES, LABELS, VIEWS, View
from inference.measurements import KINDS, Measurement, MeasurementKind

__all__ = [
    "CODING_SCHEME",
    "KINDS",
    "DOMAIN_REASON",
    "LABELS",
    "LABEL_CODES",
    "VIEWS",
    "DomainScore",
    "LabelPrediction",
    "Measurement",
    "MeasurementKind",
    "ModelIdentity",
    "RegionOfInterest",
    "StudyPrediction",
    "UnreadableImage",
    "View",
]


# the reason a study with a view outside the model's training domain is not analysed
DOMAIN_REASON = "image outside the model's training domain"


@dataclass(frozen=True)
class DomainScore:
    """The domain gate's answer for one view (``inference.domain``): its distance from the
    views the model was trained on, the model file's threshold, the measures the distance is
    the largest of, and whether the view passes (``distance <= threshold``)."""

    distance: float
    threshold: float
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def in_domain(self) -> bool:
        return math.isfinite(self.distance) and self.distance <= self.threshold

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float) -> float | None:  # JSON has no infinity
            return round(float(value), 3) if math.isfinite(value) else None

        return {
            "distance": rounded(self.distance),
            "threshold": rounded(self.threshold),
            "in_domain": self.in_domain,
            "parts": {k: rounded(v) for k, v in self.parts.items()},
        }


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

    key: str  # e.g. "atlantoaxial_instability" (docs/labels.md)
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
    model's identity, the measurements the network read (mm, degrees) with the lines they are
    measured between (:mod:`inference.measurements`), and the domain gate's
    score of each view (empty when the model file carries no gate). A study with a view outside
    the domain (:attr:`outside_domain`) must not be reported: its labels mean nothing."""

    labels: tuple[LabelPrediction, ...]
    views_used: tuple[str, ...]
    regions: dict[str, RegionOfInterest]
    model: ModelIdentity
    measurements: tuple[Measurement, ...] = ()
    domain: dict[str, DomainScore] = field(default_factory=dict)

    @property
    def outside_domain(self) -> tuple[str, ...]:
        """The views the domain gate refused, in ``VIEWS`` order."""
        return tuple(v for v in VIEWS if v in self.domain and not self.domain[v].in_domain)

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
        """The ``cervi predict --json`` object for this study: ``status`` "analysed", or
        "not_analysed" with the reason and without probabilities, findings and measurements
        when the domain gate refused a view; the gate's score per view either way."""
        head: dict[str, Any] = {"study_uid": study_uid, "status": "analysed"}
        if self.outside_domain:
            head |= {
                "status": "not_analysed",
                "reason": f"{DOMAIN_REASON}: {', '.join(self.outside_domain)}",
            }
        else:
            head |= {
                "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
                "findings": self.findings,
                "measurements": {m.name: round(m.value, 2) for m in self.measurements},
            }
        return head | {
            "domain": {view: score.to_json() for view, score in self.domain.items()},
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
            "model": {"name": self.model.name, "version": self.model.version},
        }


class UnreadableImage(Exception):
    """A view's pixel data cannot be decoded or used; ``view`` names it when known. The study is
    then reported "not analysed: unreadable view"."""

    def __init__(self, message: str, view: str | None = None) -> None:
        super().__init__(message)
        self.view = view
