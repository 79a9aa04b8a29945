"""Label rules of the phantoms read docs/labels.md's thresholds off measurements."""

from __future__ import annotations

import pytest

from inference.phantom.labels import (
    DEFAULT_PREVALENCE,
    LABEL_KEYS,
    labels_from_measurements,
    parse_prevalence,
)

NORMAL = {
    "adi_extension_mm": 1.5,
    "adi_neutral_mm": 1.8,
    "adi_flexion_mm": 2.2,
    "adi_change_mm": 0.7,
    "dens_above_chamberlain_mm": -1.0,
    "ossicle_gap_mm": 0.0,
    "occiput_c1_motion_deg": 15.0,
    "c2_c3_disc_height_mm": 4.0,
    "c2_c3_motion_deg": 10.0,
}


def labels(**changes: float) -> dict[str, int]:
    return labels_from_measurements({**NORMAL, **changes})


def test_label_keys_are_designs_six() -> None:
    assert LABEL_KEYS == (
        "atlantoaxial_instability",
        "atlantoaxial_dislocation",
        "basilar_invagination",
        "os_odontoideum",
        "atlas_assimilation",
        "c2_c3_fusion",
    )
    assert set(labels()) == set(LABEL_KEYS)
    assert not any(labels().values())


@pytest.mark.parametrize(
    ("flexion", "extension", "expected"),
    [(3.0, 1.0, 0), (3.01, 1.0, 1), (2.9, -0.6, 1), (2.9, -0.5, 0)],
)
def test_instability_thresholds(flexion: float, extension: float, expected: int) -> None:
    got = labels(
        adi_flexion_mm=flexion, adi_extension_mm=extension, adi_change_mm=flexion - extension
    )
    assert got["atlantoaxial_instability"] == expected


def test_dislocation_is_fixed_wide_adi_and_excludes_instability() -> None:
    fixed = labels(adi_extension_mm=5.5, adi_neutral_mm=6.0, adi_flexion_mm=7.4, adi_change_mm=1.9)
    assert fixed["atlantoaxial_dislocation"] == 1
    assert fixed["atlantoaxial_instability"] == 0
    moving = labels(adi_extension_mm=5.5, adi_neutral_mm=6.5, adi_flexion_mm=7.5, adi_change_mm=2.0)
    assert moving["atlantoaxial_dislocation"] == 0
    assert moving["atlantoaxial_instability"] == 1
    one_view_narrow = labels(
        adi_extension_mm=5.0, adi_neutral_mm=6.0, adi_flexion_mm=6.5, adi_change_mm=1.5
    )
    assert one_view_narrow["atlantoaxial_dislocation"] == 0


@pytest.mark.parametrize(
    ("key", "changes", "expected"),
    [
        ("basilar_invagination", {"dens_above_chamberlain_mm": 3.0}, 0),
        ("basilar_invagination", {"dens_above_chamberlain_mm": 3.01}, 1),
        ("os_odontoideum", {"ossicle_gap_mm": 1.99}, 0),
        ("os_odontoideum", {"ossicle_gap_mm": 2.0}, 1),
        ("atlas_assimilation", {"occiput_c1_motion_deg": 2.0}, 0),
        ("atlas_assimilation", {"occiput_c1_motion_deg": 1.9}, 1),
        ("c2_c3_fusion", {"c2_c3_disc_height_mm": 0.9, "c2_c3_motion_deg": 1.0}, 1),
        ("c2_c3_fusion", {"c2_c3_disc_height_mm": 1.1, "c2_c3_motion_deg": 1.0}, 0),
        ("c2_c3_fusion", {"c2_c3_disc_height_mm": 0.5, "c2_c3_motion_deg": 2.5}, 0),
    ],
)
def test_threshold_edges(key: str, changes: dict[str, float], expected: int) -> None:
    assert labels(**changes)[key] == expected


def test_parse_prevalence() -> None:
    assert parse_prevalence(None) == DEFAULT_PREVALENCE
    assert set(parse_prevalence("0.3").values()) == {0.3}
    assert parse_prevalence("os_odontoideum=0.5")["os_odontoideum"] == 0.5
    with pytest.raises(ValueError, match="unknown label"):
        parse_prevalence("scoliosis=0.2")
    with pytest.raises(ValueError, match="must not exceed"):
        parse_prevalence("atlantoaxial_instability=0.7,atlantoaxial_dislocation=0.5")
