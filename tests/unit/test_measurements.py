"""The reported measurements (inference.measurements): per view, the study, the changes over
the views, and the lines they are measured between."""

from __future__ import annotations

import math

import pytest

from inference.labels import CROP_POINTS, VIEWS
from inference.measurements import KINDS, Measurement, report, truth_value


def _points(shift: float = 0.0) -> dict[str, list[float]]:
    """A plausible set of the eleven points in source pixels (x right, y down)."""
    base = {
        "c1_anterior_arch": [300.0, 400.0],
        "dens_tip": [280.0, 380.0],
        "posterior_dens": [260.0, 405.0],
        "basion": [285.0, 350.0],
        "opisthion": [200.0, 345.0],
        "hard_palate": [420.0, 330.0],
        "c1_posterior_tubercle": [180.0, 410.0],
        "c2_inferior_anterior": [300.0, 480.0],
        "c2_inferior_posterior": [250.0, 485.0],
        "c3_superior_anterior": [302.0, 492.0],
        "c3_superior_posterior": [252.0, 497.0],
    }
    assert set(base) == set(CROP_POINTS)
    return {k: [x + shift, y] for k, (x, y) in base.items()}


def _values(adi: dict[str, float], occ: dict[str, float], c23: dict[str, float]) -> dict:
    values = {}
    for view in VIEWS:
        values[f"adi_mm_{view}"] = adi[view]
        values[f"occiput_c1_angle_deg_{view}"] = occ[view]
        values[f"c2_c3_angle_deg_{view}"] = c23[view]
    values |= {
        "dens_above_chamberlain_mm": 4.2,
        "basion_dens_interval_mm": 7.5,
        "c2_c3_disc_height_mm": 5.1,
        "ossicle_gap_mm": 0.0,
    }
    return values


def test_per_view_study_and_change_values() -> None:
    adi = {"extension": 1.5, "neutral": 2.0, "flexion": 5.5}
    occ = {"extension": 12.0, "neutral": 6.0, "flexion": -3.0}
    c23 = {"extension": 4.0, "neutral": 4.5, "flexion": 3.0}
    out = report(
        _values(adi, occ, c23),
        {v: _points() for v in VIEWS},
        {v: (0.2, 0.2) for v in VIEWS},
    )
    by = {m.name: m for m in out}
    assert by["adi_mm_flexion"].value == 5.5 and by["adi_mm_flexion"].view == "flexion"
    assert by["adi_change_mm"].value == pytest.approx(4.0)
    assert by["occiput_c1_motion_deg"].value == pytest.approx(15.0)
    assert by["c2_c3_motion_deg"].value == pytest.approx(1.5)
    assert by["dens_above_chamberlain_mm"].view == "neutral"
    assert {m.key for m in out} == {k.key for k in KINDS}
    assert {m.unit for m in out} == {"mm", "deg"}
    # a change over the views is not read on one image: no view, no lines
    assert by["adi_change_mm"].view is None and by["adi_change_mm"].lines == ()


def test_the_adi_line_is_as_long_as_the_interval_read() -> None:
    spacing = (0.25, 0.125)  # rows, columns: anisotropic on purpose
    out = report(
        _values({v: 3.0 for v in VIEWS}, {v: 0.0 for v in VIEWS}, {v: 0.0 for v in VIEWS}),
        {"neutral": _points()},
        {"neutral": spacing},
    )
    (line,) = next(m for m in out if m.key == "adi_mm").lines
    (x0, y0), (x1, y1) = line
    assert (x0, y0) == (300.0, 400.0)  # the anterior arch
    length_mm = math.hypot((x1 - x0) * spacing[1], (y1 - y0) * spacing[0])
    assert length_mm == pytest.approx(3.0, abs=0.05)
    # towards the posterior dens
    assert x1 < x0


def test_partial_studies_leave_out_what_needs_the_missing_views() -> None:
    values = _values({v: 2.0 for v in VIEWS}, {v: 1.0 for v in VIEWS}, {v: 1.0 for v in VIEWS})
    values = {k: v for k, v in values.items() if not k.endswith("_extension")}
    used = ("neutral", "flexion")
    out = report(values, {v: _points() for v in used}, {v: (0.2, 0.2) for v in used})
    names = {m.name for m in out}
    assert "adi_mm_flexion" in names and "adi_mm_extension" not in names
    assert not names & {"adi_change_mm", "occiput_c1_motion_deg", "c2_c3_motion_deg"}


def test_a_model_without_measurement_points_still_reports_values() -> None:
    six = {k: v for k, v in _points().items() if k in CROP_POINTS[:6]}
    out = report(
        _values({v: 2.0 for v in VIEWS}, {v: 1.0 for v in VIEWS}, {v: 1.0 for v in VIEWS}),
        {v: six for v in VIEWS},
        {v: (0.2, 0.2) for v in VIEWS},
    )
    by = {m.name: m for m in out}
    assert by["c2_c3_angle_deg_neutral"].lines == ()
    assert by["adi_mm_neutral"].lines  # the ADI needs only landmarks


def test_truth_names() -> None:
    truth = {"adi_flexion_mm": 3.6, "occiput_c1_angle_neutral_deg": 5.0, "adi_change_mm": 2.0}
    assert truth_value(truth, "adi_mm", "flexion") == 3.6
    assert truth_value(truth, "occiput_c1_angle_deg", "neutral") == 5.0
    assert truth_value(truth, "adi_change_mm", None) == 2.0
    assert Measurement("adi_mm", 1.0, "flexion").name == "adi_mm_flexion"
    assert Measurement("adi_change_mm", 1.0).name == "adi_change_mm"


def test_evaluate_reports_mean_absolute_error_against_the_targets() -> None:
    from inference.evaluate import measurement_errors

    out = measurement_errors(
        {
            "adi_mm_flexion": [0.2, 0.4, 1.2],
            "c2_c3_motion_deg": [1.0, 4.0],
            "ossicle_gap_mm": [0.1],
        }
    )
    assert list(out) == ["adi_mm_flexion", "c2_c3_motion_deg", "ossicle_gap_mm"]
    assert out["adi_mm_flexion"]["mae"] == pytest.approx(0.6)
    assert (out["adi_mm_flexion"]["target"], out["adi_mm_flexion"]["met"]) == (0.5, False)
    assert (out["c2_c3_motion_deg"]["target"], out["c2_c3_motion_deg"]["met"]) == (2.0, False)
    assert out["c2_c3_motion_deg"]["unit"] == "deg" and out["c2_c3_motion_deg"]["n"] == 2
    assert "target" not in out["ossicle_gap_mm"]
