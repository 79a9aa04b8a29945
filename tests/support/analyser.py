"""An in-memory :class:`cervi.pipeline.Analyser` for tests whose subject is not the model:
fixed probabilities, an ROI box per view, a domain score per view (``outside``: the view the
gate refuses), optional failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydicom import Dataset

from inference.result import (
    DomainScore,
    LabelPrediction,
    ModelIdentity,
    RegionOfInterest,
    StudyPrediction,
    UnreadableImage,
)
from tests.support.results import measurements

LABELS = {
    "atlantoaxial_instability": 0.91,
    "atlantoaxial_dislocation": 0.04,
    "basilar_invagination": 0.12,
    "os_odontoideum": 0.07,
    "atlas_assimilation": 0.55,
    "c2_c3_fusion": 0.30,
}
IDENTITY = ModelIdentity("CerviHFENet-test", "0.0.1-test", "ab" * 32, demo=True)


class FixedAnalyser:
    def __init__(
        self,
        unreadable: str | None = None,
        fail: bool = False,
        outside: str | None = None,
        naming_fails: bool = False,
    ) -> None:
        self.unreadable = unreadable
        self.outside = outside
        self.fail = fail
        # As the runtime does when one of the images it is to name cannot be decoded.
        self.naming_fails = naming_fails
        self.calls: list[tuple[str, ...]] = []

    @property
    def identity(self) -> ModelIdentity:
        return IDENTITY

    def name_views(self, datasets: Sequence[Dataset], free: Sequence[str]) -> list[str | None]:
        """The free views in order, as a view head that is always sure."""
        if self.naming_fails:
            raise UnreadableImage("image 2: pixel data cannot be decoded")
        return [free[i] if i < len(free) else None for i in range(len(datasets))]

    def predict(self, datasets: Mapping[str, Dataset]) -> StudyPrediction:
        self.calls.append(tuple(sorted(datasets)))
        if self.unreadable in datasets:
            raise UnreadableImage(
                f"{self.unreadable}: pixel data cannot be decoded", view=self.unreadable
            )
        if self.fail:
            raise RuntimeError("model exploded")
        regions = {
            view: RegionOfInterest(view, (8.0, 10.0, 40.0, 50.0), {"dens_tip": (20.0, 22.0)})
            for view in datasets
        }
        return StudyPrediction(
            labels=tuple(LabelPrediction(k, p, 0.5) for k, p in LABELS.items()),
            views_used=tuple(v for v in ("extension", "neutral", "flexion") if v in datasets),
            regions=regions,
            model=IDENTITY,
            measurements=measurements({view: (8.0, 10.0, 40.0, 50.0) for view in datasets}),
            domain={
                view: DomainScore(4.5 if view == self.outside else 0.5, 1.1, {"geometry": 4.5})
                for view in datasets
            },
        )
