"""The measurements a reader takes on a dynamic cervical study, as Cervi reports them.

CerviHFENet's ``measurements`` output (:func:`inference.labels.measurement_names`) gives, per
view, the atlantodental interval and the occiput-C1 and C2-C3 angles, and for the study the
neutral view's dens position against Chamberlain's line, basion-dens interval, C2-C3 disc height
and ossicle gap. :func:`report` turns that output and the classifier's landmarks into
:class:`Measurement` values: the per-view values, the study values, and the changes over the
views that the labels rest on (ADI change from extension to flexion, occiput-C1 and C2-C3
motion: the range of the angle over the three views). Each measurement read on an image carries
the lines it is measured between, in that image's pixels (for the SR's SCOORD).

Definitions (the phantoms' truth, ``inference/phantom/measure.py``, uses the same ones); per
view:

- ``adi_mm``: C1's anterior arch (posterior cortex) to the anterior surface of the dens;
- ``occiput_c1_angle_deg``: the foramen magnum line (opisthion-basion) against the C1 line
  (posterior tubercle-anterior arch);
- ``c2_c3_angle_deg``: C2's inferior against C3's superior endplate;

for the study:

- ``adi_change_mm``: flexion ADI minus extension ADI;
- ``occiput_c1_motion_deg``, ``c2_c3_motion_deg``: the angle's range over the three views;
- on the neutral view: ``dens_above_chamberlain_mm`` (dens tip above the hard palate-opisthion
  line), ``basion_dens_interval_mm``, ``c2_c3_disc_height_mm`` (between the endplates'
  midpoints) and ``ossicle_gap_mm`` (ossicle to dens, 0 without an ossicle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inference.labels import VIEWS

Point = tuple[float, float]
Line = tuple[Point, ...]


@dataclass(frozen=True)
class MeasurementKind:
    """One kind of measurement: its key, UCUM unit, whether it is read per view, its name."""

    key: str
    unit: str  # UCUM: "mm" or "deg"
    per_view: bool
    name: str


KINDS: tuple[MeasurementKind, ...] = (
    MeasurementKind("adi_mm", "mm", True, "Atlantodental interval"),
    MeasurementKind("occiput_c1_angle_deg", "deg", True, "Occiput-C1 angle"),
    MeasurementKind("c2_c3_angle_deg", "deg", True, "C2-C3 angle"),
    MeasurementKind("adi_change_mm", "mm", False, "ADI change, extension to flexion"),
    MeasurementKind("dens_above_chamberlain_mm", "mm", False, "Dens tip above Chamberlain's line"),
    MeasurementKind("basion_dens_interval_mm", "mm", False, "Basion-dens interval"),
    MeasurementKind("occiput_c1_motion_deg", "deg", False, "Occiput-C1 motion"),
    MeasurementKind("c2_c3_motion_deg", "deg", False, "C2-C3 motion"),
    MeasurementKind("c2_c3_disc_height_mm", "mm", False, "C2-C3 disc height"),
    MeasurementKind("ossicle_gap_mm", "mm", False, "Ossicle gap"),
)
BY_KEY: Mapping[str, MeasurementKind] = {kind.key: kind for kind in KINDS}


@dataclass(frozen=True)
class Measurement:
    """One reported value. ``view``: the view it is read on (None for a change over the
    views); ``lines``: what it is measured between, polylines in that view's source pixels
    (column x, row y, the convention of :class:`inference.result.RegionOfInterest`)."""

    key: str
    value: float
    view: str | None = None
    lines: tuple[Line, ...] = ()

    @property
    def kind(self) -> MeasurementKind:
        return BY_KEY[self.key]

    @property
    def unit(self) -> str:
        return self.kind.unit

    @property
    def per_view(self) -> bool:
        return self.kind.per_view

    @property
    def name(self) -> str:
        """The column and JSON name: ``adi_mm_flexion`` for a per-view value, else the key."""
        return f"{self.key}_{self.view}" if self.per_view else self.key


def truth_value(truth: Mapping[str, float], key: str, view: str | None) -> float | None:
    """The phantom truth (``truth.json`` "measurements") for a measurement, if it has one."""
    if key == "adi_mm":
        return truth.get(f"adi_{view}_mm")
    if key in ("occiput_c1_angle_deg", "c2_c3_angle_deg"):
        return truth.get(f"{key.removesuffix('_deg')}_{view}_deg")
    return truth.get(key)


def report(
    values: Mapping[str, float],
    points: Mapping[str, Mapping[str, Sequence[float]]],
    spacing_mm: Mapping[str, tuple[float, float]],
) -> tuple[Measurement, ...]:
    """The reported measurements of one study.

    values: the runtime's measurement output (``adi_mm_flexion``, ..., per-view entries only
        for the views used).
    points: {view: {point name: (x, y)}} in source pixels: the six landmarks and the
        measurement points.
    spacing_mm: {view: (row, column) spacing of the source image in mm}.
    """
    used = [v for v in VIEWS if v in points]
    out: list[Measurement] = []
    for view in used:
        p = points[view]
        for key in ("adi_mm", "occiput_c1_angle_deg", "c2_c3_angle_deg"):
            value = values.get(f"{key}_{view}")
            if value is None:
                continue
            lines = _lines(_view_lines, key, value, p, spacing_mm[view])
            out.append(Measurement(key, value, view, lines))
    per_view = {(m.key, m.view): m.value for m in out}
    if ("adi_mm", "flexion") in per_view and ("adi_mm", "extension") in per_view:
        change = per_view[("adi_mm", "flexion")] - per_view[("adi_mm", "extension")]
        out.append(Measurement("adi_change_mm", change))
    if set(used) == set(VIEWS):
        for angle, motion in (
            ("occiput_c1_angle_deg", "occiput_c1_motion_deg"),
            ("c2_c3_angle_deg", "c2_c3_motion_deg"),
        ):
            angles = [per_view[(angle, v)] for v in VIEWS if (angle, v) in per_view]
            if len(angles) == len(VIEWS):
                out.append(Measurement(motion, max(angles) - min(angles)))
    if "neutral" in points:
        p = points["neutral"]
        for key in (
            "dens_above_chamberlain_mm",
            "basion_dens_interval_mm",
            "c2_c3_disc_height_mm",
            "ossicle_gap_mm",
        ):
            if key in values:
                lines = _lines(_study_lines, key, p)
                out.append(Measurement(key, values[key], "neutral", lines))
    return tuple(out)


def _lines(build: Callable[..., tuple[Line, ...]], *args: object) -> tuple[Line, ...]:
    """The lines ``build`` draws, or none when the model gave no point it needs (a model
    trained without the measurement points)."""
    try:
        return build(*args)
    except KeyError:
        return ()


def _pt(points: Mapping[str, Sequence[float]], name: str) -> Point:
    x, y = points[name]
    return (round(float(x), 1), round(float(y), 1))


def _mid(a: Point, b: Point) -> Point:
    return (round((a[0] + b[0]) / 2, 1), round((a[1] + b[1]) / 2, 1))


def _view_lines(
    key: str, value: float, p: Mapping[str, Sequence[float]], spacing: tuple[float, float]
) -> tuple[Line, ...]:
    if key == "adi_mm":
        # from the anterior arch toward the posterior dens surface, as long as the interval
        # read: the line a reader draws from the arch to the front of the dens
        arch = np.array(_pt(p, "c1_anterior_arch"))
        towards = np.array(_pt(p, "posterior_dens")) - arch
        mm = towards * np.array([spacing[1], spacing[0]])
        norm = float(np.hypot(*mm))
        if norm == 0.0:
            return ()
        end = arch + towards * max(value, 0.0) / norm
        return ((_pt(p, "c1_anterior_arch"), (round(end[0], 1), round(end[1], 1))),)
    if key == "occiput_c1_angle_deg":
        return (
            (_pt(p, "opisthion"), _pt(p, "basion")),
            (_pt(p, "c1_posterior_tubercle"), _pt(p, "c1_anterior_arch")),
        )
    return (  # c2_c3_angle_deg
        (_pt(p, "c2_inferior_posterior"), _pt(p, "c2_inferior_anterior")),
        (_pt(p, "c3_superior_posterior"), _pt(p, "c3_superior_anterior")),
    )


def _study_lines(key: str, p: Mapping[str, Sequence[float]]) -> tuple[Line, ...]:
    if key == "dens_above_chamberlain_mm":
        return ((_pt(p, "hard_palate"), _pt(p, "opisthion")), (_pt(p, "dens_tip"),))
    if key == "basion_dens_interval_mm":
        return ((_pt(p, "basion"), _pt(p, "dens_tip")),)
    if key == "c2_c3_disc_height_mm":
        c2 = _mid(_pt(p, "c2_inferior_anterior"), _pt(p, "c2_inferior_posterior"))
        c3 = _mid(_pt(p, "c3_superior_anterior"), _pt(p, "c3_superior_posterior"))
        return ((c2, c3),)
    return ()  # ossicle_gap_mm: no landmark marks the ossicle
