"""Training of the ROI network and CerviHFENet (torch): seeds, validation, early stop, checkpoints.

``train(data, out, config)`` prepares the studies under ``data`` (cached), splits off a validation
set by seed, trains the ROI network, then the classifier, and writes ``out/roi.pt``,
``out/classifier.pt`` and ``out/history.json``. Per epoch it logs the validation AUC and AP of every
label; it keeps the best epoch by the mean of validation AUC and AP and stops after ``patience``
epochs without improvement.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from inference._batches import classifier_batch, roi_batch
from inference.dataset import PreparedSet, prepare_cached, split
from inference.labels import LABELS
from inference.losses import RelationAwareFocalLoss
from inference.metrics import fit_platt, label_metrics, youden_threshold
from inference.model import CerviHFENet
from inference.roi import Geometry
from inference.roi_net import RoiNet

Log = Callable[[str], None]


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in the checkpoints and the model metadata."""

    geometry: Geometry = field(default_factory=Geometry)
    seed: int = 0
    threads: int = 2
    val_fraction: float = 0.15
    batch_size: int = 16
    roi_epochs: int = 20
    epochs: int = 40
    patience: int = 10
    lr: float = 2e-3
    weight_decay: float = 1e-4
    roi_width: int = 12
    width: int = 16
    embed: int = 64
    landmark_weight: float = 1.0
    measurement_weight: float = 1.0
    view_dropout: float = 0.1
    focal_alpha: float = 0.5
    focal_gamma: float = 2.0
    relation_weight: float = 0.5
    jitter: int = 12
    clip_grad_norm: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        values["geometry"] = Geometry(**values["geometry"])
        return cls(**values)


def _progress(iterable: Any, desc: str, total: int | None = None) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are a nicety
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, disable=None)


def train_roi(
    data: PreparedSet, train_idx: np.ndarray, val_idx: np.ndarray, config: TrainConfig, log: Log
) -> tuple[RoiNet, dict[str, float]]:
    """Train the ROI network on the training studies' images; best epoch by validation loss."""
    images_of = _images_by_study(data)
    tr = np.concatenate([images_of[i] for i in train_idx])
    va = np.concatenate([images_of[i] for i in val_idx]) if len(val_idx) else tr
    net = RoiNet(config.roi_width, config.geometry.roi_input)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, config.lr, total_steps=config.roi_epochs * _steps(len(tr), config.batch_size)
    )
    rng = np.random.default_rng(config.seed + 1)
    best: tuple[float, dict[str, Any], dict[str, float]] = (float("inf"), {}, {})
    for epoch in range(config.roi_epochs):
        net.train()
        for idx in _progress(_batches(tr, config.batch_size, rng), f"roi {epoch + 1}"):
            images, t_box, t_points, t_view = roi_batch(data, idx, rng)
            box, points, view_logits = net(images)
            loss = _roi_loss(box, points, view_logits, t_box, t_points, t_view)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        metrics = evaluate_roi(net, data, va, config.batch_size)
        log(
            f"roi epoch {epoch + 1}: val loss {metrics['loss']:.4f} box IoU mean "
            f"{metrics['iou_mean']:.3f} >=0.7 {metrics['iou_ge_0_7']:.3f} view acc "
            f"{metrics['view_accuracy']:.3f} landmark err {metrics['landmark_error_px']:.2f} px"
        )
        if metrics["loss"] < best[0]:
            best = (metrics["loss"], _state(net), metrics)
    net.load_state_dict(best[1])
    return net.eval(), best[2]


def _roi_loss(box, points, view_logits, t_box, t_points, t_view) -> torch.Tensor:  # noqa: ANN001
    return (
        10 * F.smooth_l1_loss(box, t_box, beta=0.01)
        + 10 * F.smooth_l1_loss(points, t_points, beta=0.01)
        + 0.2 * F.cross_entropy(view_logits, t_view)
    )


@torch.no_grad()
def evaluate_roi(net: RoiNet, data: PreparedSet, idx: np.ndarray, batch: int) -> dict[str, float]:
    """Validation loss, box IoU, view accuracy and landmark error (mm) over images ``idx``."""
    from inference.roi import box_iou

    net.eval()
    losses, ious, correct, errors = [], [], [], []
    size = data.roi_images.shape[-1]
    for start in range(0, len(idx), batch):
        images, t_box, t_points, t_view = roi_batch(data, idx[start : start + batch], None)
        box, points, view_logits = net(images)
        losses.append(
            float(_roi_loss(box, points, view_logits, t_box, t_points, t_view)) * len(t_box)
        )
        ious += [box_iou(a, b) for a, b in zip(box.numpy(), t_box.numpy(), strict=True)]
        correct += (view_logits.argmax(1) == t_view).tolist()
        errors.append(((points - t_points) * size).norm(dim=-1).mean(dim=-1).numpy())
    iou = np.array(ious)
    return {
        "loss": float(np.sum(losses) / len(idx)),
        "iou_mean": float(iou.mean()),
        "iou_ge_0_7": float((iou >= 0.7).mean()),
        "view_accuracy": float(np.mean(correct)),
        # in pixels of the ROI network's input square (about 2 mm each for a 25 cm field)
        "landmark_error_px": float(np.concatenate(errors).mean()),
    }


def train_classifier(
    data: PreparedSet, train_idx: np.ndarray, val_idx: np.ndarray, config: TrainConfig, log: Log
) -> tuple[CerviHFENet, dict[str, Any], list[dict[str, Any]]]:
    """Train CerviHFENet; returns the best model, its validation metrics and the history."""
    geometry = config.geometry
    net = CerviHFENet(geometry.crop_mm, LABELS, config.width, config.embed)
    loss_fn = RelationAwareFocalLoss(
        alpha=config.focal_alpha, gamma=config.focal_gamma, relation_weight=config.relation_weight
    )
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, config.lr, total_steps=config.epochs * _steps(len(train_idx), config.batch_size)
    )
    rng = np.random.default_rng(config.seed + 2)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], dict[str, Any]] = (-1.0, _state(net), {})
    stale = 0
    for epoch in range(config.epochs):
        net.train()
        started, total, skipped = time.monotonic(), 0.0, 0
        for idx in _progress(_batches(train_idx, config.batch_size, rng), f"cls {epoch + 1}"):
            views, mask, y, t_points, w_points, t_meas, w_meas = classifier_batch(
                data, idx, geometry.crop_px, rng, config.view_dropout
            )
            logits, points, measured = net(views, mask)
            loss = (
                loss_fn(logits, y)
                + config.landmark_weight
                * _landmark_loss(points, t_points, w_points, geometry.crop_mm)
                + config.measurement_weight * _measurement_loss(measured, t_meas, w_meas, mask)
            )
            opt.zero_grad()
            if not torch.isfinite(loss):  # one bad batch must not poison the weights
                skipped += 1
                sched.step()
                continue
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip_grad_norm)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        metrics = evaluate_classifier(net, data, val_idx, config)
        record = {"epoch": epoch + 1, "train_loss": total / len(train_idx), **metrics}
        history.append(record)
        per_label = " ".join(
            f"{k[:12]} {v['auc']:.3f}/{v['ap']:.3f}" for k, v in metrics["per_label"].items()
        )
        log(
            f"epoch {epoch + 1}: loss {record['train_loss']:.4f} val mean AUC "
            f"{metrics['mean_auc']:.4f} AP {metrics['mean_ap']:.4f} [{per_label}] "
            f"({time.monotonic() - started:.0f} s)"
            + (f", {skipped} batches with a non-finite loss skipped" if skipped else "")
        )
        # AUC ranks the cases, AP also asks that the few positives come first: keep the best of both
        quality = (metrics["mean_auc"] + metrics["mean_ap"]) / 2
        score = quality if not np.isnan(quality) else -record["train_loss"]
        if score > best[0]:
            best, stale = (score, _state(net), metrics), 0
        else:
            stale += 1
            if stale >= config.patience:
                log(f"early stop: no better validation AUC and AP for {config.patience} epochs")
                break
    net.load_state_dict(best[1])
    scales = calibrate(net, data, val_idx, config)
    metrics = evaluate_classifier(net, data, val_idx, config)
    log(
        "calibration (scale, bias): "
        + " ".join(f"{k[:12]} {a:.2f}/{b:+.2f}" for k, (a, b) in scales.items())
    )
    return net.eval(), metrics, history


def calibrate(
    net: CerviHFENet, data: PreparedSet, idx: np.ndarray, config: TrainConfig
) -> dict[str, tuple[float, float]]:
    """Fit the net's Platt scaling on studies ``idx`` (validation) and store it in the net."""
    net.calibration.copy_(torch.stack([torch.ones(len(LABELS)), torch.zeros(len(LABELS))]))
    probs = np.clip(predict_prepared(net, data, idx, config), 1e-7, 1 - 1e-7)
    logits = np.log(probs / (1 - probs))
    y = data.labels[idx]
    fitted = {k: fit_platt(y[:, i], logits[:, i]) for i, k in enumerate(LABELS)}
    net.calibration.copy_(torch.tensor(list(fitted.values()), dtype=torch.float32).T)
    return fitted


def _measurement_loss(measured, targets, weights, mask) -> torch.Tensor:  # noqa: ANN001
    """Smooth L1 over the measurements the truth has (per-view ones only for present views)."""
    from inference.labels import VIEW_MEASUREMENTS

    per_view = mask.repeat_interleave(len(VIEW_MEASUREMENTS), dim=1)
    rest = torch.ones(mask.shape[0], weights.shape[1] - per_view.shape[1])
    w = weights * torch.cat([per_view, rest], dim=1)
    error = F.smooth_l1_loss(measured, targets, reduction="none", beta=0.2)
    return (error * w).sum() / w.sum().clamp(min=1.0)


def _landmark_loss(points, targets, weights, crop_mm: float) -> torch.Tensor:  # noqa: ANN001
    """Smooth L1 in cm over the landmarks that lie inside their crop."""
    error = F.smooth_l1_loss(
        points * crop_mm / 10, targets * crop_mm / 10, reduction="none", beta=0.1
    )
    return (error.sum(-1) * weights).sum() / weights.sum().clamp(min=1.0)


@torch.no_grad()
def predict_prepared(
    net: CerviHFENet,
    data: PreparedSet,
    idx: np.ndarray,
    config: TrainConfig,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Probabilities (len(idx), labels) on centred crops; ``mask`` overrides the view mask."""
    net.eval()
    out = []
    for start in range(0, len(idx), 32):
        part = idx[start : start + 32]
        views, m, *_ = classifier_batch(data, part, config.geometry.crop_px, None)
        if mask is not None:
            m = torch.from_numpy(np.broadcast_to(mask, m.shape).astype(np.float32).copy())
            views = views * m[:, :, None, None, None]
        out.append(torch.sigmoid(net(views, m)[0]).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)))


def evaluate_classifier(
    net: CerviHFENet, data: PreparedSet, idx: np.ndarray, config: TrainConfig
) -> dict[str, Any]:
    """Validation metrics (AUC/AP per label) with youden thresholds."""
    probs = predict_prepared(net, data, idx, config)
    y = data.labels[idx]
    metrics = label_metrics(y, probs, LABELS)
    metrics["thresholds"] = {
        k: youden_threshold(y[:, i], probs[:, i]) for i, k in enumerate(LABELS)
    }
    return metrics


STAGES = ("roi", "classifier")


def train(
    data_dir: Path,
    out: Path,
    config: TrainConfig,
    log: Log = print,
    stages: tuple[str, ...] = STAGES,
) -> dict[str, Any]:
    """Prepare, split, train the networks named in ``stages``, write their checkpoints.

    The two networks are independent, so ``stages`` lets them train in two processes at once.
    """
    unknown = set(stages) - set(STAGES)
    if unknown or not stages:
        raise ValueError(f"stages must be a non-empty subset of {STAGES}")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    data = prepare_cached(
        Path(data_dir), config.geometry, config.jitter, lambda it: _progress(it, "prepare")
    )
    train_idx, val_idx = split(len(data), config.val_fraction, config.seed)
    log(f"{len(data)} studies ({len(train_idx)} train, {len(val_idx)} validation)")
    common = {"config": config.to_dict(), "labels": list(LABELS), "data": str(data_dir)}
    summary: dict[str, Any] = dict(common)
    if "roi" in stages:
        roi, roi_metrics = train_roi(data, train_idx, val_idx, config, log)
        checkpoint = {**common, "kind": "roi", "state": roi.state_dict(), "metrics": roi_metrics}
        torch.save(checkpoint, out / "roi.pt")
        summary["roi_validation"] = roi_metrics
    if "classifier" in stages:
        net, metrics, history = train_classifier(data, train_idx, val_idx, config, log)
        checkpoint = {**common, "kind": "classifier", "state": net.state_dict(), "metrics": metrics}
        torch.save(checkpoint, out / "classifier.pt")
        summary.update(validation=metrics, history=history)
    summary["seconds"] = round(time.monotonic() - started, 1)
    name = "history.json" if set(stages) == set(STAGES) else f"history-{'-'.join(stages)}.json"
    (out / name).write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    return summary


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A trained network (eval mode) and its checkpoint dictionary."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    config = TrainConfig.from_dict(checkpoint["config"])
    if checkpoint["kind"] == "roi":
        net: torch.nn.Module = RoiNet(config.roi_width, config.geometry.roi_input)
    else:
        labels = tuple(checkpoint["labels"])
        net = CerviHFENet(config.geometry.crop_mm, labels, config.width, config.embed)
    net.load_state_dict(checkpoint["state"])
    return net.eval(), checkpoint


def _images_by_study(data: PreparedSet) -> list[np.ndarray]:
    """Indices into ``roi_*`` of each study's images (images were stored study by study)."""
    counts = data.mask.sum(axis=1).astype(int)
    ends = np.cumsum(counts)
    return [np.arange(e - c, e) for c, e in zip(counts, ends, strict=True)]


def _batches(idx: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(idx)
    return [order[i : i + size] for i in range(0, len(order), size) if len(order[i : i + size]) > 1]


def _steps(n: int, size: int) -> int:
    return max(1, sum(1 for i in range(0, n, size) if min(size, n - i) > 1))


def _state(net: torch.nn.Module) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}
