"""Posing: place every body in extension, neutral and flexion (world mm, C7 at the origin).

The chain runs C7 -> C3 -> C2 -> C1 -> skull. C1 sits on the dens at the patient's ADI for
that view; the skull sits on C1, lifted or lowered so that the dens tip lies at the sampled
height relative to Chamberlain's line in neutral. An os odontoideum ossicle rides with C1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.labels import VIEWS

from .anatomy import SUBAXIAL, Patient
from .shapes import Rigid, about, band, ellipse, point_line_distance
from .skeleton import Body, Part, build_skeleton
from .skull import CONDYLE_BOTTOM


@dataclass(frozen=True)
class PosedView:
    """One view's bone parts (named ``body.part``) and anchors in world coordinates (mm)."""

    view: str
    parts: tuple[Part, ...]
    points: dict[str, np.ndarray]
    frames: dict[str, Rigid]


def pose_patient(p: Patient) -> list[PosedView]:
    """The three posed views of a patient, in :data:`VIEWS` order."""
    bodies = build_skeleton(p)
    lift = _solve_skull_lift(p, bodies)
    _attach_extras(p, bodies, lift)
    return [_pose_view(p, bodies, v, lift) for v in range(len(VIEWS))]


def frames_for(p: Patient, bodies: dict[str, Body], v: int, lift: float) -> dict[str, Rigid]:
    """World transform of every body in view ``v``."""
    frames = {"c7": Rigid(p.trunk_angle[v])}
    names = [n.lower() for n in SUBAXIAL][::-1] + ["c2"]  # c7, c6, ..., c3, c2
    for parent, child in zip(names[:-1], names[1:], strict=True):
        level = int(parent[1]) - 3  # parent C3 -> level 0 (C2-3)
        h = p.body_height[int(parent[1]) - 3]
        disc = p.disc_height[level]
        joint = about(p.subaxial_angle[level][v], (-1.0, h + disc / 2)).compose(
            Rigid(0, 0, h + disc)
        )
        frames[child] = frames[parent].compose(joint)
    frames["c1"] = frames["c2"].compose(_c1_on_c2(p, bodies["c2"], v))
    frames["skull"] = frames["c1"].compose(_skull_on_c1(p, bodies["c1"], v, lift))
    return frames


def _c1_on_c2(p: Patient, c2: Body, v: int) -> Rigid:
    a0, a1 = c2.anchors["dens_ant_base"], c2.anchors["dens_ant_top"]
    y = c2.anchors["arch_level"][1]
    on_line = a0 + (a1 - a0) * (y - a0[1]) / (a1[1] - a0[1])
    d = (a1 - a0) / np.linalg.norm(a1 - a0)
    normal = np.array([d[1], -d[0]])  # points anterior
    target = on_line + normal * p.adi[v]
    return Rigid(p.c1_c2_angle[v], float(target[0]), float(target[1]))


def _skull_on_c1(p: Patient, c1: Body, v: int, lift: float) -> Rigid:
    contact = c1.anchors["condyle_contact"]
    basion = contact - CONDYLE_BOTTOM * p.size + np.array([0.0, 2.0 + lift])
    return about(p.occ_c1_angle[v], tuple(contact)).compose(Rigid(0, *basion))


def _chamberlain(p: Patient, bodies: dict[str, Body], lift: float) -> float:
    f = frames_for(p, bodies, 1, lift)
    tip = f["c2"].apply(bodies["c2"].anchors["dens_tip"][None])[0]
    if p.ossicle != "none":
        tip = tip + f["c2"].apply(np.array([[-0.5, p.ossicle_gap + 2 * _ossicle_ry(p)]]))[0]
        tip -= f["c2"].apply(np.zeros((1, 2)))[0]
    skull = bodies["skull"].anchors
    pns, opis = (f["skull"].apply(skull[k][None])[0] for k in ("hard_palate", "opisthion"))
    return point_line_distance(tip, opis, pns)


def _solve_skull_lift(p: Patient, bodies: dict[str, Body]) -> float:
    """Secant steps on the skull's height above C1 until Chamberlain's value hits the target."""
    lift, value = 0.0, _chamberlain(p, bodies, 0.0)
    for _ in range(3):
        slope = _chamberlain(p, bodies, lift + 1.0) - value
        lift += (p.chamberlain - value) / slope
        value = _chamberlain(p, bodies, lift)
    return lift


def _ossicle_ry(p: Patient) -> float:
    return p.ossicle_radius[1] if p.ossicle == "os" else 2.0 * p.size


def _attach_extras(p: Patient, bodies: dict[str, Body], lift: float) -> None:
    """Ossicle (with C1 for os odontoideum, with C2 otherwise) and fusion bridges."""
    c2 = bodies["c2"]
    neutral = frames_for(p, bodies, 1, lift)
    if p.ossicle != "none":
        rx = p.ossicle_radius[0] if p.ossicle == "os" else 2.6 * p.size
        ry = _ossicle_ry(p)
        tip = c2.anchors["dens_tip"]
        centre = tip + np.array([-0.5, p.ossicle_gap + ry])
        outline = ellipse(centre[0], centre[1], rx, ry, 22, tilt=-10)
        top = centre + np.array([0.0, ry])
        owner = "c1" if p.ossicle == "os" else "c2"
        if owner == "c1":
            to_c1 = neutral["c1"].inverse().compose(neutral["c2"])
            outline, top = to_c1.apply(outline), to_c1.apply(top[None])[0]
        bodies[owner].add("ossicle", outline, 0.5, 0.55)
        bodies[owner].anchors["ossicle_top"] = top
    if p.conditions.assimilation:
        _assimilation_bridge(p, bodies, neutral)
    if p.conditions.fusion:
        d, h, disc = p.body_depth[0], p.body_height[0], p.disc_height[0]
        waist = np.array(
            [
                (-d * 0.45, h - 0.3),
                (d * 0.45, h - 0.3),
                (d * 0.42, h + disc + 0.3),
                (-d * 0.42, h + disc + 0.3),
            ]
        )
        bodies["c3"].add("block", waist, 0.5, 0.0)


def _assimilation_bridge(p: Patient, bodies: dict[str, Body], neutral: dict[str, Rigid]) -> None:
    to_c1 = neutral["c1"].inverse().compose(neutral["skull"])
    skull = bodies["skull"].anchors
    opis = to_c1.apply(skull["opisthion"][None])[0]
    basion = to_c1.apply(skull["basion"][None])[0]
    c1 = bodies["c1"]
    if p.assimilation_bridge:
        top = c1.anchors["arch_top"]
        c1.add("bridge", band(np.array([top, (top + opis) / 2, opis]), 7.0 * p.size), 0.45, 0.3)
        front = np.array([2.5 * p.size, 4.5 * p.size])
        c1.add("bridge", band(np.array([front, basion]), 5.0 * p.size), 0.35, 0.2)


def _pose_view(p: Patient, bodies: dict[str, Body], v: int, lift: float) -> PosedView:
    frames = frames_for(p, bodies, v, lift)
    parts, points = [], {}
    for name, body in bodies.items():
        f = frames[name]
        parts.extend(
            Part(f"{name}.{pt.name}", f.apply(pt.points), pt.density, pt.cortex, pt.kind, pt.rim)
            for pt in body.parts
        )
        for key, xy in body.anchors.items():
            points[f"{name}.{key}"] = f.apply(np.asarray(xy)[None])[0]
    return PosedView(VIEWS[v], tuple(parts), points, frames)
