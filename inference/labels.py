"""The demo label set, the views in model order, the landmarks, and the relations between labels.

The model file carries its own labels (export metadata); these are the defaults that training uses.
Codes are private (coding scheme ``99CERVI``, declared in the SR's
CodingSchemeIdentificationSequence): no SNOMED CT code is claimed without a verified one.
"""

from __future__ import annotations

from dataclasses import dataclass
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

# Model order of the dynamic study: the sequence module runs extension -> neutral -> flexion.
VIEWS: tuple[str, ...] = ("extension", "neutral", "flexion")

LANDMARKS: tuple[str, ...] = (
    "c1_anterior_arch",
    "dens_tip",
    "posterior_dens",
    "basion",
    "opisthion",
    "hard_palate",
)


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
