"""Cervi's vocabulary: the demo label set and its codes, the views, the landmarks, and the
relations between labels. Standard library only: every layer imports its facts from here.

The model file carries its own labels and codes (export metadata, written from ``LABELS`` and
``LABEL_CODES`` at training time); at run time the service takes them from the file. Codes are
private (coding scheme ``99CERVI``, declared in the SR's CodingSchemeIdentificationSequence): no
SNOMED CT code is claimed without a verified one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

LABELS: tuple[str, ...] = (
    "atlantoaxial_instability",
    "atlantoaxial_dislocation",
    "basilar_invagination",
    "os_odontoideum",
    "atlas_assimilation",
    "c2_c3_fusion",
)

CODING_SCHEME = "99CERVI"

LABEL_CODES: dict[str, tuple[str, str]] = {
    "atlantoaxial_instability": ("CERVI-F001", "Atlantoaxial instability"),
    "atlantoaxial_dislocation": ("CERVI-F002", "Atlantoaxial dislocation"),
    "basilar_invagination": ("CERVI-F003", "Basilar invagination"),
    "os_odontoideum": ("CERVI-F004", "Os odontoideum"),
    "atlas_assimilation": ("CERVI-F005", "Atlas assimilation"),
    "c2_c3_fusion": ("CERVI-F006", "C2-C3 fusion"),
}


class View(StrEnum):
    """The lateral views of a dynamic study, and ``unknown`` for an image no rule has named yet
    (the values of ``instances.view``)."""

    EXTENSION = "extension"
    NEUTRAL = "neutral"
    FLEXION = "flexion"
    UNKNOWN = "unknown"


# Model order of the dynamic study: the sequence module runs extension -> neutral -> flexion.
VIEWS: tuple[View, ...] = (View.EXTENSION, View.NEUTRAL, View.FLEXION)

LANDMARKS: tuple[str, ...] = (
    "c1_anterior_arch",
    "dens_tip",
    "posterior_dens",
    "basion",
    "opisthion",
    "hard_palate",
)

# Points for the measurements the six landmarks do not give (occiput-C1 and C2-C3 angles, C2-C3
# disc height). The classifier finds them in its crops, learnt where the truth has them
# (``truth.json`` "points"); the ROI network and the SR keep to ``LANDMARKS``.
MEASUREMENT_POINTS: tuple[str, ...] = (
    "c1_posterior_tubercle",
    "c2_inferior_anterior",
    "c2_inferior_posterior",
    "c3_superior_anterior",
    "c3_superior_posterior",
)
CROP_POINTS: tuple[str, ...] = LANDMARKS + MEASUREMENT_POINTS

# Measurements the network also learns to predict when the truth has them (the phantoms do): the
# labels are thresholds on them, so they teach the network millimetres and degrees, not only 0/1.
# Per view: ``{name}`` is read from ``truth["measurements"]`` as ``PREFIX_{view}_SUFFIX``.
VIEW_MEASUREMENTS: tuple[tuple[str, str, float], ...] = (
    # (name, truth key pattern, scale: the network sees value / scale)
    ("adi_mm", "adi_{view}_mm", 5.0),
    ("occiput_c1_angle_deg", "occiput_c1_angle_{view}_deg", 10.0),
    ("c2_c3_angle_deg", "c2_c3_angle_{view}_deg", 10.0),
)
STUDY_MEASUREMENTS: tuple[tuple[str, float], ...] = (
    ("c2_c3_disc_height_mm", 5.0),
    ("ossicle_gap_mm", 5.0),
    ("dens_above_chamberlain_mm", 5.0),
    ("basion_dens_interval_mm", 5.0),
)


def measurement_names() -> list[str]:
    """Names of the network's ``measurements`` output, in order (per view, then study)."""
    per_view = [f"{name}_{view}" for view in VIEWS for name, _, _ in VIEW_MEASUREMENTS]
    return per_view + [name for name, _ in STUDY_MEASUREMENTS]


def measurement_scales() -> list[float]:
    """The scale of each entry of :func:`measurement_names`."""
    per_view = [scale for _ in VIEWS for _, _, scale in VIEW_MEASUREMENTS]
    return per_view + [scale for _, scale in STUDY_MEASUREMENTS]


@dataclass(frozen=True)
class Relation:
    """A known dependency between two labels that the loss penalises when violated.

    ``exclusive``: ``a`` and ``b`` never co-occur (penalty p_a * p_b).
    ``implies``: ``a`` raises the chance of ``b`` (penalty p_a * (1 - p_b), kept small: it is a
    tendency, not a rule).
    """

    kind: Literal["exclusive", "implies"]
    a: str
    b: str
    weight: float


DEFAULT_RELATIONS: tuple[Relation, ...] = (
    Relation("exclusive", "atlantoaxial_instability", "atlantoaxial_dislocation", 1.0),
    Relation("implies", "atlas_assimilation", "basilar_invagination", 0.1),
    Relation("implies", "atlas_assimilation", "c2_c3_fusion", 0.1),
    Relation("implies", "os_odontoideum", "atlantoaxial_instability", 0.1),
)
