"""Bone outlines of the phantom in each body's own frame (mm, x anterior, y superior).

Frames: a vertebra's origin is the centre of its inferior endplate; C1's origin is the posterior
cortex of its anterior arch (the ADI point); the skull's origin is the basion. Each body also
carries named anchor points that posing and measuring read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .anatomy import SUBAXIAL, Patient
from .shapes import Points, band, ellipse, rounded_box, smooth_path

SPINOUS_LENGTH = {"C3": 13.0, "C4": 13.0, "C5": 14.0, "C6": 17.0, "C7": 24.0}


@dataclass(frozen=True)
class Part:
    """One projected structure: outline, attenuation of its interior and of its cortical rim."""

    name: str
    points: Points
    density: float
    cortex: float = 0.0
    kind: str = "bone"  # "bone" gets trabecular texture; "soft" and "air" do not
    rim: np.ndarray | None = None  # per edge i -> i+1: draw the cortex there (default: all)


@dataclass
class Body:
    """A rigid body: its parts and named anchor points, all in the body's frame."""

    parts: list[Part] = field(default_factory=list)
    anchors: dict[str, np.ndarray] = field(default_factory=dict)

    def add(
        self,
        name: str,
        points: Points,
        density: float,
        cortex: float = 0.0,
        rim: np.ndarray | None = None,
    ) -> None:
        self.parts.append(Part(name, np.asarray(points, dtype=float), density, cortex, rim=rim))


def build_skeleton(p: Patient) -> dict[str, Body]:
    """All rigid bodies of one patient, keyed ``skull``, ``c1``, ``c2`` .. ``c7``."""
    from .skull import skull  # the skull module builds on Body and Part defined here

    bodies = {"skull": skull(p), "c1": atlas(p), "c2": axis(p)}
    for i, name in enumerate(SUBAXIAL):
        bodies[name.lower()] = subaxial(p, i)
    return bodies


def subaxial(p: Patient, i: int) -> Body:
    """C3..C7: body, pedicle, articular pillar, lamina and spinous process."""
    d, h, s = p.body_depth[i], p.body_height[i], p.size
    back = -d / 2
    b = Body()
    body = _vertebral_body(d, h, lip=0.6 * s)
    front_low = (body[:, 0] > 0) & (body[:, 1] < h / 2)  # anterior wedging lifts the front
    body[front_low, 1] += (1 - p.wedge[i]) * h * body[front_low, 0] / (d / 2)
    fused_top = i == 0 and p.conditions.fusion  # block C2-C3: no endplate cortex between them
    b.add("body", body, 0.55, 0.45, _rim_except(body, lambda y: y > h - 1.0) if fused_top else None)
    b.add("pedicle", rounded_box(back - 6 * s, h * 0.4, back + 1, h * 0.8, 1.0), 0.25, 0.1)
    b.add("pillar", _pillar(back, h, s), 0.4, 0.3)
    below = p.disc_height[i + 1] if i + 1 < len(p.disc_height) else 9.0
    spur = min(p.osteophyte[i], 0.6 * p.disc_height[i], 0.6 * below)  # never bridging a disc
    if spur > 0.2:
        for corner, sign in ((np.array([d / 2, h]), 1.0), (np.array([d / 2, 0.0]), -1.0)):
            tri = corner + np.array(
                [(-2.0, -0.4 * sign), (0.6 * spur, 0.8 * spur * sign), (0.0, -2.5 * sign)]
            )
            b.add("osteophyte", tri, 0.3, 0.25)
    length = SPINOUS_LENGTH[SUBAXIAL[i]] * s
    tip = np.array([back - 18 * s - length, -h * 0.35])
    b.add("spinous", _spinous(back, h, s, tip, 2.4 * s), 0.3, 0.35)
    b.anchors = {
        "sup_ant": np.array([d / 2, h]),
        "sup_post": np.array([-d / 2, h]),
        "inf_mid": np.array([0.0, 0.0]),
        "ant_mid": np.array([d / 2, h / 2]),
        "spinous_tip": tip,
    }
    return b


def axis(p: Patient) -> Body:
    """C2: body with anterior-inferior lip, dens (or a short dens and ossicle), pars and spine."""
    s, d, hb = p.size, 16.0 * p.size, p.c2_body_height
    b = Body()
    dw, full = p.dens_width, p.dens_length
    xc = d / 2 - dw / 2 - 2.5 * s
    length = full * p.stub_fraction if p.ossicle == "os" else full
    body = _vertebral_body(d, hb, lip=2.0 * s)
    outline = _with_dens(body, _dens(xc, hb, dw, length), hb)
    rim = _rim_except(outline, lambda y: y < 1.0) if p.conditions.fusion else None
    b.add("body", outline, 0.55, 0.45, rim)
    b.add("dens", _dens(xc, hb, dw, length), 0.08, 0.0)
    back = -d / 2
    b.add("pars", _pillar(back, hb * 0.75, s * 1.25), 0.55, 0.35)
    tip = np.array([back - 36 * s, 0.5 * s])
    b.add("spinous", _spinous(back, hb * 1.25, s * 1.15, tip, 4.0 * s), 0.38, 0.4)
    tilt = np.tan(np.deg2rad(8.0))
    arch_y = hb + full * 0.55
    b.anchors = {
        "dens_ant_base": np.array([xc + dw / 2, hb]),
        "dens_ant_top": np.array([xc + dw / 2 - tilt * full, hb + full]),
        "posterior_dens": np.array(
            [xc - dw / 2 - tilt * (min(arch_y, hb + length - 2) - hb), min(arch_y, hb + length - 2)]
        ),
        "dens_tip": np.array([xc - tilt * (length - dw / 2), hb + length]),
        "arch_level": np.array([0.0, arch_y]),
        "inf_mid": np.array([0.0, 0.0]),
        "inf_ant": np.array([d / 2, 0.0]),
        "inf_post": np.array([-d / 2, 0.0]),
        "ant_mid": np.array([d / 2, hb / 2]),
        "spinous_tip": tip,
    }
    return b


def atlas(p: Patient) -> Body:
    """C1: anterior arch (origin at its posterior cortex), lateral masses, posterior arch."""
    s = p.size
    b = Body()
    b.add("anterior_arch", ellipse(3.4 * s, 0, 3.4 * s, 5.2 * s, 20), 0.45, 0.45)
    mass = np.array([(-4, 5.5), (-10, 3.5), (-17, 5), (-21, 1), (-19, -6), (-10, -8), (-5, -6)])
    b.add("lateral_mass", mass * s, 0.28, 0.22)
    path = smooth_path([(-19, 1.5), (-28, 2.5), (-37, 1.5), (-42, 0.5)], 6) * s
    b.add("posterior_arch", band(path, 6.5 * s), 0.4, 0.35)
    b.add("posterior_tubercle", ellipse(-44 * s, 0.3, 3.8 * s, 5.0 * s, 18), 0.35, 0.3)
    b.anchors = {
        "c1_anterior_arch": np.array([0.0, 0.0]),
        "posterior_tubercle": np.array([-44 * s, 0.3]),
        "condyle_contact": np.array([-10 * s, 4.0 * s]),
        "arch_top": np.array([-33 * s, 4.5 * s]),
    }
    return b


def _vertebral_body(d: float, h: float, lip: float) -> Points:
    """Lateral outline of a vertebral body with slightly concave endplates and an anterior lip."""
    box = rounded_box(-d / 2, 0, d / 2, h, 1.6, 4)
    box[:, 1] += np.where(box[:, 1] > h / 2, -0.5, 0.5) * np.cos(np.pi * box[:, 0] / d) ** 2
    low_front = (box[:, 1] < 1.0) & (box[:, 0] > d / 4)
    box[low_front, 1] -= lip * (box[low_front, 0] - d / 4) / (d / 4)
    return box


def _rim_except(outline: Points, where: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Rim mask that leaves out edges whose both ends satisfy ``where(y)``."""
    y = outline[:, 1]
    skip = where(y) & where(np.roll(y, -1))
    return ~skip


def _with_dens(body: Points, dens: Points, top: float) -> Points:
    """C2 outline: the body's outline with the dens rising from its upper endplate."""
    upper = body[:, 1] > top - 0.8
    start = int(np.argmax(upper))  # first upper-endplate vertex, walking anticlockwise
    stop = len(body) - int(np.argmax(upper[::-1]))
    return np.concatenate([body[:start], dens, body[stop:]])


def _pillar(back: float, h: float, s: float) -> Points:
    """Articular pillar: a rhomboid whose facets slope down and back about 35 degrees."""
    corners = [
        (back - 3 * s, h + 2.5 * s),
        (back - 15 * s, h - 5 * s),
        (back - 15 * s, -5.5 * s),
        (back - 3 * s, 2.5 * s),
    ]
    return smooth_path(np.array(corners + corners[:1]), 3)


def _spinous(back: float, h: float, s: float, tip: np.ndarray, r: float) -> Points:
    """Lamina and spinous process as one tapering outline ending in a rounded tip."""
    upper = smooth_path(
        np.array([(back - 11 * s, h * 0.85), (back - 18 * s, h * 0.5), tuple(tip + (0, r))]), 5
    )
    a = np.linspace(np.pi / 2, 3 * np.pi / 2, 7)
    cap = np.stack([tip[0] + r * np.cos(a), tip[1] + r * np.sin(a)], axis=1)
    lower = smooth_path(
        np.array([tuple(tip - (0, r)), (back - 17 * s, -h * 0.05), (back - 11 * s, h * 0.15)]), 5
    )
    return np.concatenate([upper, cap[1:-1], lower])


def _dens(xc: float, base: float, width: float, length: float) -> Points:
    """Dens (anterior base, rounded tip, posterior base) leaning 8 degrees back."""
    tilt = np.tan(np.deg2rad(8.0))
    r = width / 2
    top = base + length - r
    a = np.linspace(0, np.pi, 13)
    cap = np.stack([xc - tilt * (top - base) + r * np.cos(a), top + r * np.sin(a)], axis=1)
    return np.concatenate([[(xc + r, base)], cap, [(xc - r, base)]])
