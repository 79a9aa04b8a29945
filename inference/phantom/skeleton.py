"""Bone outlines of the phantom in each body's own frame (mm, x anterior, y superior).

Frames: a vertebra's origin is the centre of its inferior endplate; C1's origin is the posterior
cortex of its anterior arch (the ADI point); the skull's origin is the basion. Each body also
carries named anchor points that posing and measuring read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import SUBAXIAL, Patient
from .shapes import Points, band, ellipse, rounded_box, smooth_path

CONDYLE_BOTTOM = np.array([-4.0, -8.0])  # skull frame, per unit of patient size
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
    fused_top = i == 0 and p.conditions.fusion  # block C2-C3: no endplate cortex between them
    b.add("body", body, 0.55, 0.45, _rim_except(body, lambda y: y > h - 1.0) if fused_top else None)
    b.add("pedicle", rounded_box(back - 6 * s, h * 0.4, back + 1, h * 0.8, 1.0), 0.25, 0.1)
    b.add("pillar", _pillar(back, h, s), 0.5, 0.35)
    length = SPINOUS_LENGTH[SUBAXIAL[i]] * s
    path = smooth_path(
        [(back - 12 * s, h * 0.7), (back - 18 * s, h * 0.35), (back - 18 * s - length, -h * 0.3)],
        6,
    )
    b.add("spinous", band(path, np.linspace(7 * s, 4.5 * s, len(path))), 0.4, 0.35)
    b.add("tip", ellipse(back - 18 * s - length, -h * 0.3, 3.2 * s, 3.8 * s, 16), 0.25, 0.2)
    b.anchors = {
        "sup_ant": np.array([d / 2, h]),
        "sup_post": np.array([-d / 2, h]),
        "inf_mid": np.array([0.0, 0.0]),
        "ant_mid": np.array([d / 2, h / 2]),
        "spinous_tip": np.array([back - 18 * s - length, -h * 0.3]),
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
    path = smooth_path(
        [(back - 10 * s, hb * 0.8), (back - 20 * s, hb * 0.55), (back - 38 * s, 2)], 6
    )
    b.add("spinous", band(path, np.linspace(11 * s, 8 * s, len(path))), 0.45, 0.4)
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
        "spinous_tip": np.array([back - 38 * s, 2.0]),
    }
    return b


def atlas(p: Patient) -> Body:
    """C1: anterior arch (origin at its posterior cortex), lateral masses, posterior arch."""
    s = p.size
    b = Body()
    b.add("anterior_arch", ellipse(3.4 * s, 0, 3.4 * s, 5.2 * s, 20), 0.45, 0.45)
    mass = np.array([(-4, 5.5), (-10, 3.5), (-17, 5), (-21, 1), (-19, -6), (-10, -8), (-5, -6)])
    b.add("lateral_mass", mass * s, 0.5, 0.3)
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


def skull(p: Patient) -> Body:
    """Skull base: occiput, clivus, condyles, mastoid, petrous ridge, palate, teeth, mandible."""
    s = p.size
    ox, oy = p.opisthion
    px, py = p.pns
    b = Body()
    b.add(
        "clivus",
        band(smooth_path([(0.5, 1), (9, 20), (17, 38)], 6) * s, np.linspace(6, 11, 13) * s),
        0.55,
        0.4,
    )
    b.add("condyle", ellipse(-4 * s, -3.5 * s, 8 * s, 4.5 * s, 20), 0.45, 0.35)
    occiput = smooth_path(
        [
            (ox, oy),
            (ox - 8 * s, oy + 9 * s),
            (-55 * s, 22 * s),
            (-62 * s, 40 * s),
            (-64 * s, 62 * s),
            (-60 * s, 88 * s),
            (-48 * s, 115 * s),
            (-25 * s, 135 * s),
        ],
        8,
    )
    widths = np.interp(np.arange(len(occiput)), [0, 10, 24, 40, len(occiput) - 1], [5, 8, 13, 8, 7])
    b.add("occiput", band(occiput, widths * s), 0.75, 0.45)
    b.add("mastoid", ellipse(-22 * s, 10 * s, 10 * s, 15 * s, 24, tilt=15), 0.45, 0.15)
    b.add("petrous", ellipse(-14 * s, 30 * s, 26 * s, 7 * s, 24, tilt=18), 0.6, 0.15)
    b.add(
        "sella_floor",
        band(smooth_path([(16, 42), (22, 38), (28, 41), (30, 46)], 5) * s, 3 * s),
        0.4,
        0.3,
    )
    palate = smooth_path([(px, py), (px + 25 * s, py + 2 * s), (px + 52 * s, py + 5 * s)], 6)
    b.add("hard_palate", band(palate, np.linspace(6, 4, len(palate)) * s), 0.45, 0.45)
    b.add("zygoma", band(smooth_path([(14, 24), (40, 27), (68, 22)], 6) * s, 5 * s), 0.3, 0.2)
    b.add("vault", band(_vault(ox, oy, s), 7 * s), 0.7, 0.6)
    _teeth(b, px + 12 * s, py - 3 * s, s, upper=True)
    jaw = -p.jaw_open * 2.0
    _mandible(b, s, jaw, px)
    b.anchors = {
        "basion": np.array([0.0, 0.0]),
        "opisthion": np.array([ox, oy]),
        "hard_palate": np.array([px, py]),
        "condyle_bottom": CONDYLE_BOTTOM * s,
        "head_centre": np.array([5 * s, 70 * s]),
    }
    return b


def _vault(ox: float, oy: float, s: float) -> Points:
    """Cranial vault: an arc over the brain from the inion round to the frontal bone."""
    t = np.deg2rad(np.linspace(200, -25, 60))
    cx, cy, rx, ry = 8 * s, 60 * s, 78 * s, 82 * s
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _vertebral_body(d: float, h: float, lip: float) -> Points:
    """Lateral outline of a vertebral body with slightly concave endplates and an anterior lip."""
    box = rounded_box(-d / 2, 0, d / 2, h, 1.6, 4)
    box[:, 1] += np.where(box[:, 1] > h / 2, -0.5, 0.5) * np.cos(np.pi * box[:, 0] / d) ** 2
    low_front = (box[:, 1] < 1.0) & (box[:, 0] > d / 4)
    box[low_front, 1] -= lip * (box[low_front, 0] - d / 4) / (d / 4)
    return box


def _rim_except(outline: Points, where) -> np.ndarray:
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
    """Articular pillar: a parallelogram whose facets slope down and back."""
    return np.array(
        [
            (back - 4 * s, h + 1.5 * s),
            (back - 15 * s, h - 4 * s),
            (back - 15 * s, -4 * s),
            (back - 4 * s, 1.5 * s),
        ]
    )


def _dens(xc: float, base: float, width: float, length: float) -> Points:
    """Dens (anterior base, rounded tip, posterior base) leaning 8 degrees back."""
    tilt = np.tan(np.deg2rad(8.0))
    r = width / 2
    top = base + length - r
    a = np.linspace(0, np.pi, 13)
    cap = np.stack([xc - tilt * (top - base) + r * np.cos(a), top + r * np.sin(a)], axis=1)
    return np.concatenate([[(xc + r, base)], cap, [(xc - r, base)]])


def _teeth(b: Body, x0: float, y0: float, s: float, upper: bool, jaw: float = 0.0) -> None:
    sign = -1 if upper else 1
    for k in range(7):
        x = x0 + k * 7 * s
        crown = rounded_box(x, y0 + sign * 10 * s, x + 6.5 * s, y0 + sign * 2 * s, 1.5)
        if upper:
            crown = rounded_box(x, y0 - 10 * s, x + 6.5 * s, y0 - 2 * s, 1.5)
        else:
            crown = rounded_box(x, y0 + 2 * s, x + 6.5 * s, y0 + 10 * s, 1.5)
        root_y = y0 + (8 * s if upper else -8 * s)
        root = np.array([(x + 1, y0), (x + 5.5 * s, y0), (x + 3.5 * s, root_y)])
        b.add("tooth", crown, 0.7, 0.35)
        b.add("root", root, 0.3, 0.2)


def _mandible(b: Body, s: float, jaw: float, px: float) -> None:
    """Ramus and body of the mandible with its dense lower border, plus lower teeth."""
    from .shapes import Rigid, about

    turn: Rigid = about(jaw, (18 * s, 14 * s))
    ramus = smooth_path(
        np.array(
            [
                (16, 10),
                (14, -10),
                (10, -38),
                (16, -46),
                (30, -40),
                (36, -20),
                (40, 4),
                (34, -2),
                (27, 4),
            ]
        )
        * s,
        5,
    )
    body = smooth_path(
        np.array(
            [
                (12, -44),
                (24, -52),
                (60, -60),
                (92, -62),
                (99, -50),
                (95, -38),
                (80, -32),
                (50, -33),
                (32, -32),
            ]
        )
        * s,
        5,
    )
    border = smooth_path(np.array([(11, -43), (20, -51), (60, -60), (96, -58)]) * s, 6)
    b.add("ramus", turn.apply(ramus), 0.3, 0.35)
    b.add("mandible", turn.apply(body), 0.35, 0.35)
    b.add("mandible_border", turn.apply(band(border, 3.0 * s)), 0.4, 0.1)
    lower = Body()
    _teeth(lower, px + 12 * s, -28 * s, s, upper=False)
    for part in lower.parts:
        b.parts.append(Part(part.name, turn.apply(part.points), part.density, part.cortex))
