"""Per-patient parameters of the phantom: body size, age group, bone density, vertebral sizes,
motion per view and the clinical targets (ADI, Chamberlain, ossicle gap) that the sampled
abnormalities ask for. Geometry and labels are derived from these in :mod:`.skeleton`,
:mod:`.pose` and :mod:`.measure`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.random import Generator

from .labels import (
    CHAMBERLAIN_MM,
    DISLOCATION_ADI_MM,
    INSTABILITY_FLEXION_ADI_MM,
    Conditions,
    sample_conditions,
)

SUBAXIAL = ("C3", "C4", "C5", "C6", "C7")
AGE_GROUPS = ("child", "adult", "elderly")


@dataclass(frozen=True)
class Patient:
    """Everything about one phantom patient; angles are per view in :data:`VIEWS` order."""

    age_group: str
    age_years: int
    sex: str
    size: float
    density: float
    conditions: Conditions
    body_depth: tuple[float, ...]  # C3..C7 vertebral body AP depth, mm
    body_height: tuple[float, ...]  # C3..C7 body height, mm
    disc_height: tuple[float, ...]  # C2-3 .. C6-7, mm
    c2_body_height: float
    dens_length: float
    dens_width: float
    adi: tuple[float, float, float]
    chamberlain: float  # target: dens tip above Chamberlain's line in neutral, mm
    pns: tuple[float, float]  # posterior nasal spine in the skull frame (origin basion), mm
    opisthion: tuple[float, float]
    ossicle: str  # "none" | "terminale" | "os"
    ossicle_gap: float
    ossicle_radius: tuple[float, float]
    stub_fraction: float
    occ_c1_angle: tuple[float, float, float]
    c1_c2_angle: tuple[float, float, float]
    subaxial_angle: tuple[tuple[float, float, float], ...]  # C2-3 .. C6-7
    trunk_angle: tuple[float, float, float]
    assimilation_bridge: bool
    jaw_open: float
    neck_depth: float
    prevertebral: float
    airway: float
    shoulder: float
    wedge: tuple[float, ...]  # C3..C7 anterior inferior height factor (anterior wedging)
    osteophyte: tuple[float, ...]  # C3..C7 anterior corner spur length, mm (0 = none)


def sample_patient(rng: np.random.Generator, prevalence: Mapping[str, float]) -> Patient:
    """Draw one patient: conditions first, then anatomy and motion consistent with them."""
    cond = sample_conditions(rng, prevalence)
    group = str(rng.choice(AGE_GROUPS, p=[0.15, 0.6, 0.25]))
    age = {"child": (6, 16), "adult": (18, 60), "elderly": (60, 90)}[group]
    size = rng.uniform(*{"child": (0.74, 0.9), "adult": (0.9, 1.1), "elderly": (0.88, 1.06)}[group])
    density = rng.uniform(
        *{"child": (0.7, 0.95), "adult": (0.85, 1.15), "elderly": (0.5, 0.95)}[group]
    )
    mobility = rng.uniform(
        *{"child": (1.0, 1.35), "adult": (0.7, 1.2), "elderly": (0.35, 0.85)}[group]
    )
    ossicle, gap = _ossicle(rng, cond)
    return Patient(
        age_group=group,
        age_years=int(rng.integers(*age)),
        sex=str(rng.choice(["F", "M"])),
        size=float(size),
        density=float(density),
        conditions=cond,
        body_depth=tuple(float(v) for v in rng.uniform(14.5, 17.5, 5) * size),
        body_height=tuple(float(v) for v in rng.uniform(12.5, 15.0, 5) * size),
        disc_height=_discs(rng, group, size, cond.fusion),
        c2_body_height=float(rng.uniform(15.5, 18.5) * size),
        dens_length=float(rng.uniform(14.0, 17.0) * size),
        dens_width=float(rng.uniform(9.0, 11.0) * size),
        adi=_adi(rng, cond, group),
        chamberlain=_chamberlain(rng, cond.invagination),
        pns=(float(rng.uniform(40, 50) * size), float(rng.uniform(-10, -3) * size)),
        opisthion=(float(rng.uniform(-40, -32) * size), float(rng.uniform(-6, 2) * size)),
        ossicle=ossicle,
        ossicle_gap=gap,
        ossicle_radius=(float(rng.uniform(3.5, 5.5)), float(rng.uniform(3.2, 5.0))),
        stub_fraction=float(rng.uniform(0.3, 0.5)),
        occ_c1_angle=_occ_c1(rng, cond.assimilation, mobility),
        c1_c2_angle=_motion(rng, rng.normal(-2, 3), (3, 8), (3, 8), mobility),
        subaxial_angle=_subaxial(rng, mobility, cond.fusion),
        trunk_angle=_motion(rng, rng.normal(0, 3), (0, 6), (0, 5), 1.0),
        assimilation_bridge=bool(cond.assimilation and rng.random() < 0.7),
        jaw_open=float(rng.uniform(0, 4) if rng.random() < 0.3 else 0.0),
        neck_depth=float(rng.uniform(95, 130) * size),
        prevertebral=float(rng.uniform(2.5, 6.0)),
        airway=float(rng.uniform(8, 16) * size),
        shoulder=float(rng.uniform(-15, 15)),
        wedge=tuple(float(v) for v in rng.uniform(0.9, 1.04, 5)),
        osteophyte=_osteophytes(rng, group),
    )


def _motion(
    rng: Generator,
    base: float,
    flex: tuple[float, float],
    ext: tuple[float, float],
    mobility: float,
) -> tuple[float, float, float]:
    """Angles (ext, neutral, flex): neutral ``base`` plus sampled excursions times mobility."""
    return (
        float(base - rng.uniform(*ext) * mobility),
        float(base),
        float(base + rng.uniform(*flex) * mobility),
    )


def _occ_c1(rng: Generator, fused: bool, mobility: float) -> tuple[float, float, float]:
    base = rng.normal(0, 4)
    if fused:  # no motion: only the measurement-scale wobble of a fibrous fusion
        return tuple(float(base + v) for v in rng.uniform(-0.9, 0.9, 3))
    if rng.random() < 0.12:  # stiff but mobile: total range just above the threshold
        total = rng.uniform(2.1, 4.5)
        share = rng.uniform(0.3, 0.7)
        return (float(base - total * share), float(base), float(base + total * (1 - share)))
    return _motion(rng, base, (3, 9), (4, 12), mobility)


def _subaxial(
    rng: Generator, mobility: float, fused: bool
) -> tuple[tuple[float, float, float], ...]:
    levels = []
    for k in range(5):
        base = rng.normal(-3.0, 2.5)
        if k == 0 and fused:  # a congenital block: little lordosis and (almost) no motion
            base = float(np.clip(rng.normal(-1.0, 1.5), -4.0, 2.0))
            levels.append(tuple(float(base + v) for v in rng.uniform(-0.8, 0.8, 3)))
        elif k == 0 and rng.random() < 0.1:  # stiff degenerate C2-C3: motion near threshold
            total = rng.uniform(2.1, 4.0)
            levels.append((float(base - total / 2), float(base), float(base + total / 2)))
        else:
            levels.append(_motion(rng, base, (2, 6.5), (2, 6), mobility))
    return tuple(levels)


def _discs(rng: Generator, group: str, size: float, fused: bool) -> tuple[float, ...]:
    lo, hi = {"child": (3.0, 4.5), "adult": (3.5, 5.5), "elderly": (1.4, 4.0)}[group]
    discs = [float(v) for v in rng.uniform(lo, hi, 5) * size]
    if fused:
        discs[0] = float(0.0 if rng.random() < 0.5 else rng.uniform(0.2, 0.85))  # measured < 1
    elif rng.random() < 0.08:  # narrowed but not fused
        discs[0] = float(rng.uniform(1.02, 1.8))
    return tuple(discs)


def _adi(rng: Generator, cond: Conditions, group: str) -> tuple[float, float, float]:
    """ADI (ext, neutral, flex) in mm; instability stays normal in extension and neutral."""
    ext = rng.uniform(0.8, 2.4) + (0.4 if group == "child" else 0.0)
    if cond.dislocation:
        base = DISLOCATION_ADI_MM + (
            rng.uniform(0.05, 0.8) if rng.random() < 0.35 else rng.uniform(0.8, 5)
        )
        change = rng.uniform(1.5, 1.98) if rng.random() < 0.3 else rng.uniform(0.0, 1.5)
        return (float(base), float(base + change * rng.uniform(0.2, 0.8)), float(base + change))
    if cond.instability:
        flex = INSTABILITY_FLEXION_ADI_MM + (
            rng.uniform(0.05, 1.0) if rng.random() < 0.4 else rng.uniform(1.0, 6.0)
        )
    elif rng.random() < 0.25:
        flex = rng.uniform(max(ext, 2.3), INSTABILITY_FLEXION_ADI_MM - 0.03)
    else:
        flex = min(ext + rng.uniform(0.0, 1.2), INSTABILITY_FLEXION_ADI_MM - 0.03)
    if cond.instability:  # reducible: neutral looks like a normal patient's
        neutral = ext + rng.uniform(0.0, 0.6)
    else:
        neutral = ext + (flex - ext) * rng.uniform(0.15, 0.45)
    return (float(ext), float(min(neutral, INSTABILITY_FLEXION_ADI_MM - 0.1)), float(flex))


def _chamberlain(rng: Generator, invaginated: bool) -> float:
    if invaginated:
        if rng.random() < 0.35:
            return float(CHAMBERLAIN_MM + rng.uniform(0.05, 1.5))
        return float(CHAMBERLAIN_MM + rng.uniform(1.5, 9.0))
    if rng.random() < 0.25:
        return float(rng.uniform(1.0, CHAMBERLAIN_MM - 0.05))
    return float(np.clip(rng.normal(-1.5, 2.0), -7.0, CHAMBERLAIN_MM - 0.05))


def _osteophytes(rng: Generator, group: str) -> tuple[float, ...]:
    """Degenerative anterior spurs: common in the elderly, rare in adults, absent in children."""
    chance, size = {"child": (0.0, 0.0), "adult": (0.1, 1.2), "elderly": (0.5, 2.5)}[group]
    return tuple(
        float(rng.uniform(0.5, 1.0) * size) if rng.random() < chance else 0.0 for _ in range(5)
    )


def _ossicle(rng: Generator, cond: Conditions) -> tuple[str, float]:
    if cond.os_odontoideum:
        return "os", float(rng.uniform(2.1, 2.8) if rng.random() < 0.3 else rng.uniform(2.8, 7.0))
    if rng.random() < 0.06:  # ossiculum terminale: small tip ossicle, narrow gap, moves with C2
        return "terminale", float(rng.uniform(0.4, 1.8))  # measured gap stays below 2 mm
    return "none", 0.0
