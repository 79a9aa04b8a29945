"""Acquisition settings of a phantom study (detector, geometry, exposure) and the camera
that maps world millimetres to detector pixels. None of these depend on the labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.labels import VIEWS


@dataclass(frozen=True)
class ViewExposure:
    """Per-view positioning and exposure."""

    rotation: float  # degrees, in-plane
    offset: tuple[float, float]  # off-centre positioning, mm at the detector
    bone_gain: float
    soft_gain: float
    noise: float
    blur: float  # detector/focal-spot blur, sigma in work-resolution pixels
    gamma: float
    edge: float  # unsharp-mask strength of the vendor processing
    compression: float  # large-kernel dynamic range compression of the vendor processing
    obliquity: float  # mm between left and right paired structures (patient slightly turned)
    collimation: tuple[float, float, float, float]  # inset from left, top, right, bottom, mm
    collimation_tilt: float
    marker_corner: int


@dataclass(frozen=True)
class Acquisition:
    """Per-study detector settings plus the three views' exposures."""

    rows: int
    cols: int
    spacing: float  # ImagerPixelSpacing, mm at the detector
    magnification: float
    bits_stored: int
    photometric: str
    face_left: bool
    marker: str
    kvp: float
    exposures: tuple[ViewExposure, ...]


def sample_acquisition(rng: np.random.Generator, scale: float = 1.0) -> Acquisition:
    """Draw detector settings; ``scale`` < 1 shrinks the image (and coarsens pixels) for tests."""
    spacing = float(rng.uniform(0.1, 0.2) if rng.random() < 0.3 else rng.uniform(0.1, 0.16))
    rows = int(np.clip(round(rng.uniform(215, 255) / spacing), 1500, 2500))
    cols = int(np.clip(round(rows * rng.uniform(0.78, 1.0)), 1500, 2500))
    if scale != 1.0:
        rows, cols, spacing = round(rows * scale), round(cols * scale), spacing / scale
    return Acquisition(
        rows=rows,
        cols=cols,
        spacing=round(spacing, 4),
        magnification=round(float(rng.uniform(1.08, 1.2)), 3),
        bits_stored=int(rng.choice([12, 14, 15, 16])),
        photometric=str(rng.choice(["MONOCHROME1", "MONOCHROME2"], p=[0.35, 0.65])),
        face_left=bool(rng.random() < 0.6),
        marker=str(rng.choice(["L", "R"])),
        kvp=float(rng.choice([66, 70, 73, 77, 81, 85])),
        exposures=tuple(_exposure(rng) for _ in VIEWS),
    )


def _exposure(rng: np.random.Generator) -> ViewExposure:
    collimated = rng.random() < 0.7
    inset = tuple(float(v) for v in (rng.uniform(4, 30, 4) if collimated else np.zeros(4)))
    return ViewExposure(
        rotation=float(rng.normal(0, 3.0)),
        offset=(float(rng.normal(0, 12)), float(rng.normal(0, 12))),
        bone_gain=float(rng.uniform(0.8, 1.2)),
        soft_gain=float(rng.uniform(0.85, 1.15)),
        noise=float(rng.uniform(0.008, 0.03)),
        blur=float(rng.uniform(0.5, 1.3)),
        gamma=float(rng.uniform(1.3, 1.9)),
        edge=float(rng.uniform(0.0, 1.0)),
        compression=float(rng.uniform(0.3, 0.75)),
        obliquity=float(rng.uniform(0.0, 3.5)),
        collimation=inset,  # type: ignore[arg-type]
        collimation_tilt=float(rng.normal(0, 1.0)) if collimated else 0.0,
        marker_corner=int(rng.integers(0, 4)),
    )


@dataclass(frozen=True)
class Camera:
    """World mm -> pixel (column, row) for one view: magnify, rotate, flip, centre, offset."""

    centre: np.ndarray  # world point imaged at the image centre (before the offset)
    acq: Acquisition
    exposure: ViewExposure
    downsample: float = 1.0  # > 1 gives coordinates on a reduced working grid
    shift: tuple[float, float] = (0.0, 0.0)  # detector pixels, added last (keeps anatomy in view)

    def to_pixels(self, world: np.ndarray) -> np.ndarray:
        w = (np.asarray(world, dtype=float) - self.centre) * self.acq.magnification
        a = np.deg2rad(self.exposure.rotation)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        w = w @ rot.T + np.array(self.exposure.offset)
        flip = np.array([-1.0 if self.acq.face_left else 1.0, -1.0])
        px = w * flip / self.acq.spacing + np.array([self.acq.cols / 2, self.acq.rows / 2])
        return (px + np.array(self.shift)) / self.downsample

    def at(self, downsample: float) -> Camera:
        return Camera(self.centre, self.acq, self.exposure, downsample, self.shift)

    def shifted(self, shift: tuple[float, float]) -> Camera:
        return Camera(self.centre, self.acq, self.exposure, self.downsample, shift)

    def field(self, margin_mm: float) -> tuple[float, float, float, float]:
        """The collimated field less ``margin_mm``, in detector pixels (x0, y0, x1, y1)."""
        left, top, right, bottom = (
            (v + margin_mm) / self.acq.spacing for v in self.exposure.collimation
        )
        return left, top, self.acq.cols - right, self.acq.rows - bottom
