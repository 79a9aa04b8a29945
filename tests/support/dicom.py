"""Small, valid DX instances made with pydicom for tests (64x64 by default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation

ROOT = "1.2.826.0.1.3680043.10.1434."  # test UIDs; pydicom's generate_uid adds the rest


def make_dx(
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    patient_id: str | None = "CERVI-TEST-1",
    size: int = 64,
    seed: int = 0,
    description: str = "C-spine lateral neutral",
) -> Dataset:
    """A DX For Presentation instance with random 12-bit pixels; identifiers can be overridden."""
    rng = np.random.default_rng(seed)
    ds = Dataset()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = sop_uid or generate_uid(prefix=ROOT)
    ds.StudyInstanceUID = study_uid or generate_uid(prefix=ROOT)
    ds.SeriesInstanceUID = series_uid or generate_uid(prefix=ROOT)
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.PatientName = "Phantom^Test"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = "20261127"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "A1"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.Modality = "DX"
    ds.BodyPartExamined = "CSPINE"
    ds.SeriesDescription = description
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "Cervi tests"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = [0.15, 0.15]
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = rng.integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def write(ds: Dataset, path: Path) -> Path:
    """Save ``ds`` in the DICOM file format (what DCMTK's storescu sends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
