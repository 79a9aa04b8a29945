"""The six demo labels: thresholds, the rules that read them off measurements, and the
dependency structure used to sample which abnormalities a phantom patient has (docs/labels.md,
"The demo label set")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from inference.labels import LABELS as LABEL_KEYS

# Thresholds in mm and degrees. The first five are docs/labels.md's; the last four make "fused",
# "no motion" and "wide gap" measurable for the phantoms.
INSTABILITY_ADI_CHANGE_MM = 3.5
INSTABILITY_FLEXION_ADI_MM = 3.0
DISLOCATION_ADI_MM = 5.0
DISLOCATION_MAX_CHANGE_MM = 2.0
CHAMBERLAIN_MM = 3.0
OSSICLE_GAP_MM = 2.0
OCC_C1_MOTION_DEG = 2.0
C2C3_DISC_MM = 1.0
C2C3_MOTION_DEG = 2.0


def labels_from_measurements(m: Mapping[str, float]) -> dict[str, int]:
    """Apply the label rules to measured geometry (keys as in :mod:`.measure`)."""
    adi = [m["adi_extension_mm"], m["adi_neutral_mm"], m["adi_flexion_mm"]]
    change = m["adi_change_mm"]
    dislocation = min(adi) > DISLOCATION_ADI_MM and abs(change) < DISLOCATION_MAX_CHANGE_MM
    unstable = (
        change >= INSTABILITY_ADI_CHANGE_MM or m["adi_flexion_mm"] > INSTABILITY_FLEXION_ADI_MM
    )
    return {
        "atlantoaxial_instability": int(unstable and not dislocation),
        "atlantoaxial_dislocation": int(dislocation),
        "basilar_invagination": int(m["dens_above_chamberlain_mm"] > CHAMBERLAIN_MM),
        "os_odontoideum": int(m["ossicle_gap_mm"] >= OSSICLE_GAP_MM),
        "atlas_assimilation": int(m["occiput_c1_motion_deg"] < OCC_C1_MOTION_DEG),
        "c2_c3_fusion": int(
            m["c2_c3_disc_height_mm"] < C2C3_DISC_MM and m["c2_c3_motion_deg"] < C2C3_MOTION_DEG
        ),
    }


DEFAULT_PREVALENCE: dict[str, float] = {
    "atlantoaxial_instability": 0.2,
    "atlantoaxial_dislocation": 0.12,
    "basilar_invagination": 0.15,
    "os_odontoideum": 0.12,
    "atlas_assimilation": 0.12,
    "c2_c3_fusion": 0.12,
}


@dataclass(frozen=True)
class Conditions:
    """Which abnormalities the sampler aims for; the labels are then measured, not copied."""

    instability: bool
    dislocation: bool
    invagination: bool
    os_odontoideum: bool
    assimilation: bool
    fusion: bool


def parse_prevalence(text: str | None) -> dict[str, float]:
    """Parse ``0.2`` (all labels) or ``key=0.3,key2=0.1`` over the defaults."""
    prev = dict(DEFAULT_PREVALENCE)
    if not text:
        return prev
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            prev = dict.fromkeys(LABEL_KEYS, float(key))
            continue
        if key.strip() not in prev:
            raise ValueError(f"unknown label {key.strip()!r}; known: {', '.join(LABEL_KEYS)}")
        prev[key.strip()] = float(value)
    if any(not 0 <= v <= 1 for v in prev.values()):
        raise ValueError("prevalences must lie in [0, 1]")
    if prev["atlantoaxial_instability"] + prev["atlantoaxial_dislocation"] > 1:
        raise ValueError("instability + dislocation prevalence must not exceed 1")
    return prev


def sample_conditions(rng: np.random.Generator, prevalence: Mapping[str, float]) -> Conditions:
    """Sample intended abnormalities with the dependencies docs/labels.md lists.

    Assimilation triples the odds of basilar invagination and C2-C3 fusion; os odontoideum
    triples the odds of instability; instability and dislocation exclude each other.
    """
    assimilation = rng.random() < prevalence["atlas_assimilation"]
    os_odont = rng.random() < prevalence["os_odontoideum"]
    p_bi = _raised(prevalence["basilar_invagination"], 3.0 if assimilation else 1.0)
    p_fusion = _raised(prevalence["c2_c3_fusion"], 3.0 if assimilation else 1.0)
    p_instab = _raised(prevalence["atlantoaxial_instability"], 3.0 if os_odont else 1.0)
    p_disloc = min(prevalence["atlantoaxial_dislocation"], 1.0 - p_instab)
    u = rng.random()
    return Conditions(
        instability=u < p_instab,
        dislocation=p_instab <= u < p_instab + p_disloc,
        invagination=rng.random() < p_bi,
        os_odontoideum=os_odont,
        assimilation=assimilation,
        fusion=rng.random() < p_fusion,
    )


def _raised(p: float, odds_ratio: float) -> float:
    """Probability whose odds are ``odds_ratio`` times those of ``p``."""
    if p <= 0 or p >= 1:
        return p
    odds = p / (1 - p) * odds_ratio
    return odds / (1 + odds)
