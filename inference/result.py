"""What inference hands to the rest of Cervi: plain, frozen result types (no torch, no arrays).

``dicom_node`` (SR builder) and ``cervi`` (pipeline, API) import these and nothing else from
``inference``'s internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VIEWS = ("extension", "neutral", "flexion")


@dataclass(frozen=True)
class RegionOfInterest:
    """The upper cervical region found in one view, in pixel coordinates of the source image
    (column x, row y, origin at the top-left pixel's corner, as DICOM SCOORD)."""

    view: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)
    view_from_image: str | None = None  # the view the image itself suggests, if estimated


@dataclass(frozen=True)
class LabelPrediction:
    key: str  # e.g. "atlantoaxial_instability" (docs/labels.md)
    probability: float
    threshold: float

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
    labels: tuple[LabelPrediction, ...]
    views_used: tuple[str, ...]
    regions: dict[str, RegionOfInterest]
    model: ModelIdentity

    def probability(self, key: str) -> float:
        for label in self.labels:
            if label.key == key:
                return label.probability
        raise KeyError(key)


class UnreadableImage(Exception):
    """A view's pixel data cannot be decoded or used; the message starts with the view name
    when the runtime knows it. The study is then reported "not analysed: unreadable view"."""
