"""Ranking metrics without scikit-learn: ROC AUC, average precision, curves, thresholds."""

from __future__ import annotations

import numpy as np


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at each distinct threshold (descending), and the thresholds."""
    y = np.asarray(y, dtype=np.float64)
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    s, y = np.asarray(score, dtype=np.float64)[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    pos, neg = max(y.sum(), 1e-12), max(len(y) - y.sum(), 1e-12)
    return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos], np.r_[np.inf, s[last]]


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN when only one class is present."""
    y = np.asarray(y)
    if y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct threshold, descending score."""
    fpr, tpr, _ = roc_curve(y, score)
    pos = float(np.sum(y))
    neg = len(y) - pos
    tp, fp = tpr[1:] * pos, fpr[1:] * neg
    precision = tp / np.maximum(tp + fp, 1e-12)
    return precision, tpr[1:]


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision: sum of recall increase x precision; NaN without positives."""
    if np.sum(y) == 0:
        return float("nan")
    precision, recall = precision_recall_curve(y, score)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def youden_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The threshold maximising sensitivity + specificity - 1 (0.5 unless both classes occur).

    Placed halfway between the lowest score it calls positive and the next lower score, not on
    that case itself, so that a case just below the last positive is not called positive.
    """
    if np.min(y) == np.max(y):
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, score)
    best = int(np.argmax(tpr[1:] - fpr[1:])) + 1
    if best + 1 < len(thresholds):
        return float((thresholds[best] + thresholds[best + 1]) / 2)
    return float(thresholds[best])


def fit_platt(
    y: np.ndarray, logits: np.ndarray, prior: float = 1.0, iterations: int = 50
) -> tuple[float, float]:
    """Platt scaling: ``(scale, bias)`` so that ``sigmoid(scale * logit + bias)`` is a calibrated
    probability on ``y``. A Gaussian prior of weight ``prior`` pulls towards (1, 0), so that few
    positives or a perfect separation do not give an extreme fit; the scale stays positive (the
    ranking, hence AUC and AP, is unchanged)."""
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64)
    w = np.array([1.0, 0.0])
    x = np.stack([z, np.ones_like(z)], axis=1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + prior * (w - [1.0, 0.0])
        hess = (x * (p * (1 - p))[:, None]).T @ x + prior * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.abs(step).max() < 1e-8:
            break
    return max(float(w[0]), 0.05), float(w[1])


def label_metrics(y: np.ndarray, score: np.ndarray, labels: tuple[str, ...]) -> dict[str, object]:
    """``mean_auc``, ``mean_ap`` and ``per_label`` {auc, ap, positives} for (N, L) arrays."""
    per_label: dict[str, dict[str, float]] = {}
    for i, name in enumerate(labels):
        per_label[name] = {
            "auc": roc_auc(y[:, i], score[:, i]),
            "ap": average_precision(y[:, i], score[:, i]),
            "positives": int(np.sum(y[:, i])),
        }
    aucs = [v["auc"] for v in per_label.values() if not np.isnan(v["auc"])]
    aps = [v["ap"] for v in per_label.values() if not np.isnan(v["ap"])]
    return {
        "mean_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "mean_ap": float(np.mean(aps)) if aps else float("nan"),
        "per_label": per_label,
        "studies": int(y.shape[0]),
    }
