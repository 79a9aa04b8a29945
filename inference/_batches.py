"""Training batches from a :class:`PreparedSet`, with the augmentations (torch, training only)."""

from __future__ import annotations

import numpy as np
import torch

from inference.dataset import PreparedSet


def _intensity(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gamma, contrast and noise per image, on [0, 1] images (N, ..., H, W)."""
    shape = (images.shape[0],) + (1,) * (images.ndim - 1)
    gamma = np.exp(rng.uniform(-0.35, 0.35, shape))
    out = np.clip(images, 0.0, 1.0) ** gamma
    out = out * rng.uniform(0.8, 1.2, shape) + rng.uniform(-0.1, 0.1, shape)
    out = out + rng.normal(0.0, 1.0, out.shape) * rng.uniform(0.0, 0.03, shape)
    return out.astype(np.float32)


def roi_batch(
    data: PreparedSet, index: np.ndarray, rng: np.random.Generator | None, max_shift: int = 16
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, boxes, landmarks, views); with ``rng``, intensity and translation augmentation."""
    images = data.roi_images[index].astype(np.float32)
    boxes = data.roi_boxes[index].copy()
    points = data.roi_landmarks[index].copy()
    if rng is not None:
        images = _intensity(images, rng)
        size = images.shape[-1]
        for i in range(len(index)):
            dx, dy = rng.integers(-max_shift, max_shift + 1, 2)
            images[i] = _shift(images[i], int(dx), int(dy))
            boxes[i] += np.array([dx, dy, dx, dy], np.float32) / size
            points[i] += np.array([dx, dy], np.float32) / size
    return (
        torch.from_numpy(images[:, None]),
        torch.from_numpy(boxes),
        torch.from_numpy(points),
        torch.from_numpy(data.roi_views[index]),
    )


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate by (dx, dy) pixels, zero filled."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def classifier_batch(
    data: PreparedSet,
    index: np.ndarray,
    crop_px: int,
    rng: np.random.Generator | None,
    view_dropout: float = 0.0,
) -> tuple[torch.Tensor, ...]:
    """(views, mask, labels, landmark targets normalised to the crop, landmark weights,
    measurement targets, measurement weights).

    With ``rng``: every view shifted independently within the jitter margin, intensity
    augmentation, and with probability ``view_dropout`` one view of a study dropped (masked).
    """
    n, v = len(index), data.crops.shape[1]
    views = np.zeros((n, v, crop_px, crop_px), np.float32)
    mask = data.mask[index].copy()
    targets = np.zeros((n, v) + data.crop_landmarks.shape[2:], np.float32)
    for i, study in enumerate(index):
        for j in range(v):
            if rng is None:
                ox = oy = data.jitter
            else:
                ox, oy = (int(x) for x in rng.integers(0, 2 * data.jitter + 1, 2))
            views[i, j] = data.crops[study, j, oy : oy + crop_px, ox : ox + crop_px]
            targets[i, j] = (data.crop_landmarks[study, j] - [ox, oy] + 0.5) / crop_px
        if rng is not None and mask[i].sum() > 1 and rng.random() < view_dropout:
            mask[i, rng.choice(np.flatnonzero(mask[i]))] = 0.0
    if rng is not None:
        views = _intensity(views, rng)
    views *= mask[:, :, None, None]
    inside = ((targets > 0.0) & (targets < 1.0)).all(axis=-1)  # False where unknown (NaN)
    weights = (inside * mask[:, :, None]).astype(np.float32)
    targets = np.nan_to_num(targets, nan=0.0)
    return (
        torch.from_numpy(views[:, :, None]),
        torch.from_numpy(mask),
        torch.from_numpy(data.labels[index]),
        torch.from_numpy(targets),
        torch.from_numpy(weights),
        torch.from_numpy(_or_zeros(data.measurements, index)),
        torch.from_numpy(_or_zeros(data.measurement_mask, index)),
    )


def _or_zeros(values: np.ndarray | None, index: np.ndarray) -> np.ndarray:
    from inference.labels import measurement_names

    if values is None:
        return np.zeros((len(index), len(measurement_names())), np.float32)
    return values[index].astype(np.float32)
