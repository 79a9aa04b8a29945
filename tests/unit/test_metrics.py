"""inference.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.metrics import (
    average_precision,
    fit_platt,
    label_metrics,
    roc_auc,
    youden_threshold,
)


def test_auc_perfect_inverted_and_tied() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(y, np.full(4, 0.5)) == pytest.approx(0.5)
    # one positive below one negative: 3 of 4 pairs ordered
    assert roc_auc(y, np.array([0.1, 0.7, 0.6, 0.9])) == pytest.approx(0.75)
    assert math.isnan(roc_auc(np.zeros(3), np.arange(3)))


def test_average_precision_by_hand() -> None:
    y = np.array([1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.1])
    # ranks: P(1)=1 at recall .5, P(3)=2/3 at recall 1 -> 0.5*1 + 0.5*2/3
    assert average_precision(y, score) == pytest.approx(0.5 + 1 / 3)


def test_youden_threshold_separates() -> None:
    y = np.array([0, 0, 1, 1])
    # halfway between the lowest positive call and the next lower score
    assert youden_threshold(y, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(0.5)


def test_platt_scaling_calibrates_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(-1.0, 2.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    scale, bias = fit_platt(y, 0.25 * true_logit - 2.0)  # an under-confident, shifted model
    assert scale == pytest.approx(4.0, rel=0.1) and bias == pytest.approx(8.0, rel=0.1)  # truth
    # few cases: the prior keeps the fit near identity, and the scale positive
    few = fit_platt(np.array([0.0, 1.0]), np.array([-0.1, 0.1]))
    assert 0.05 <= few[0] < 3 and abs(few[1]) < 1


def test_label_metrics_means_skip_single_class_labels() -> None:
    y = np.array([[0, 0], [1, 0], [1, 0]])
    score = np.array([[0.1, 0.3], [0.9, 0.2], [0.8, 0.1]])
    metrics = label_metrics(y, score, ("a", "b"))
    assert metrics["mean_auc"] == 1.0
    assert math.isnan(metrics["per_label"]["b"]["auc"])
