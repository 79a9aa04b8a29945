"""Small synthetic DX datasets for unit tests, built in memory with pydicom."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"


def make_dx(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    imager_spacing: tuple[float, float] | None = (0.2, 0.2),
    pixel_spacing: tuple[float, float] | None = None,
    magnification: float | None = None,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
) -> Dataset:
    """A DX-like dataset with ``pixels`` (uint16) and the given geometry and LUT attributes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = list(imager_spacing)
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = magnification
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds


def gradient(rows: int = 64, cols: int = 48, top: int = 4000) -> np.ndarray:
    """A left-to-right ramp from 0 to ``top``: bright on the right in MONOCHROME2."""
    return np.tile(np.linspace(0, top, cols), (rows, 1)).astype(np.uint16)
