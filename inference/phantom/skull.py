"""The skull in its own frame (origin at the basion, mm per unit of patient size): skull base,
occiput, face, teeth and mandible. Outlines are tables of points, scaled per patient."""

from __future__ import annotations

import numpy as np

from .anatomy import Patient
from .shapes import Rigid, about, band, ellipse, rounded_box, smooth_path
from .skeleton import Body

CONDYLE_BOTTOM = np.array([-4.0, -8.0])

# fmt: off
CLIVUS = [(-1, 0), (2.5, -1.5), (10, 9), (22, 33), (21, 44), (12, 42), (-4, 7)]
SPHENOID = [(14, 30), (42, 27), (50, 44), (38, 58), (18, 54)]
SELLA = [(19, 51), (21, 45), (27, 43), (32, 46), (31, 53)]
PETROUS = [(-48, 24), (-20, 34), (8, 42), (4, 34), (-18, 22), (-40, 18)]
POSTERIOR_FOSSA = [(-4, 8), (-30, 14), (-52, 26), (-50, 44), (-20, 42), (4, 34)]
RAMUS = [(16, 10), (14, -10), (10, -38), (16, -46), (30, -40), (36, -20), (40, 4), (34, -2),
         (27, 4)]
MANDIBLE = [(12, -44), (24, -52), (60, -60), (92, -62), (99, -50), (95, -38), (80, -32),
            (50, -33), (32, -32)]
MANDIBLE_BORDER = [(11, -43), (20, -51), (60, -60), (96, -58)]
# fmt: on


def skull(p: Patient) -> Body:
    """Skull base (clivus, condyles, sphenoid, sella, petrous ridge, mastoid, occiput), face
    (hard palate, maxilla, zygoma, teeth) and mandible."""
    s = p.size
    ox, oy = p.opisthion
    px, py = p.pns
    b = Body()
    _base(b, s, ox, oy)
    palate = smooth_path([(px, py), (px + 25 * s, py + 2 * s), (px + 52 * s, py + 5 * s)], 6)
    b.add("hard_palate", band(palate, np.linspace(6, 4, len(palate)) * s), 0.45, 0.45)
    maxilla = [(px, py + 2), (px + 4, py + 34), (px + 50, py + 38), (px + 58, py + 4)]
    b.add("maxilla", maxilla, 0.15, 0.12)
    b.add("maxillary_sinus", ellipse(px + 28, py + 17, 15 * s, 11 * s, 24), -0.12, 0.15)
    b.add(
        "pterygoid",
        band(np.array([(40, 27), (43, 12), (px - 2, py + 2)]) * [s, s], 5 * s),
        0.22,
        0.15,
    )
    b.add("zygoma", band(smooth_path([(14, 24), (40, 27), (68, 22)], 6) * s, 5 * s), 0.3, 0.2)
    _teeth(b, px + 10 * s, py - 3 * s, s, upper=True)
    _mandible(b, s, -p.jaw_open * 2.0, px)
    b.anchors = {
        "basion": np.array([0.0, 0.0]),
        "opisthion": np.array([ox, oy]),
        "hard_palate": np.array([px, py]),
        "condyle_bottom": CONDYLE_BOTTOM * s,
    }
    return b


def _base(b: Body, s: float, ox: float, oy: float) -> None:
    b.add("clivus", np.array(CLIVUS) * s, 0.5, 0.4)
    b.add("condyle", ellipse(-4 * s, -3.5 * s, 8 * s, 4.5 * s, 20), 0.28, 0.3)
    b.add("sphenoid", np.array(SPHENOID) * s, 0.3, 0.2)
    b.add("sphenoid_sinus", ellipse(31 * s, 41 * s, 9 * s, 8 * s, 20), -0.25, 0.2)
    b.add("sella", band(smooth_path(np.array(SELLA) * s, 5), 2.5 * s), 0.35, 0.3)
    b.add("posterior_fossa", np.array(POSTERIOR_FOSSA) * s, 0.18, 0.0)
    b.add("petrous", np.array(PETROUS) * s, 0.55, 0.2)
    b.add("mastoid", ellipse(-18 * s, 10 * s, 9 * s, 13 * s, 24, tilt=15), 0.3, 0.15)
    for k, (cx, cy) in enumerate([(-20, 14), (-15, 8), (-22, 4), (-16, 17)]):
        b.add("mastoid_cell", ellipse(cx * s, cy * s, (2.2 + k % 2) * s, 2.0 * s, 12), -0.12, 0.1)
    b.add("auditory_meatus", ellipse(-2 * s, 22 * s, 4.5 * s, 4.5 * s, 18), -0.15, 0.25)
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
    b.add("occiput", band(occiput, widths * s), 0.6, 0.5)
    t = np.deg2rad(np.linspace(205, -25, 60))
    vault = np.stack([8 * s + 78 * s * np.cos(t), 60 * s + 82 * s * np.sin(t)], axis=1)
    b.add("vault", band(vault, 7 * s), 0.55, 0.5)


def _teeth(b: Body, x0: float, y0: float, s: float, upper: bool) -> None:
    """A row of crowns and roots; a fainter second row offset as the other side's teeth."""
    sign = -1.0 if upper else 1.0
    for side, (dx, weight) in enumerate([(0.0, 1.0), (2.5 * s, 0.5)]):
        for k in range(6):
            x = x0 + dx + k * 7.5 * s + side * 1.5
            crown_y = sorted((y0 + sign * 2 * s, y0 + sign * 10 * s))
            crown = rounded_box(x, crown_y[0], x + 6.5 * s, crown_y[1], 2.0 * s)
            root = np.array([(x + 1, y0), (x + 5.5 * s, y0), (x + 3.2 * s, y0 - sign * 12 * s)])
            b.add("tooth", crown, 0.3 * weight, 0.3 * weight)
            b.add("root", root, 0.12 * weight, 0.12 * weight)


def _mandible(b: Body, s: float, jaw: float, px: float) -> None:
    """Ramus and body of the mandible with its dense lower border, plus lower teeth."""
    turn: Rigid = about(jaw, (18 * s, 14 * s))
    b.add("ramus", turn.apply(smooth_path(np.array(RAMUS) * s, 5)), 0.28, 0.35)
    b.add("mandible", turn.apply(smooth_path(np.array(MANDIBLE) * s, 5)), 0.32, 0.35)
    border = band(smooth_path(np.array(MANDIBLE_BORDER) * s, 6), 3.0 * s)
    b.add("mandible_border", turn.apply(border), 0.4, 0.1)
    lower = Body()
    _teeth(lower, px + 10 * s, -27 * s, s, upper=False)
    for part in lower.parts:
        b.add(part.name, turn.apply(part.points), part.density, part.cortex)
