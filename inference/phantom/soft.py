"""Soft tissue and air of one posed view, built around the posed skeleton (world mm):
head, neck, airway, shoulders and the hyoid."""

from __future__ import annotations

import numpy as np

from .anatomy import Patient
from .pose import PosedView
from .shapes import band, ellipse, smooth_path
from .skeleton import Part

# soft-tissue outline of face and jaw in the skull frame (mm per unit of patient size)
FACE = [
    (55, 95),
    (110, 55),
    (122, 12),
    (114, -22),
    (112, -60),
    (98, -80),
    (50, -80),
    (15, -62),
    (-20, -10),
    (-30, 40),
]


def soft_parts(p: Patient, view: PosedView) -> tuple[list[Part], list[Part]]:
    """Return (soft tissue drawn in order, overwriting; additive layers such as air)."""
    pts, skull = view.points, view.frames["skull"]
    s = p.size
    front = [pts["c1.c1_anterior_arch"]] + [
        pts[f"{c}.ant_mid"] for c in ("c2", "c3", "c4", "c5", "c6", "c7")
    ]
    front = np.array(front)
    back = np.array([pts[f"{c}.spinous_tip"] for c in ("c2", "c3", "c4", "c5", "c6", "c7")])
    down = _unit(front[-1] - front[1])
    fwd = np.array([-down[1], down[0]]) * (1 if down[1] < 0 else -1)
    if fwd[0] < 0:
        fwd = -fwd
    depth = p.neck_depth
    submental = skull.apply(np.array([[50 * s, -78 * s]]))[0]
    throat = front[2:] + fwd * np.linspace(0.42, 0.5, 5)[:, None] * depth
    below = front[-1] + down * 70
    nape_top = skull.apply(np.array([[-75 * s, 25 * s]]))[0]
    nape = back[1:] - fwd * np.linspace(0.22, 0.3, 5)[:, None] * depth
    ends = [below - fwd * 0.4 * depth, below + fwd * 0.65 * depth]
    crown = skull.apply(np.array([[10 * s, 10 * s], [-40 * s, 30 * s]]))  # close inside the head
    neck = np.concatenate([[nape_top], nape, ends, throat[::-1], [submental], crown])
    cranium = skull.apply(ellipse(12 * s, 72 * s, 100 * s, 88 * s, 48))
    face = skull.apply(np.array(FACE) * s)
    scale = depth / 110.0
    layered = [
        Part("cranium", cranium, 2.5 * scale, kind="soft"),
        Part("face", face, 2.3 * scale, kind="soft"),
        Part("neck", neck, 2.2 * scale, kind="soft"),
    ]
    added = [_airway(p, view, front, fwd), _shoulders(p, front[-1], down, fwd)]
    return layered, added


def hyoid(p: Patient, view: PosedView) -> Part:
    """The hyoid bone, anterior to C3."""
    pts = view.points
    c3 = pts["c3.ant_mid"]
    base = c3 + np.array([30.0, -4.0]) * p.size
    path = np.array([base, base + np.array([12, 3]) * p.size])
    return Part("hyoid", band(path, 3.5 * p.size), 0.35, 0.25)


def _airway(p: Patient, view: PosedView, front: np.ndarray, fwd: np.ndarray) -> Part:
    skull = view.frames["skull"]
    px, py = p.pns
    naso = skull.apply(np.array([[px - 6, py + 12], [px - 16, py + 2]]))
    offsets = p.prevertebral + p.airway / 2 + np.array([0, 1, 3, 6, 10, 12, 13]) * p.size
    column = front + fwd * offsets[:, None]
    path = smooth_path(np.concatenate([naso, column[1:]]), 5)
    widths = np.interp(
        np.linspace(0, 1, len(path)), [0, 0.3, 0.6, 1], [14, p.airway, p.airway * 0.8, 15]
    )
    return Part("airway", band(path, widths), -0.45, 0.0, kind="air")


def _shoulders(p: Patient, c7: np.ndarray, down: np.ndarray, fwd: np.ndarray) -> Part:
    centre = c7 + down * (60 - p.shoulder) - fwd * 15
    return Part(
        "shoulders", ellipse(centre[0], centre[1], 150, 55, 40, tilt=8), 1.1, 0.0, kind="soft"
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)
