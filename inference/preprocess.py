"""DICOM pixel pipeline: a dataset of any supported transfer syntax to float32 at fixed mm/px.

Steps (PS3.3 C.11 "Softcopy presentation pipeline", as far as a projection radiograph needs):
decode (pylibjpeg / openjpeg / RLE plug-ins for compressed syntaxes) -> Modality LUT or rescale ->
VOI LUT or window -> MONOCHROME1 inverted so that bone is bright -> scaled to [0, 1] -> resampled to
a fixed spacing in mm at the patient plane, taken from PixelSpacing, else ImagerPixelSpacing divided
by EstimatedRadiographicMagnificationFactor (PS3.3 C.8.11.4, "Imager Pixel Spacing").

No torch here: the running service imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from inference.result import UnreadableImage

DEFAULT_SPACING_MM = 0.5
ASSUMED_DETECTOR_SPACING_MM = 0.15


@dataclass(frozen=True)
class PixelImage:
    """A preprocessed radiograph: ``pixels[row, col]`` in [0, 1], bone bright, square pixels.

    ``spacing_mm`` is the output spacing; ``scale_yx`` is source pixels per output pixel along rows
    and columns, so that output coordinates map back to the source image (for the SR's SCOORD).
    """

    pixels: np.ndarray
    spacing_mm: float
    source_shape: tuple[int, int]
    source_spacing_mm: tuple[float, float]
    spacing_source: str

    @property
    def scale_yx(self) -> tuple[float, float]:
        """Source pixels per output pixel, (rows, columns)."""
        return (
            self.source_shape[0] / self.pixels.shape[0],
            self.source_shape[1] / self.pixels.shape[1],
        )

    def to_source(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` points (x, y) in output pixels to source pixels (pixel centres)."""
        sy, sx = self.scale_yx
        pts = np.asarray(points_xy, dtype=np.float64)
        return np.stack([(pts[..., 0] + 0.5) * sx - 0.5, (pts[..., 1] + 0.5) * sy - 0.5], axis=-1)

    def from_source(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` points (x, y) in source pixels to output pixels."""
        sy, sx = self.scale_yx
        pts = np.asarray(points_xy, dtype=np.float64)
        return np.stack([(pts[..., 0] + 0.5) / sx - 0.5, (pts[..., 1] + 0.5) / sy - 0.5], axis=-1)


def pixel_spacing_mm(ds: Dataset) -> tuple[tuple[float, float], str]:
    """Spacing (row, column) in mm at the patient plane and the attribute it came from.

    PixelSpacing is calibrated to the patient by definition; ImagerPixelSpacing is at the detector
    and is divided by the estimated magnification when the header has one. With neither, a nominal
    detector spacing is assumed and the source says so.
    """
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is None or len(value) != 2:
            continue
        spacing = (float(value[0]), float(value[1]))
        if min(spacing) <= 0:
            continue
        if keyword == "ImagerPixelSpacing":
            magnification = float(ds.get("EstimatedRadiographicMagnificationFactor") or 1.0)
            if magnification > 0 and magnification != 1.0:
                spacing = (spacing[0] / magnification, spacing[1] / magnification)
                return spacing, "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
        return spacing, keyword
    assumed = ASSUMED_DETECTOR_SPACING_MM
    return (assumed, assumed), "assumed"


def display_pixels(ds: Dataset) -> np.ndarray:
    """Decoded pixels after Modality and VOI LUTs, in [0, 1] with bone bright, float32."""
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise UnreadableImage("the instance has no pixel data")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    try:
        raw = ds.pixel_array
    except Exception as exc:  # any decoder failure: missing plug-in, truncated or corrupt data
        raise UnreadableImage(f"pixel data cannot be decoded: {type(exc).__name__}") from exc
    if raw.ndim == 3 and int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raw = raw[0]
    if raw.ndim == 3 and raw.shape[-1] == 3:
        # a colour secondary capture of a radiograph: use its luminance, no LUTs apply
        gray = raw.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return _unit_range(gray)
    if raw.ndim != 2 or min(raw.shape) < 16:
        raise UnreadableImage(f"pixel data of shape {raw.shape} is not a 2-D radiograph")
    try:
        values = apply_modality_lut(raw, ds)
        if _has_voi(ds):
            values = apply_voi_lut(values, ds, index=0, prefer_lut=True)
    except Exception as exc:
        raise UnreadableImage(f"LUTs cannot be applied: {type(exc).__name__}: {exc}") from exc
    values = np.asarray(values, dtype=np.float32)
    if not _has_voi(ds):
        values = _percentile_window(values)
    image = _unit_range(values)
    if photometric == "MONOCHROME1":
        image = 1.0 - image
    if not np.isfinite(image).all():
        raise UnreadableImage("pixel data contains non-finite values")
    return image


def preprocess(ds: Dataset, spacing_mm: float = DEFAULT_SPACING_MM) -> PixelImage:
    """The full pipeline: display pixels resampled to ``spacing_mm`` square pixels."""
    image = display_pixels(ds)
    (row_mm, col_mm), source = pixel_spacing_mm(ds)
    out_shape = (
        max(1, round(image.shape[0] * row_mm / spacing_mm)),
        max(1, round(image.shape[1] * col_mm / spacing_mm)),
    )
    return PixelImage(
        pixels=resize(image, out_shape),
        spacing_mm=spacing_mm,
        source_shape=(int(image.shape[0]), int(image.shape[1])),
        source_spacing_mm=(row_mm, col_mm),
        spacing_source=source,
    )


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize (triangle filter widened when shrinking), float32.

    Pixel centres align: output pixel ``i`` samples source ``(i + 0.5) * n_in / n_out - 0.5``.
    Large reductions first average integer blocks (cheap), then finish with two small matrix
    products, so that a detector-size image takes milliseconds without scipy.
    """
    image = image.astype(np.float32)
    k = max(1, int(min(image.shape[0] / shape[0], image.shape[1] / shape[1]) // 2))
    blocked = _block_mean(image, k) if k > 1 else image
    rows = _resample_matrix(image.shape[0], shape[0], blocked.shape[0], k)
    cols = _resample_matrix(image.shape[1], shape[1], blocked.shape[1], k)
    return (rows @ blocked @ cols.T).astype(np.float32)


def _block_mean(image: np.ndarray, k: int) -> np.ndarray:
    """Mean of ``k`` x ``k`` blocks; the last partial blocks average only the pixels they have."""
    rows, cols = image.shape
    full_r, full_c = rows - rows % k, cols - cols % k
    out = np.empty((-(-rows // k), -(-cols // k)), np.float32)
    out[: full_r // k, : full_c // k] = (
        image[:full_r, :full_c].reshape(full_r // k, k, full_c // k, k).mean(axis=(1, 3))
    )
    if full_r < rows:  # partial bottom row of blocks
        out[-1, : full_c // k] = image[full_r:, :full_c].reshape(rows - full_r, -1, k).mean((0, 2))
    if full_c < cols:  # partial right column of blocks
        out[: full_r // k, -1] = image[:full_r, full_c:].reshape(-1, k, cols - full_c).mean((1, 2))
    if full_r < rows and full_c < cols:
        out[-1, -1] = image[full_r:, full_c:].mean()
    return out


def _resample_matrix(n_source: int, n_out: int, n_in: int, k: int) -> np.ndarray:
    """Row-normalised triangle-filter weights (n_out, n_in) from ``k``-blocked input pixels."""
    scale = n_source / n_out
    support = max(scale / k, 1.0)
    # output pixel i is centred on source (i + 0.5) * scale - 0.5; blocked pixel j on j*k + (k-1)/2
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) * scale / k - 0.5
    positions = np.arange(n_in, dtype=np.float64)
    weights = np.clip(1.0 - np.abs(positions[None, :] - centres[:, None]) / support, 0.0, None)
    sums = weights.sum(axis=1, keepdims=True)
    empty = sums[:, 0] == 0
    if empty.any():  # an output centre outside the input (tiny inputs): take the nearest pixel
        nearest = np.clip(np.round(centres[empty]).astype(int), 0, n_in - 1)
        weights[np.flatnonzero(empty), nearest] = 1.0
        sums = weights.sum(axis=1, keepdims=True)
    return (weights / sums).astype(np.float32)


def _has_voi(ds: Dataset) -> bool:
    return "VOILUTSequence" in ds or "WindowCenter" in ds


def _percentile_window(values: np.ndarray) -> np.ndarray:
    """Without a VOI in the header, window to the 0.5-99.5 percentiles (robust to collimation)."""
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        return values
    return np.clip(values, low, high)


def _unit_range(values: np.ndarray) -> np.ndarray:
    low = float(values.min())
    high = float(values.max())
    if high <= low:
        raise UnreadableImage("pixel data is constant")
    return ((values - low) / (high - low)).astype(np.float32)
