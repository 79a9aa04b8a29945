"""Evaluation of exported models on labelled studies, end to end through the onnxruntime runtime.

For every study under the data folder: the DICOM files go through exactly the service's path
(preprocess -> ROI -> classifier). Reported: ``mean_auc``, ``mean_ap``, ``per_label``; ROI box IoU
against the truth and the view head's accuracy; and the dynamic-branch ablation: the same studies
with only the neutral view, and with the views shuffled (a random non-identity permutation of the
three images over the extension/neutral/flexion slots, seeded). ``measurements``: the mean
absolute error of every reported measurement (``inference.measurements``) against the truth, in
its unit, with the target it is held to where one is set. The domain gate: the fraction of
views it passes (when the classifier carries one) and, with ``fit_domain_gate``, the gate fitted
on these studies (``inference.domain.fit_domain``; meant for the validation split only).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from inference.dataset import StudyRecord, find_studies
from inference.domain import fit_domain
from inference.labels import VIEWS
from inference.measurements import BY_KEY, truth_value
from inference.metrics import (
    label_metrics,
    precision_recall_curve,
    roc_curve,
    youden_threshold,
)
from inference.preprocess import PixelImage
from inference.roi import box_iou
from inference.runtime import CerviRuntime

_PERMUTATIONS = [p for p in itertools.permutations(range(len(VIEWS))) if p != (0, 1, 2)]
INSTABILITY = "atlantoaxial_instability"
#: What a reader needs the measurements to be good to: the atlantodental interval within 0.5 mm,
#: angles within 2 degrees (mean absolute error on held-out studies).
MAE_TARGETS = {"adi_mm": 0.5, "deg": 2.0}


def evaluate(
    runtime: CerviRuntime,
    data_dir: Path,
    ablation: bool = True,
    seed: int = 0,
    progress: Callable[[Iterable[StudyRecord]], Iterable[StudyRecord]] | None = None,
    only: Sequence[int] | None = None,
    fit_domain_gate: bool = False,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics for the studies under ``data_dir`` (those at positions ``only`` of the sorted
    folders, if given), and the raw arrays (for curves). With ``fit_domain_gate``, the metrics
    also carry ``domain.model``: the gate fitted on these studies' views (JSON)."""
    records = find_studies(data_dir)
    if only is not None:
        records = [records[i] for i in only]
    labels = runtime.labels
    rng = np.random.default_rng(seed)
    y, full, neutral, shuffled, ious = [], [], [], [], []
    view_hits = []
    errors: dict[str, list[float]] = {}
    gate: dict[str, list[Any]] = {"inputs": [], "groups": [], "passed": []}
    for number, record in enumerate(progress(records) if progress else records):
        images = {
            view: runtime.preprocess(pydicom.dcmread(path)) for view, path in record.files.items()
        }
        result, measured = runtime.analyse_measured(images)
        for view, inputs in measured.items():
            gate["inputs"].append(inputs)
            gate["groups"].append(number)
            if view in result.domain:
                gate["passed"].append(result.domain[view].in_domain)
        y.append([record.labels.get(k, 0) for k in labels])
        full.append([result.probabilities[k] for k in labels])
        for view, region in result.regions.items():
            if view in record.roi:
                ious.append(box_iou(np.array(region.box), record.roi[view]))
            view_hits.append(region.view_from_image == view)
        for m in result.measurements:
            truth = truth_value(record.measurements, m.key, m.view)
            if truth is not None:
                errors.setdefault(m.name, []).append(abs(m.value - truth))
        if ablation and set(images) == set(VIEWS):
            only = runtime.analyse({"neutral": images["neutral"]})
            neutral.append([only.probabilities[k] for k in labels])
            shuffled.append(_shuffled(runtime, images, rng, labels))
    y_arr, full_arr = np.array(y, np.float64), np.array(full, np.float64)
    metrics = label_metrics(y_arr, full_arr, labels)
    for i, name in enumerate(labels):
        metrics["per_label"][name].update(
            _operating_point(y_arr[:, i], full_arr[:, i], runtime.model.thresholds[name])
        )
    # what the thresholds would be if chosen on these studies: meant for the validation split
    # (cervi evaluate --validation-of), never to be taken from a test set
    metrics["youden_thresholds"] = {
        name: youden_threshold(y_arr[:, i], full_arr[:, i]) for i, name in enumerate(labels)
    }
    iou = np.array(ious)
    metrics["roi"] = {
        "views": int(iou.size),
        "iou_mean": float(iou.mean()) if iou.size else float("nan"),
        "iou_median": float(np.median(iou)) if iou.size else float("nan"),
        "fraction_iou_ge_0_7": float((iou >= 0.7).mean()) if iou.size else float("nan"),
        "view_accuracy": float(np.mean(view_hits)) if view_hits else float("nan"),
    }
    metrics["measurements"] = measurement_errors(errors)
    metrics["domain"] = _domain(gate, fit_domain_gate)
    arrays = {"labels": y_arr, "probabilities": full_arr}
    if neutral:
        keep = [i for i, r in enumerate(records) if set(r.files) == set(VIEWS)]
        metrics["ablation"] = _ablation(y_arr[keep], full_arr[keep], neutral, shuffled, labels)
    metrics["test_time_shift_px"] = runtime.shift_px
    metrics["model"] = {
        "classifier": {"name": runtime.model.name, "version": runtime.model.version},
        "roi": {"name": runtime.roi_model.name, "version": runtime.roi_model.version},
        "sha256": runtime.model.sha256,
    }
    return metrics, arrays


def measurement_errors(errors: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per measurement name: mean and 95th percentile absolute error, the count, the unit, and
    the target with whether it is met (the ADI within 0.5 mm, angles within 2 degrees)."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(errors, key=_measurement_order):
        values = np.array(errors[name], np.float64)
        key = next(k for k in BY_KEY if name == k or name.startswith(f"{k}_"))
        unit = BY_KEY[key].unit
        target = MAE_TARGETS.get(key, MAE_TARGETS.get(unit))
        entry: dict[str, Any] = {
            "unit": unit,
            "n": int(values.size),
            "mae": float(values.mean()),
            "p95": float(np.percentile(values, 95)),
        }
        if target is not None:
            entry["target"] = target
            entry["met"] = bool(entry["mae"] <= target)
        out[name] = entry
    return out


def _measurement_order(name: str) -> int:
    keys = list(BY_KEY)
    return next(i for i, k in enumerate(keys) if name == k or name.startswith(f"{k}_"))


def _domain(gate: dict[str, list[Any]], fit: bool) -> dict[str, Any]:
    """The gate's pass rate on these views (if the model has a gate) and, with ``fit``, a gate
    fitted on them."""
    out: dict[str, Any] = {"views": len(gate["inputs"])}
    if gate["passed"]:
        out["pass_rate"] = float(np.mean(gate["passed"]))
        out["refused"] = int(len(gate["passed"]) - sum(gate["passed"]))
    if fit:
        if not gate["inputs"]:
            raise ValueError("the classifier has no 'features' output: cannot fit a domain gate")
        features, distances, agreement = zip(*gate["inputs"], strict=True)
        model, summary = fit_domain(
            np.stack(features), np.stack(distances), np.array(agreement), np.array(gate["groups"])
        )
        out["fit"] = summary
        out["model"] = model.to_json()
    return out


def _operating_point(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    """Sensitivity and specificity where the SR says "present": probability >= ``threshold``."""
    called = score >= threshold
    positives, negatives = y == 1, y == 0
    return {
        "threshold": float(threshold),
        "sensitivity": float(called[positives].mean()) if positives.any() else float("nan"),
        "specificity": float((~called[negatives]).mean()) if negatives.any() else float("nan"),
    }


def _shuffled(
    runtime: CerviRuntime,
    images: dict[str, PixelImage],
    rng: np.random.Generator,
    labels: tuple[str, ...],
) -> list[float]:
    permutation = _PERMUTATIONS[rng.integers(len(_PERMUTATIONS))]
    moved = {VIEWS[i]: images[VIEWS[j]] for i, j in enumerate(permutation)}
    result = runtime.analyse(moved)
    return [result.probabilities[k] for k in labels]


def _ablation(
    y: np.ndarray,
    full: np.ndarray,
    neutral: list[list[float]],
    shuffled: list[list[float]],
    labels: tuple[str, ...],
) -> dict[str, Any]:
    """AUCs with all views, neutral only and shuffled views, and the instability AUC drops."""
    runs = {"all_views": full, "neutral_only": np.array(neutral), "shuffled": np.array(shuffled)}
    out: dict[str, Any] = {}
    for name, probs in runs.items():
        m = label_metrics(y, probs, labels)
        out[name] = {
            "mean_auc": m["mean_auc"],
            "per_label_auc": {k: v["auc"] for k, v in m["per_label"].items()},
        }
    if INSTABILITY in labels:
        base = out["all_views"]["per_label_auc"][INSTABILITY]
        for name in ("neutral_only", "shuffled"):
            out[f"instability_auc_drop_{name}"] = base - out[name]["per_label_auc"][INSTABILITY]
    return out


def write_curves(
    arrays: dict[str, np.ndarray], labels: tuple[str, ...], folder: Path
) -> list[Path]:
    """``roc.png`` and ``pr.png``: one curve per label. Needs matplotlib (the ``train`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    y, probs = arrays["labels"], arrays["probabilities"]
    written = []
    for kind in ("roc", "pr"):
        fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
        for i, name in enumerate(labels):
            if y[:, i].min() == y[:, i].max():
                continue
            if kind == "roc":
                fpr, tpr, _ = roc_curve(y[:, i], probs[:, i])
                ax.plot(fpr, tpr, label=name)
            else:
                precision, recall = precision_recall_curve(y[:, i], probs[:, i])
                ax.step(np.r_[0.0, recall], np.r_[1.0, precision], where="post", label=name)
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        else:
            ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
        ax.set(xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
        path = folder / f"{kind}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written
