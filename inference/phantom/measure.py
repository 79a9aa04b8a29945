"""Clinical measurements read off the posed geometry (mm and degrees), as a radiologist would
take them from the landmarks; the labels are computed from these (:mod:`.labels`)."""

from __future__ import annotations

import numpy as np

from inference.labels import VIEWS

from .pose import PosedView
from .shapes import point_line_distance

LANDMARK_NAMES = (
    "c1_anterior_arch",
    "dens_tip",
    "posterior_dens",
    "basion",
    "opisthion",
    "hard_palate",
)

# Points a reader uses for the other measurements (occiput-C1 angle, C2-C3 angle and disc height).
# They are not landmarks of the ROI network; the classifier learns them as auxiliary targets.
MEASUREMENT_POINTS = {
    "c1_posterior_tubercle": "c1.posterior_tubercle",
    "c2_inferior_anterior": "c2.inf_ant",
    "c2_inferior_posterior": "c2.inf_post",
    "c3_superior_anterior": "c3.sup_ant",
    "c3_superior_posterior": "c3.sup_post",
}


def landmark_points(view: PosedView) -> dict[str, np.ndarray]:
    """The six public landmarks of a view in world mm (names as the model issue uses them)."""
    pts = view.points
    tip = pts.get("c1.ossicle_top", pts.get("c2.ossicle_top", pts["c2.dens_tip"]))
    return {
        "c1_anterior_arch": pts["c1.c1_anterior_arch"],
        "dens_tip": tip,
        "posterior_dens": pts["c2.posterior_dens"],
        "basion": pts["skull.basion"],
        "opisthion": pts["skull.opisthion"],
        "hard_palate": pts["skull.hard_palate"],
    }


def measurement_points(view: PosedView) -> dict[str, np.ndarray]:
    """The :data:`MEASUREMENT_POINTS` of a view in world mm."""
    return {name: view.points[key] for name, key in MEASUREMENT_POINTS.items()}


def adi(view: PosedView) -> float:
    """Atlanto-dental interval: posterior cortex of C1's arch to the anterior dens line."""
    pts = view.points
    return -point_line_distance(
        pts["c1.c1_anterior_arch"], pts["c2.dens_ant_base"], pts["c2.dens_ant_top"]
    )


def chamberlain(view: PosedView) -> float:
    """Height of the dens tip above Chamberlain's line (hard palate to opisthion)."""
    lm = landmark_points(view)
    return point_line_distance(lm["dens_tip"], lm["opisthion"], lm["hard_palate"])


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(b) - np.asarray(a)
    return float(np.degrees(np.arctan2(d[1], d[0])))


def occiput_c1_angle(view: PosedView) -> float:
    """Angle between the foramen magnum line and the C1 line (arch to posterior tubercle)."""
    pts = view.points
    skull = _angle(pts["skull.opisthion"], pts["skull.basion"])
    atlas = _angle(pts["c1.posterior_tubercle"], pts["c1.c1_anterior_arch"])
    return skull - atlas


def c2_c3_angle(view: PosedView) -> float:
    """Angle between C2's inferior endplate and C3's superior endplate."""
    pts = view.points
    return _angle(pts["c2.inf_post"], pts["c2.inf_ant"]) - _angle(
        pts["c3.sup_post"], pts["c3.sup_ant"]
    )


def c2_c3_disc(view: PosedView) -> float:
    """Disc height: C2 inferior endplate midpoint above C3's superior endplate line."""
    pts = view.points
    return point_line_distance(pts["c2.inf_mid"], pts["c3.sup_post"], pts["c3.sup_ant"])


def ossicle_gap(view: PosedView) -> float:
    """Smallest distance between the ossicle and the dens (0 when there is no ossicle)."""
    ossicle = [p.points for p in view.parts if p.name.endswith(".ossicle")]
    dens = [p.points for p in view.parts if p.name == "c2.dens"]
    if not ossicle:
        return 0.0
    diff = ossicle[0][:, None, :] - dens[0][None, :, :]
    return float(np.sqrt((diff**2).sum(-1)).min())


def _span(values: list[float]) -> float:
    return float(max(values) - min(values))


def measure(views: list[PosedView]) -> dict[str, float]:
    """All measurements of a posed patient; views in :data:`VIEWS` order."""
    by = dict(zip(VIEWS, views, strict=True))
    adis = {v: adi(by[v]) for v in VIEWS}
    out = {f"adi_{v}_mm": adis[v] for v in VIEWS}
    out["adi_change_mm"] = adis["flexion"] - adis["extension"]
    out["dens_above_chamberlain_mm"] = chamberlain(by["neutral"])
    out["ossicle_gap_mm"] = ossicle_gap(by["neutral"])
    out["occiput_c1_motion_deg"] = _span([occiput_c1_angle(x) for x in views])
    out["c2_c3_disc_height_mm"] = c2_c3_disc(by["neutral"])
    out["c2_c3_motion_deg"] = _span([c2_c3_angle(x) for x in views])
    out["basion_dens_interval_mm"] = float(
        np.linalg.norm(
            landmark_points(by["neutral"])["basion"] - landmark_points(by["neutral"])["dens_tip"]
        )
    )
    for v in VIEWS:
        out[f"occiput_c1_angle_{v}_deg"] = occiput_c1_angle(by[v])
        out[f"c2_c3_angle_{v}_deg"] = c2_c3_angle(by[v])
    return {k: round(float(val), 3) for k, val in out.items()}
