"""CerviHFENet: hybrid feature extraction over the three views of a dynamic study (torch).

Inputs: ``views`` (N, 3, 1, P, P), the ROI crops in ``VIEWS`` order (extension, neutral, flexion),
and ``mask`` (N, 3), 1 where the view is present. Outputs: ``logits`` (N, labels), ``landmarks``
(N, 3, len(CROP_POINTS), 2), point positions in each crop normalised to [0, 1] (the six
``LANDMARKS`` first), and ``measurements``
(N, len(measurement_names())), scaled as in ``inference.labels`` (ADI per view, ...).

- Anatomical features (paper: "anatomical feature extraction"): a shared per-view encoder gives
  deep features and, through a landmark heatmap head, the six landmarks and the five measurement
  points (C1's posterior tubercle, C2's inferior and C3's superior endplate corners); measurements
  between them (pairwise distances, dens tip to Chamberlain's and McRae's lines, positions relative
  to the dens tip; occiput-C1 and C2-C3 angles and the C2-C3 disc height as a reader takes them).
- Dynamic branch (paper: "dynamic feature extraction"): differences of the measurements between
  views (neutral - extension, flexion - neutral, flexion - extension) and a GRU run
  extension -> neutral -> flexion over the per-view embeddings.
- Measurements: per-view (ADI, occiput-C1 and C2-C3 angles) and study (C2-C3 disc height,
  ossicle gap, dens above Chamberlain's line) regressions, learnt where the truth has them, and
  their changes between views; they enter the head, whose labels are thresholds on them.
- Motion: the range (largest minus smallest over the views present) of the occiput-C1 and C2-C3
  angles read off the points, the quantities assimilation and fusion are defined by.
- Fused head: one logit per label, Platt-scaled so that its sigmoid is a calibrated probability.
  A missing view is masked everywhere: its embedding is zeroed, the differences it takes part in
  are zeroed, and the mask itself is an input so the head knows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inference._layers import conv_block, soft_argmax, standardise
from inference.labels import (
    CROP_POINTS,
    LABELS,
    LANDMARKS,
    STUDY_MEASUREMENTS,
    VIEW_MEASUREMENTS,
    VIEWS,
)

_IDX = {name: i for i, name in enumerate(CROP_POINTS)}
_PAIRS = [(i, j) for i in range(len(LANDMARKS)) for j in range(i + 1, len(LANDMARKS))]
READER_FEATURES = 5  # occiput-C1 angle, C2-C3 angle, C2-C3 disc height, C2-C3 gap front and back
MOTION_ANGLES = 2  # the first two reader features, whose range over the views the head also sees
GEOMETRY_FEATURES = len(_PAIRS) + 2 * (len(LANDMARKS) - 1) + 2 + READER_FEATURES
_MM_SCALE = 10.0  # measurements enter the network in cm: values of order one
_DEG_SCALE = 10.0  # and angles in tens of degrees


def _signed_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Signed distance of points ``p`` from the line ``a -> b`` (positive to its left), (N,)."""
    d = b - a
    r = p - a
    cross = d[:, 0] * r[:, 1] - d[:, 1] * r[:, 0]
    return cross / (d.pow(2).sum(dim=-1).sqrt() + 1e-6)


def _angle_between(
    a0: torch.Tensor, a1: torch.Tensor, b0: torch.Tensor, b1: torch.Tensor
) -> torch.Tensor:
    """Angle in degrees from line ``b0 -> b1`` to line ``a0 -> a1`` (sine-based: both lines point
    the same way, so the angle is well inside +-90 degrees), (N,)."""
    a, b = a1 - a0, b1 - b0
    cross = b[:, 0] * a[:, 1] - b[:, 1] * a[:, 0]
    norms = (a.pow(2).sum(dim=-1) * b.pow(2).sum(dim=-1) + 1e-6).sqrt()
    # kept off +-1, where the derivative of asin is infinite (a training step would give NaN)
    return torch.asin((cross / norms).clamp(-0.999, 0.999)) * (180.0 / math.pi)


def reader_measurements(points_mm: torch.Tensor) -> torch.Tensor:
    """What a reader measures with the measurement points, (N, READER_FEATURES): occiput-C1 and
    C2-C3 angles in degrees, C2-C3 disc height and the front and back C2-C3 gaps in mm."""
    p = {name: points_mm[:, i] for name, i in _IDX.items()}
    occ_c1 = _angle_between(
        p["opisthion"], p["basion"], p["c1_posterior_tubercle"], p["c1_anterior_arch"]
    )
    c2_c3 = _angle_between(
        p["c2_inferior_posterior"],
        p["c2_inferior_anterior"],
        p["c3_superior_posterior"],
        p["c3_superior_anterior"],
    )
    c2_mid = (p["c2_inferior_posterior"] + p["c2_inferior_anterior"]) / 2
    disc = -_signed_distance(c2_mid, p["c3_superior_posterior"], p["c3_superior_anterior"])
    front = (p["c2_inferior_anterior"] - p["c3_superior_anterior"]).norm(dim=-1)
    back = (p["c2_inferior_posterior"] - p["c3_superior_posterior"]).norm(dim=-1)
    return torch.stack([occ_c1, c2_c3, disc, front, back], dim=1)


def geometry_features(points_mm: torch.Tensor) -> torch.Tensor:
    """Measurements (N, GEOMETRY_FEATURES) in cm and tens of degrees from the crop points
    (N, len(CROP_POINTS), 2) in mm."""
    reader = reader_measurements(points_mm)
    scale = reader.new_tensor([_DEG_SCALE, _DEG_SCALE, _MM_SCALE, _MM_SCALE, _MM_SCALE])
    points_mm = points_mm[:, : len(LANDMARKS)]
    i = torch.tensor([p[0] for p in _PAIRS], device=points_mm.device)
    j = torch.tensor([p[1] for p in _PAIRS], device=points_mm.device)
    diffs = points_mm[:, i] - points_mm[:, j]
    distances = (diffs.pow(2).sum(dim=-1) + 1e-6).sqrt()
    tip = points_mm[:, _IDX["dens_tip"]]
    others = [k for k in range(len(LANDMARKS)) if k != _IDX["dens_tip"]]
    relative = (points_mm[:, others] - tip[:, None]).reshape(points_mm.shape[0], -1)
    chamberlain = _signed_distance(
        tip, points_mm[:, _IDX["hard_palate"]], points_mm[:, _IDX["opisthion"]]
    )
    mcrae = _signed_distance(tip, points_mm[:, _IDX["basion"]], points_mm[:, _IDX["opisthion"]])
    features = torch.cat([distances, relative, chamberlain[:, None], mcrae[:, None]], dim=1)
    return torch.cat([features / _MM_SCALE, reader / scale], dim=1)


class ViewEncoder(nn.Module):
    """Shared per-view CNN: pooled deep features and soft-argmax landmarks.

    The landmark heatmaps are at P/2 (fine detail from the first stage, context from the third
    upsampled), because the labels hinge on millimetres: ADI 3 and 5 mm, Chamberlain 3 mm.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.stage1 = nn.Sequential(conv_block(1, w, 2, 5), conv_block(w, w))  # P/2
        self.stage2 = nn.Sequential(conv_block(w, 2 * w, 2), conv_block(2 * w, 2 * w))  # P/4
        self.stage3 = nn.Sequential(conv_block(2 * w, 4 * w, 2), conv_block(4 * w, 4 * w))  # P/8
        self.stage4 = nn.Sequential(conv_block(4 * w, 4 * w, 2), conv_block(4 * w, 4 * w))  # P/16
        self.context = nn.Sequential(conv_block(2 * w + 4 * w, w, kernel=1))  # at P/4
        self.heatmap = nn.Sequential(
            conv_block(2 * w, w, kernel=1), nn.Conv2d(w, len(CROP_POINTS), 3, padding=1)
        )
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out_features = 8 * w

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.stage1(standardise(crops))
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        context = self.up(self.context(torch.cat([f2, self.up(f3)], dim=1)))
        landmarks = soft_argmax(self.heatmap(torch.cat([f1, context], dim=1)))
        pooled = torch.cat([f4.mean(dim=(2, 3)), f4.amax(dim=(2, 3))], dim=1)
        return pooled, landmarks


class CerviHFENet(nn.Module):
    """Multi-view, multi-label classifier; see the module docstring for the parts."""

    def __init__(
        self,
        crop_mm: float,
        labels: tuple[str, ...] = LABELS,
        width: int = 16,
        embed: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.crop_mm = float(crop_mm)
        self.labels = labels
        g = GEOMETRY_FEATURES
        self.encoder = ViewEncoder(width)
        self.embed = nn.Sequential(
            nn.Linear(self.encoder.out_features + g, embed), nn.ReLU(inplace=True)
        )
        self.sequence = nn.GRUCell(embed + 1, embed)
        self.dynamic = nn.Sequential(nn.Linear(3 * g + embed, embed), nn.ReLU(inplace=True))
        mv, ms = len(VIEW_MEASUREMENTS), len(STUDY_MEASUREMENTS)
        # measured quantities (ADI, angles per view; disc height, gap, Chamberlain per study)
        self.view_measure = nn.Linear(embed, mv)
        self.study_measure = nn.Linear(embed + g, ms)
        measured = len(VIEWS) * mv + ms + 3 * mv
        fused = embed + g + embed + len(VIEWS) + measured + MOTION_ANGLES
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(fused, embed),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(embed, len(labels)),
        )

        # Platt scaling per label (scale, bias), fitted on validation after training
        # (inference.train.calibrate): identity while training.
        self.register_buffer(
            "calibration", torch.stack([torch.ones(len(labels)), torch.zeros(len(labels))])
        )

    def forward(
        self, views: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, v = views.shape[0], views.shape[1]
        pooled, landmarks = self.encoder(views.reshape(n * v, *views.shape[2:]))
        geometry = geometry_features(landmarks * self.crop_mm)
        embedded = self.embed(torch.cat([pooled, geometry], dim=1)).reshape(n, v, -1)
        geometry = geometry.reshape(n, v, -1)
        m = mask.to(views.dtype)
        present = m.sum(dim=1, keepdim=True).clamp(min=1.0)

        anatomical = (embedded * m[..., None]).sum(dim=1) / present
        measurements = (geometry * m[..., None]).sum(dim=1) / present
        dynamic = self._dynamic(embedded, geometry, m)
        per_view = self.view_measure(embedded) * m[..., None]  # (N, V, mv)
        study = self.study_measure(torch.cat([anatomical, measurements], dim=1))
        changes = [
            (per_view[:, b] - per_view[:, a]) * (m[:, a] * m[:, b])[:, None]
            for a, b in ((0, 1), (1, 2), (0, 2))
        ]
        measured = torch.cat([per_view.reshape(n, -1), study], dim=1)
        reader = geometry[..., -READER_FEATURES:]
        motion = _motion_range(reader[..., :MOTION_ANGLES], m)
        fused = [anatomical, measurements, dynamic, m, measured, *changes, motion]
        logits = self.head(torch.cat(fused, dim=1)) * self.calibration[0] + self.calibration[1]
        return logits, landmarks.reshape(n, v, len(CROP_POINTS), 2), measured

    def _dynamic(
        self, embedded: torch.Tensor, geometry: torch.Tensor, m: torch.Tensor
    ) -> torch.Tensor:
        """Change of the bone structure across the ordered views; zero where a view is missing."""
        ext, neu, flex = 0, 1, 2
        changes = [
            (geometry[:, b] - geometry[:, a]) * (m[:, a] * m[:, b])[:, None]
            for a, b in ((ext, neu), (neu, flex), (ext, flex))
        ]
        hidden = embedded.new_zeros(embedded.shape[0], embedded.shape[2])
        for step in (ext, neu, flex):
            step_input = torch.cat([embedded[:, step] * m[:, step, None], m[:, step, None]], dim=1)
            hidden = self.sequence(step_input, hidden)
        return self.dynamic(torch.cat([*changes, hidden], dim=1))


def _motion_range(angles: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Largest minus smallest of each angle (N, V, A) over the views present (N, V); zero with
    fewer than two views."""
    present = m[..., None] > 0
    big = torch.full_like(angles, 1e4)
    high = torch.where(present, angles, -big).amax(dim=1)
    low = torch.where(present, angles, big).amin(dim=1)
    two = (m.sum(dim=1, keepdim=True) >= 2).to(angles.dtype)
    return (high - low) * two
