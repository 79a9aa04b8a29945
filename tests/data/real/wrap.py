"""Wrap a downloaded radiograph (JPEG/PNG) as a DICOM DX file for the real-film tests.

Usage: ``python tests/data/real/wrap.py SOURCE OUT.dcm --spacing MM --scale F --name NAME``.
The image is converted to 8-bit grey, shrunk by ``--scale`` (so the file stays small) and
written as Digital X-Ray Image Storage - For Presentation, MONOCHROME2, with ``PixelSpacing``
= ``--spacing / --scale`` (the spacing stated in SOURCES.md is an estimate from the anatomy:
these films carry no calibration). The header calls every film a lateral cervical spine (what
a PACS routing rule would send), so that the service's domain gate, not its header rules,
decides. UIDs derive from ``--name``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"


def wrap(source: Path, out: Path, spacing_mm: float, scale: float, name: str) -> Path:
    image = Image.open(source).convert("L")
    size = (round(image.width * scale), round(image.height * scale))
    pixels = np.asarray(image.resize(size, Image.Resampling.LANCZOS), np.uint8)

    def uid(part: str) -> str:
        return generate_uid(entropy_srcs=["cervi-real-film", name, part])

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    ds.file_meta.MediaStorageSOPInstanceUID = uid("sop")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = uid("sop")
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.PatientName = f"REAL^{name.upper()}"
    ds.PatientID = f"REAL-{name}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate, ds.StudyTime = "20260101", "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.Modality = "DX"
    ds.Manufacturer = "unknown (public film)"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SeriesDescription = "C-Spine lateral"
    ds.BodyPartExamined = "CSPINE"
    ds.ViewPosition = "LL"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = ds.PixelSpacing = [spacing_mm / scale] * 2
    ds.PixelSpacingCalibrationType = "FIDUCIAL"
    ds.PixelSpacingCalibrationDescription = "estimated from the anatomy"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = 128, 256
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = pixels.tobytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--spacing", type=float, required=True, help="source pixel size in mm")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink factor")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    print(wrap(args.source, args.out, args.spacing, args.scale, args.name))
