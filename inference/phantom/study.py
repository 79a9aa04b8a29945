"""One phantom study end to end: sample a patient, pose, measure, label, render three views,
and describe them in ``truth.json`` (``cervi synth --help``).

``truth.json`` (format ``cervi-phantom-truth/1``)::

    format, seed, index, style, study_uid
    labels        {label key: 0 | 1}                 read off the measurements (labels.py)
    measurements  {name: number}                     mm / degrees, see measure.measure()
    landmarks     {view: {landmark: [x, y]}}         pixels (column, row) of that view's image
    points        {view: {point: [x, y]}}            the same for :data:`MEASUREMENT_POINTS`
    roi           {view: [x0, y0, x1, y1]}           pixels, occiput..C2 with a 6 mm margin
    files         {view: "IMG000n.dcm"}              file names say nothing about the view
    image         rows, columns, imager_pixel_spacing_mm, magnification, photometric,
                  bits_stored, modality, face_left
    patient       age_group, age_years, sex, size, bone_density

Views are ``extension``, ``neutral``, ``flexion``; landmarks are :data:`LANDMARK_NAMES`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference.labels import VIEWS

from .acquisition import Acquisition, Camera, sample_acquisition
from .anatomy import Patient, sample_patient
from .dicom import StudyHeader, ViewInstance, build_dataset, write_dataset
from .labels import DEFAULT_PREVALENCE, labels_from_measurements
from .measure import landmark_points, measure, measurement_points
from .pose import PosedView, pose_patient
from .render import camera_for, render_view
from .styles import STYLE_NAMES, STYLES, Style

TRUTH_FORMAT = "cervi-phantom-truth/1"
PATIENT, SITE, RENDER = 0, 1, 2  # random streams per study: anatomy, site/acquisition, pixels
ROI_MARGIN_MM = 6.0
ROI_BODIES = ("c1.", "c2.", "skull.condyle")
FAMILY = ("Doe", "Mustermann", "Rossi", "Nowak", "Tanaka", "Silva", "Dupont", "Jansen", "Berg")
GIVEN = {
    "F": ("Anna", "Maria", "Erika", "Lena", "Sofia"),
    "M": ("Jan", "Max", "Luca", "Tom", "Ali"),
}


@dataclass(frozen=True)
class SynthOptions:
    """What to generate: label prevalences, allowed header styles, image scale (1 = real size)."""

    prevalence: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PREVALENCE))
    styles: Sequence[str] = STYLE_NAMES
    scale: float = 1.0


@dataclass
class Study:
    """A generated study: instances in acquisition order plus its truth document."""

    name: str
    datasets: list
    files: list[str]
    truth: dict
    pixels: dict[str, np.ndarray]


def study_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """Independent, reproducible random stream per (seed, study, purpose)."""
    return np.random.default_rng([seed, index, stream])


def generate_study(seed: int, index: int, options: SynthOptions | None = None) -> Study:
    """Build study ``index`` of the data set with ``seed``; same arguments, same bytes."""
    options = options or SynthOptions()
    patient = sample_patient(study_rng(seed, index, PATIENT), options.prevalence)
    views = pose_patient(patient)
    measurements = measure(views)
    # acquisition, style and header draw from their own stream: nothing there can follow a label
    rng = study_rng(seed, index, SITE)
    acq = sample_acquisition(rng, options.scale)
    style = STYLES[str(rng.choice(list(options.styles)))]
    header = _header(rng, seed, index, patient)
    order = [int(v) for v in rng.permutation(len(VIEWS))]
    spellings = [_spelling(rng, style, v) for v in VIEWS]
    datasets, files, pixels = [None] * 3, [""] * 3, {}
    for v, view in enumerate(views):
        image = render_view(patient, view, acq, v, study_rng(seed, index, RENDER + v))
        pixels[view.view] = image
        inst = ViewInstance(view.view, order[v], spellings[v])
        datasets[order[v]] = build_dataset(header, style, acq, inst, image)
        files[order[v]] = f"IMG{order[v] + 1:04d}.dcm"
    truth = _truth(seed, index, patient, views, measurements, acq, style, header, order, files)
    return Study(f"study_{index:05d}", datasets, files, truth, pixels)


def write_study(study: Study, out: Path) -> Path:
    """Write ``out/<study>/IMG000n.dcm`` and ``truth.json``; return the study folder."""
    folder = Path(out) / study.name
    folder.mkdir(parents=True, exist_ok=True)
    for ds, name in zip(study.datasets, study.files, strict=True):
        write_dataset(ds, folder / name)
    (folder / "truth.json").write_text(json.dumps(study.truth, indent=1, sort_keys=True))
    return folder


def _header(rng: np.random.Generator, seed: int, index: int, p: Patient) -> StudyHeader:
    year = 2024 + int(rng.integers(0, 3))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    birth_year = year - p.age_years
    return StudyHeader(
        key=f"cervi-phantom/{seed}/{index}",
        patient_name=f"{rng.choice(FAMILY)}^{rng.choice(GIVEN[p.sex])}",
        patient_id=f"PH{seed % 10000:04d}{index:06d}",
        birth_date=f"{birth_year:04d}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        sex=p.sex,
        age=f"{p.age_years:03d}Y",
        study_date=f"{year:04d}{month:02d}{day:02d}",
        study_time=f"{int(rng.integers(7, 19)):02d}{int(rng.integers(0, 60)):02d}00",
        accession=f"A{seed % 1000:03d}{index:07d}",
    )


def _spelling(rng: np.random.Generator, style: Style, view: str) -> str | None:
    variants = style.spellings.get(view)
    return str(rng.choice(list(variants))) if variants else None


def _truth(
    seed: int,
    index: int,
    patient: Patient,
    views: list[PosedView],
    measurements: dict,
    acq: Acquisition,
    style: Style,
    header: StudyHeader,
    order: list[int],
    files: list[str],
) -> dict:
    landmarks, extra, rois = {}, {}, {}
    for v, view in enumerate(views):
        cam = camera_for(view, acq, acq.exposures[v])
        points = landmark_points(view)
        landmarks[view.view] = {k: _xy(cam.to_pixels(xy[None])[0]) for k, xy in points.items()}
        extra[view.view] = {
            k: _xy(cam.to_pixels(xy[None])[0]) for k, xy in measurement_points(view).items()
        }
        rois[view.view] = _roi(view, cam, acq)
    return {
        "format": TRUTH_FORMAT,
        "seed": seed,
        "index": index,
        "style": style.name,
        "study_uid": header.uid("study"),
        "labels": labels_from_measurements(measurements),
        "measurements": measurements,
        "landmarks": landmarks,
        "points": extra,
        "roi": rois,
        "files": {view.view: files[order[v]] for v, view in enumerate(views)},
        "image": {
            "rows": acq.rows,
            "columns": acq.cols,
            "imager_pixel_spacing_mm": acq.spacing,
            "magnification": acq.magnification,
            "photometric": acq.photometric,
            "bits_stored": acq.bits_stored,
            "modality": style.modality,
            "face_left": acq.face_left,
        },
        "patient": {
            "age_group": patient.age_group,
            "age_years": patient.age_years,
            "sex": patient.sex,
            "size": round(patient.size, 3),
            "bone_density": round(patient.density, 3),
        },
    }


def _xy(p: np.ndarray) -> list[float]:
    return [round(float(p[0]), 2), round(float(p[1]), 2)]


def _roi(view: PosedView, cam: Camera, acq: Acquisition) -> list[int]:
    """Upper-cervical box (occiput to C2) in pixels, with a margin, clipped to the image."""
    pts = [pt.points for pt in view.parts if pt.name.startswith(ROI_BODIES)]
    pts.append(np.array([view.points["skull.basion"], view.points["skull.opisthion"]]))
    px = cam.to_pixels(np.concatenate(pts))
    margin = ROI_MARGIN_MM * acq.magnification / acq.spacing
    x0, y0 = px.min(axis=0) - margin
    x1, y1 = px.max(axis=0) + margin
    return [int(max(0, x0)), int(max(0, y0)), int(min(acq.cols, x1)), int(min(acq.rows, y1))]
