"""Phantom geometry: the measured anatomy agrees with every label, docs/labels.md's dependencies
show up over a few hundred patients, and borderline cases exist (no rendering here)."""

from __future__ import annotations

import numpy as np
import pytest

from inference.phantom.anatomy import sample_patient
from inference.phantom.labels import DEFAULT_PREVALENCE, labels_from_measurements, parse_prevalence
from inference.phantom.measure import measure
from inference.phantom.pose import pose_patient

N = 250


@pytest.fixture(scope="module")
def cohort() -> list[dict]:
    """Patients drawn at a raised prevalence so that every label has enough positives."""
    prevalence = parse_prevalence("0.3,atlantoaxial_instability=0.3,atlantoaxial_dislocation=0.2")
    rows = []
    for i in range(N):
        patient = sample_patient(np.random.default_rng([99, i]), prevalence)
        views = pose_patient(patient)
        m = measure(views)
        rows.append({"patient": patient, "views": views, "m": m, "y": labels_from_measurements(m)})
    return rows


def positives(cohort: list[dict], key: str) -> list[dict]:
    return [r for r in cohort if r["y"][key]]


def test_every_label_has_positives_and_negatives(cohort: list[dict]) -> None:
    for key in cohort[0]["y"]:
        count = len(positives(cohort, key))
        assert 0.05 * N < count < 0.7 * N, key


def test_instability_geometry(cohort: list[dict]) -> None:
    for r in positives(cohort, "atlantoaxial_instability"):
        m = r["m"]
        assert m["adi_flexion_mm"] > 3.0 or m["adi_change_mm"] >= 3.5
        assert m["adi_neutral_mm"] <= 3.0  # reducible: neutral shows nothing on its own
        assert r["y"]["atlantoaxial_dislocation"] == 0


def test_instability_is_not_visible_in_neutral_alone(cohort: list[dict]) -> None:
    unstable = [r["m"]["adi_neutral_mm"] for r in positives(cohort, "atlantoaxial_instability")]
    stable = [
        r["m"]["adi_neutral_mm"]
        for r in cohort
        if not r["y"]["atlantoaxial_instability"] and not r["y"]["atlantoaxial_dislocation"]
    ]
    assert max(unstable) <= max(stable) + 0.3 and min(unstable) >= min(stable) - 0.3
    assert abs(np.median(unstable) - np.median(stable)) < 0.8


def test_dislocation_geometry(cohort: list[dict]) -> None:
    for r in positives(cohort, "atlantoaxial_dislocation"):
        m = r["m"]
        assert min(m[f"adi_{v}_mm"] for v in ("extension", "neutral", "flexion")) > 5.0
        assert abs(m["adi_change_mm"]) < 2.0


def test_other_labels_geometry(cohort: list[dict]) -> None:
    for r in cohort:
        m, y = r["m"], r["y"]
        assert y["basilar_invagination"] == (m["dens_above_chamberlain_mm"] > 3.0)
        assert y["os_odontoideum"] == (m["ossicle_gap_mm"] >= 2.0)
        assert y["atlas_assimilation"] == (m["occiput_c1_motion_deg"] < 2.0)
        fused = m["c2_c3_disc_height_mm"] < 1.0 and m["c2_c3_motion_deg"] < 2.0
        assert y["c2_c3_fusion"] == fused


def test_targets_are_reached_by_the_posed_geometry(cohort: list[dict]) -> None:
    """The skeleton is posed so that the measurements equal what the sampler asked for."""
    for r in cohort:
        p, m = r["patient"], r["m"]
        assert m["adi_extension_mm"] == pytest.approx(p.adi[0], abs=0.01)
        assert m["adi_flexion_mm"] == pytest.approx(p.adi[2], abs=0.01)
        assert m["dens_above_chamberlain_mm"] == pytest.approx(p.chamberlain, abs=0.05)


def test_os_ossicle_moves_with_c1_not_c2(cohort: list[dict]) -> None:
    checked = 0
    for r in positives(cohort, "os_odontoideum"):
        views = r["views"]
        to_arch, to_c2 = [], []
        for v in views:
            top = v.points["c1.ossicle_top"]
            to_arch.append(np.linalg.norm(top - v.points["c1.c1_anterior_arch"]))
            to_c2.append(np.linalg.norm(top - v.points["c2.inf_mid"]))
        assert np.ptp(to_arch) < 1e-6
        checked += np.ptp(to_c2) > 0.1
    assert checked > 0


CONDITION_OF = {
    "atlantoaxial_instability": "instability",
    "atlantoaxial_dislocation": "dislocation",
    "basilar_invagination": "invagination",
    "os_odontoideum": "os_odontoideum",
    "atlas_assimilation": "assimilation",
    "c2_c3_fusion": "fusion",
}


def test_measured_labels_agree_with_the_drawn_anatomy(cohort: list[dict]) -> None:
    """What the sampler built (a block vertebra, a bridge, an ossicle on C1, a settled skull)
    is what the measurement rules read, so no image shows one thing and is labelled another."""
    for r in cohort:
        for key, condition in CONDITION_OF.items():
            assert r["y"][key] == getattr(r["patient"].conditions, condition), (key, r["m"])


def test_os_label_means_an_ossicle_that_rides_on_c1(cohort: list[dict]) -> None:
    """Ossiculum terminale (small tip ossicle fixed to C2, narrow gap) is never os odontoideum."""
    kinds = {r["patient"].ossicle for r in cohort}
    assert {"os", "terminale"} <= kinds
    for r in cohort:
        assert r["y"]["os_odontoideum"] == (r["patient"].ossicle == "os")


def test_dependency_structure(cohort: list[dict]) -> None:
    def rate(key: str, given: str, value: int) -> float:
        group = [r for r in cohort if r["y"][given] == value]
        return float(np.mean([r["y"][key] for r in group]))

    assert not any(
        r["y"]["atlantoaxial_instability"] and r["y"]["atlantoaxial_dislocation"] for r in cohort
    )
    assert rate("basilar_invagination", "atlas_assimilation", 1) > rate(
        "basilar_invagination", "atlas_assimilation", 0
    )
    assert rate("c2_c3_fusion", "atlas_assimilation", 1) > rate(
        "c2_c3_fusion", "atlas_assimilation", 0
    )
    assert rate("atlantoaxial_instability", "os_odontoideum", 1) > rate(
        "atlantoaxial_instability", "os_odontoideum", 0
    )


@pytest.fixture(scope="module")
def default_cohort() -> list[dict[str, float]]:
    """Measurements of patients drawn at the default prevalences."""
    return [
        measure(pose_patient(sample_patient(np.random.default_rng([7, i]), DEFAULT_PREVALENCE)))
        for i in range(N)
    ]


@pytest.mark.parametrize(
    ("key", "threshold", "band"),
    [
        ("adi_flexion_mm", 3.0, 0.5),
        ("dens_above_chamberlain_mm", 3.0, 1.0),
        ("ossicle_gap_mm", 2.0, 0.6),
        ("occiput_c1_motion_deg", 2.0, 2.0),
        ("c2_c3_disc_height_mm", 1.0, 0.8),
    ],
)
def test_borderline_cases_on_both_sides(
    default_cohort: list[dict[str, float]], key: str, threshold: float, band: float
) -> None:
    """Enough cases near each threshold, above and below, at the default prevalences."""
    values = np.array([m[key] for m in default_cohort])
    assert ((values > threshold) & (values <= threshold + band)).sum() >= 3
    assert ((values <= threshold) & (values > threshold - band)).sum() >= 3
