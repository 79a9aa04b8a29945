"""Model results and source images for the SR and key-image tests."""

from __future__ import annotations

import datetime
import io
import subprocess

from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from dicom_node import codes
from dicom_node.sr import read
from inference.measurements import report
from inference.result import (
    VIEWS,
    LabelPrediction,
    Measurement,
    ModelIdentity,
    RegionOfInterest,
    StudyPrediction,
)
from tests.support.dicom import ROOT, make_dx

LABEL_KEYS = (
    "atlantoaxial_instability",
    "atlantoaxial_dislocation",
    "basilar_invagination",
    "os_odontoideum",
    "atlas_assimilation",
    "c2_c3_fusion",
)
NOW = datetime.datetime(2026, 11, 27, 12, 30, 15, 250000)
DEMO_MODEL = ModelIdentity("CerviHFENet", "0.1.0", "ab" * 32, demo=True)
CLINICAL_MODEL = ModelIdentity("CerviHFENet", "1.0.0", "cd" * 32, demo=False)


def study_images(size: int = 96, study_uid: str | None = None) -> dict[str, Dataset]:
    """One DX header per view, all in one study, each in its own series."""
    study_uid = study_uid or generate_uid(prefix=ROOT)
    return {
        view: make_dx(study_uid=study_uid, size=size, seed=i, description=f"C-spine lat {view}")
        for i, view in enumerate(VIEWS)
    }


def prediction(
    probabilities: tuple[float, ...] = (0.91, 0.04, 0.4321, 0.33, 0.725, 0.1),
    model: ModelIdentity = DEMO_MODEL,
    boxes: dict[str, tuple[float, float, float, float]] | None = None,
    measured: bool = True,
) -> StudyPrediction:
    boxes = boxes or {
        "extension": (10.0, 12.5, 60.0, 70.0),
        "neutral": (11.25, 13.0, 61.0, 72.0),
        "flexion": (9.0, 14.0, 58.5, 69.75),
    }
    labels = tuple(
        LabelPrediction(key, p, 0.5) for key, p in zip(LABEL_KEYS, probabilities, strict=True)
    )
    regions = {view: RegionOfInterest(view, box) for view, box in boxes.items()}
    found = measurements(boxes) if measured else ()
    return StudyPrediction(labels, tuple(boxes), regions, model, found)


#: Where the eleven points sit in an ROI box, as fractions of its width and height.
_POINTS = {
    "c1_anterior_arch": (0.55, 0.45),
    "dens_tip": (0.45, 0.35),
    "posterior_dens": (0.35, 0.5),
    "basion": (0.45, 0.2),
    "opisthion": (0.1, 0.2),
    "hard_palate": (0.9, 0.1),
    "c1_posterior_tubercle": (0.1, 0.5),
    "c2_inferior_anterior": (0.55, 0.85),
    "c2_inferior_posterior": (0.3, 0.85),
    "c3_superior_anterior": (0.55, 0.92),
    "c3_superior_posterior": (0.3, 0.92),
}
ADI_MM = {"extension": 1.8, "neutral": 2.4, "flexion": 4.1}


def measurements(boxes: dict[str, tuple[float, float, float, float]]) -> tuple[Measurement, ...]:
    """Plausible measurements of the views in ``boxes``, their points inside each box."""
    points = {
        view: {
            name: [x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)] for name, (fx, fy) in _POINTS.items()
        }
        for view, (x0, y0, x1, y1) in boxes.items()
    }
    values: dict[str, float] = {}
    for i, view in enumerate(v for v in VIEWS if v in boxes):
        values[f"adi_mm_{view}"] = ADI_MM[view]
        values[f"occiput_c1_angle_deg_{view}"] = 4.0 * i - 3.5
        values[f"c2_c3_angle_deg_{view}"] = 2.5 * i + 1.25
    values |= {
        "dens_above_chamberlain_mm": 1.7,
        "basion_dens_interval_mm": 6.2,
        "c2_c3_disc_height_mm": 4.8,
        "ossicle_gap_mm": 0.4,
    }
    return report(values, points, {view: (0.5, 0.5) for view in boxes})


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def from_bytes(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def dciodvfy_findings(tool: str, path: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) that ``dciodvfy`` prints for the file at ``path``."""
    run = subprocess.run([tool, path], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings


SCOORDS = ("SCOORD", "SCOORD3D")


def ohif_problems(ds: Dataset) -> list[str]:
    """What would break or clutter OHIF 3.13.2's SR loader and SR viewport (OHIF/Viewers,
    extensions/cornerstone-dicom-sr/src/getSopClassHandlerModule.ts, read 2026-11; the rules
    confirmed in the real viewer by tests/viewer):

    - every measurement group needs an outline: a SCOORD of its own, or one INFERRED FROM one
      of its NUM items (a NUM that only references images does not count); one group without
      breaks the whole viewer ("Something went wrong");
    - an SR with no such group at all breaks it too (the SR viewport finds nothing to show).
    """
    problems = []
    library = read.child(ds, codes.IMAGE_LIBRARY)
    if library is None or read.child(library, codes.IMAGE_LIBRARY_GROUP) is None:
        problems.append("no Image Library Group: _getReferencedImagesList throws")
    groups = read.measurement_groups(ds)
    drawable = 0
    for i, group in enumerate(groups):
        kinds = [c.ValueType for c in read.children(group)]
        if read.child(group, codes.TRACKING_UID) is None or "TEXT" not in kinds:
            problems.append(f"group {i}: no tracking identifier and UID")
        nums = [c for c in read.children(group) if c.ValueType == "NUM"]
        outlined_nums = [n for n in nums if any(c.ValueType in SCOORDS for c in read.children(n))]
        if any(kind in SCOORDS for kind in kinds):
            drawable += 1
            if len(nums) > 5:
                problems.append(f"group {i}: {len(nums)} NUM labels")
            if any(
                c.ConceptNameCodeSequence[0].CodeValue == "363698007" for c in read.children(group)
            ):
                problems.append(f"group {i}: finding site shown as a label named 363698007")
        elif outlined_nums:
            drawable += 1
        else:
            problems.append(f"group {i}: no outline (SCOORD), the whole viewer fails")
    if drawable == 0:
        problems.append("no measurement group with an outline: the SR viewport fails")
    return problems
