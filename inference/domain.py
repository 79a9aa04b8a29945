"""The domain gate: how far one view lies from the views the networks were trained on (no torch).

A network trained on phantoms answers confidently on anything; the gate decides, per view, whether
its answer may be reported at all. Three measures of one view, each a distance from the same
measure on in-domain (validation) views, each divided by its own 99th percentile there:

- ``appearance``: Mahalanobis distance of the classifier's per-view embedding (the encoder's
  pooled features and the landmark geometry behind them, ``features`` output, 64 values) to
  their mean over the validation views. What the classifier "sees" in the crop.
- ``geometry``: Mahalanobis distance of the ROI network's six landmarks, as the 15 distances
  between them in mm, to the validation views' (a plausible occiput-C1-C2 skeleton, at the
  model's spacing: not a face, not a knee, not a film at twice the size).
- ``agreement``: median distance in mm between the ROI network's six landmarks (whole image)
  and the classifier's (its crop), two networks that agree to a millimetre or two on phantoms.

The view's ``distance`` is the largest of the three ratios; it passes when ``distance <=
threshold``. The statistics (means, shrunk inverse covariances, percentiles) and the threshold
are fitted on the validation split by ``cervi evaluate --validation-of`` and travel in the
classifier file as ``cervi.domain`` (JSON). The threshold is chosen out of fold: the validation
studies are split in two, each half scored with statistics fitted on the other, and the
threshold is the ``PASS_QUANTILE`` point of those scores, so at least 99 % of in-domain views pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.result import DomainScore

COMPONENTS = ("appearance", "geometry", "agreement")
PASS_QUANTILE = 0.995  # out of fold: leaves room above the 99 % of in-domain views that must pass
COMPONENT_QUANTILE = 0.99  # each measure is divided by its own 99th percentile in domain
SHRINKAGE = 0.1  # covariance shrunk towards its diagonal: 64 features, a few hundred views


class DomainModelError(ValueError):
    """A ``cervi.domain`` entry that cannot be read."""


def landmark_distances(points_mm: np.ndarray) -> np.ndarray:
    """The distances between all pairs of landmarks (K, 2) in mm, (K * (K - 1) / 2,)."""
    p = np.asarray(points_mm, np.float64)
    i, j = np.triu_indices(len(p), k=1)
    return np.linalg.norm(p[i] - p[j], axis=-1)


def agreement_mm(roi_mm: np.ndarray, classifier_mm: np.ndarray) -> float:
    """Median distance in mm between the two networks' landmarks of one view."""
    diff = np.asarray(roi_mm, np.float64) - np.asarray(classifier_mm, np.float64)
    return float(np.median(np.linalg.norm(diff, axis=-1)))


@dataclass(frozen=True)
class _Gaussian:
    """Mean and shrunk inverse covariance of a feature vector; distances in its metric."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> _Gaussian:
        x = np.asarray(x, np.float64)
        mean = x.mean(axis=0)
        cov = np.cov(x - mean, rowvar=False).reshape(x.shape[1], x.shape[1])
        diag = np.diag(np.diag(cov)) + 1e-6 * np.eye(len(mean))
        shrunk = (1.0 - SHRINKAGE) * cov + SHRINKAGE * diag + 1e-6 * np.eye(len(mean))
        return cls(mean, np.linalg.inv(shrunk))

    def distance(self, x: np.ndarray) -> np.ndarray:
        d = np.atleast_2d(np.asarray(x, np.float64)) - self.mean
        return np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", d, self.precision, d), 0.0))


@dataclass(frozen=True)
class DomainModel:
    """The fitted gate (see the module docstring)."""

    appearance: _Gaussian
    geometry: _Gaussian
    scales: dict[str, float]
    threshold: float
    views: int  # in-domain views it was fitted on

    def score(
        self, features: np.ndarray, distances_mm: np.ndarray, agreement: float
    ) -> DomainScore:
        """The gate's answer for one view."""
        raw = {
            "appearance": float(self.appearance.distance(features)[0]),
            "geometry": float(self.geometry.distance(distances_mm)[0]),
            "agreement": float(agreement),
        }
        parts = {k: raw[k] / self.scales[k] for k in COMPONENTS}
        values = [v if np.isfinite(v) else np.inf for v in parts.values()]
        return DomainScore(float(max(values)), self.threshold, parts)

    def to_json(self) -> str:
        return json.dumps(
            {
                "components": list(COMPONENTS),
                "appearance": _gaussian_json(self.appearance),
                "geometry": _gaussian_json(self.geometry),
                "scales": self.scales,
                "threshold": self.threshold,
                "views": self.views,
                "pass_quantile": PASS_QUANTILE,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DomainModel:
        try:
            data = json.loads(text)
            return cls(
                appearance=_gaussian_from(data["appearance"]),
                geometry=_gaussian_from(data["geometry"]),
                scales={k: float(data["scales"][k]) for k in COMPONENTS},
                threshold=float(data["threshold"]),
                views=int(data["views"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DomainModelError(f"cervi.domain: {exc}") from exc


def _gaussian_json(g: _Gaussian) -> dict[str, Any]:
    return {"mean": g.mean.tolist(), "precision": g.precision.tolist()}


def _gaussian_from(data: dict[str, Any]) -> _Gaussian:
    mean = np.asarray(data["mean"], np.float64)
    precision = np.asarray(data["precision"], np.float64)
    if precision.shape != (len(mean), len(mean)):
        raise ValueError("precision and mean sizes differ")
    return _Gaussian(mean, precision)


def fit_domain(
    features: np.ndarray, distances_mm: np.ndarray, agreement: np.ndarray, groups: np.ndarray
) -> tuple[DomainModel, dict[str, Any]]:
    """Fit the gate on in-domain views (one row each; ``groups``: the study of each view) and
    choose its threshold out of fold. Returns the model and a summary of the fit."""
    features = np.asarray(features, np.float64)
    distances_mm = np.asarray(distances_mm, np.float64)
    agreement = np.asarray(agreement, np.float64)
    studies = np.unique(groups)
    if len(studies) < 2:
        raise ValueError("the domain gate needs the views of at least two studies")
    half = np.isin(groups, studies[::2])
    raw = {k: np.zeros(len(features)) for k in COMPONENTS}
    raw["agreement"] = agreement
    for fit_on in (half, ~half):
        scored = ~fit_on
        raw["appearance"][scored] = _Gaussian.fit(features[fit_on]).distance(features[scored])
        raw["geometry"][scored] = _Gaussian.fit(distances_mm[fit_on]).distance(distances_mm[scored])
    scales = {k: float(np.quantile(raw[k], COMPONENT_QUANTILE)) for k in COMPONENTS}
    combined = np.max(np.stack([raw[k] / scales[k] for k in COMPONENTS]), axis=0)
    threshold = float(np.quantile(combined, PASS_QUANTILE))
    model = DomainModel(
        appearance=_Gaussian.fit(features),
        geometry=_Gaussian.fit(distances_mm),
        scales=scales,
        threshold=threshold,
        views=len(features),
    )
    summary = {
        "views": len(features),
        "studies": len(studies),
        "threshold": threshold,
        "scales": scales,
        "out_of_fold_pass_rate": float(np.mean(combined <= threshold)),
    }
    return model, summary
