"""The domain gate's statistics (inference.domain): fitted on in-domain views, it passes at least
99 % of fresh in-domain views and refuses views unlike them, whichever of its measures differs."""

from __future__ import annotations

import numpy as np
import pytest

from inference.domain import (
    COMPONENTS,
    DomainModel,
    DomainModelError,
    agreement_mm,
    fit_domain,
    landmark_distances,
)


def _views(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-domain views: correlated 16-value embeddings, a jittered six-point skeleton's 15
    distances, agreement of about a millimetre."""
    mixing = np.random.default_rng(99).normal(size=(16, 16))
    features = rng.normal(size=(n, 16)) @ mixing
    skeleton = np.array([[0, 0], [10, 5], [30, 8], [35, 25], [20, 30], [50, -10]], float)
    distances = np.stack(
        [
            landmark_distances(skeleton + rng.normal(scale=1.0, size=skeleton.shape))
            for _ in range(n)
        ]
    )
    agreement = np.abs(rng.normal(1.0, 0.3, size=n))
    return features, distances, agreement


@pytest.fixture(scope="module")
def gate() -> DomainModel:
    rng = np.random.default_rng(0)
    features, distances, agreement = _views(rng, 720)
    model, summary = fit_domain(features, distances, agreement, np.arange(720) // 3)
    assert summary["out_of_fold_pass_rate"] >= 0.99
    assert summary["studies"] == 240
    return model


def test_fresh_in_domain_views_pass(gate: DomainModel) -> None:
    features, distances, agreement = _views(np.random.default_rng(1), 2000)
    passed = [
        gate.score(f, d, a).in_domain
        for f, d, a in zip(features, distances, agreement, strict=True)
    ]
    assert np.mean(passed) >= 0.99


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_view_unlike_the_domain_is_refused_by_each_measure(
    gate: DomainModel, component: str
) -> None:
    features, distances, agreement = (x[0] for x in _views(np.random.default_rng(2), 1))
    assert gate.score(features, distances, agreement).in_domain
    if component == "appearance":
        features = features + 40.0  # a texture the encoder never saw
    elif component == "geometry":
        distances = distances * 2.0  # the same skeleton at twice the size
    else:
        agreement = 12.0  # the two networks disagree by a centimetre
    answer = gate.score(features, distances, agreement)
    assert not answer.in_domain
    assert max(answer.parts, key=answer.parts.__getitem__) == component
    assert answer.to_json()["in_domain"] is False


def test_a_non_finite_measure_is_refused(gate: DomainModel) -> None:
    features, distances, _ = (x[0] for x in _views(np.random.default_rng(3), 1))
    assert not gate.score(features, distances, float("nan")).in_domain


def test_json_round_trip(gate: DomainModel) -> None:
    again = DomainModel.from_json(gate.to_json())
    features, distances, agreement = (x[0] for x in _views(np.random.default_rng(4), 1))
    assert again.score(features, distances, agreement) == gate.score(features, distances, agreement)
    with pytest.raises(DomainModelError, match="cervi.domain"):
        DomainModel.from_json('{"threshold": 1.0}')


def test_agreement_and_distances() -> None:
    a = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert landmark_distances(a).tolist() == [5.0, 10.0, 5.0]
    assert agreement_mm(a, a + [0.0, 2.0]) == 2.0


def test_too_few_studies() -> None:
    features, distances, agreement = _views(np.random.default_rng(5), 3)
    with pytest.raises(ValueError, match="two studies"):
        fit_domain(features, distances, agreement, np.zeros(3))
