"""DICOM writer for phantom views: DX (Digital X-Ray, For Presentation) or CR instances in a
vendor :class:`~.styles.Style`. UIDs and all header values derive from the study seed.

Modules written follow PS3.3 A.26 (DX Image IOD) and A.2 (CR Image IOD); every output must pass
``dciodvfy`` without errors (tests/unit/test_phantom_dicom.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .acquisition import Acquisition
from .styles import Style

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
VIEW_MODIFIERS = {"flexion": codes.SCT.Flexion, "extension": codes.SCT.Extension}


@dataclass(frozen=True)
class StudyHeader:
    """Patient and study identity of one phantom study (synthetic, derived from the seed)."""

    key: str  # entropy for UIDs, e.g. "cervi-phantom/<seed>/<index>"
    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    age: str
    study_date: str
    study_time: str
    accession: str

    def uid(self, *parts: object) -> str:
        return generate_uid(entropy_srcs=[self.key, *(str(p) for p in parts)])


@dataclass(frozen=True)
class ViewInstance:
    """Where one view goes in the study and how its header names it."""

    view: str
    order: int  # acquisition order 0..2
    spelling: str | None


def build_dataset(
    header: StudyHeader, style: Style, acq: Acquisition, inst: ViewInstance, pixels: np.ndarray
) -> Dataset:
    """One complete SOP instance (with file meta) for a view."""
    ds = Dataset()
    sop_class = DX_FOR_PRESENTATION if style.modality == "DX" else CR_IMAGE
    series_key = inst.order if style.series_per_view else 0
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = header.uid("instance", inst.order)
    ds.StudyInstanceUID = header.uid("study")
    ds.SeriesInstanceUID = header.uid("series", series_key)
    _patient_and_study(ds, header, style)
    _series(ds, header, style, series_key, inst)
    _image(ds, header, style, acq, inst, pixels)
    _view_naming(ds, style, inst)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def write_dataset(ds: Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def _patient_and_study(ds: Dataset, h: StudyHeader, style: Style) -> None:
    ds.PatientName = h.patient_name
    ds.PatientID = h.patient_id
    ds.PatientBirthDate = h.birth_date
    ds.PatientSex = h.sex
    ds.PatientAge = h.age
    ds.StudyDate = h.study_date
    ds.StudyTime = h.study_time
    ds.StudyID = h.accession[-6:]
    ds.AccessionNumber = h.accession
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = style.study_description


def _series(ds: Dataset, h: StudyHeader, style: Style, series_key: int, inst: ViewInstance) -> None:
    ds.Modality = style.modality
    ds.SeriesNumber = 1 + series_key
    ds.SeriesDate = h.study_date
    ds.SeriesTime = _later(h.study_time, series_key)
    ds.SeriesDescription = style.series_description
    ds.BodyPartExamined = "CSPINE"
    ds.Manufacturer = style.manufacturer
    ds.ManufacturerModelName = style.model
    ds.InstitutionName = "Cervi Phantom Hospital"
    ds.StationName = "PHANTOM01"
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "cervi-phantom 1"
    if style.modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"


def _image(
    ds: Dataset,
    h: StudyHeader,
    style: Style,
    acq: Acquisition,
    inst: ViewInstance,
    pixels: np.ndarray,
) -> None:
    ds.InstanceNumber = 1 + inst.order
    ds.ContentDate = h.study_date
    ds.ContentTime = _later(h.study_time, inst.order)
    ds.AcquisitionDate = h.study_date
    ds.AcquisitionTime = ds.ContentTime
    ds.PatientOrientation = ["P", "F"] if acq.face_left else ["A", "F"]
    ds.ImageLaterality = "U"
    if style.lateral_code or style.modality == "CR":  # CR Series: ViewPosition is type 2
        ds.ViewPosition = ("LL" if acq.marker == "L" else "RL") if style.lateral_code else ""
    ds.KVP = acq.kvp
    ds.ExposureInuAs = int(8000 + 1000 * inst.order)
    ds.DistanceSourceToDetector = 1800.0
    ds.DistanceSourceToPatient = round(1800.0 / acq.magnification, 1)
    ds.ImagerPixelSpacing = [acq.spacing, acq.spacing]
    ds.AnatomicRegionSequence = [_code(codes.SCT.CervicalSpine)]
    if style.pixel_spacing:
        calibrated = round(acq.spacing / acq.magnification, 5)
        ds.PixelSpacing = [calibrated, calibrated]
        ds.PixelSpacingCalibrationType = "GEOMETRY"
        ds.PixelSpacingCalibrationDescription = "Estimated radiographic magnification"
        ds.EstimatedRadiographicMagnificationFactor = acq.magnification
    mono1 = acq.photometric == "MONOCHROME1"
    top = 2**acq.bits_stored - 1
    if style.modality == "DX":
        ds.ImageType = ["DERIVED", "PRIMARY"]
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = 1 if mono1 else -1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
        ds.PresentationLUTShape = "INVERSE" if mono1 else "IDENTITY"
        ds.LossyImageCompression = "00"
        ds.BurnedInAnnotation = "NO"
        ds.DetectorType = "SCINTILLATOR"
        ds.PositionerType = "COLUMN"
        ds.AcquisitionContextSequence = []
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PlateType = "ST-VI"
    ds.WindowCenter = top // 2
    ds.WindowWidth = top
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = acq.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = acq.bits_stored
    ds.HighBit = acq.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()


def _view_naming(ds: Dataset, style: Style, inst: ViewInstance) -> None:
    if (style.modality == "DX" and style.lateral_code) or style.view_codes:
        lateral = _code(codes.SCT.LateralProjection)  # says "lateral", not which of the three
        modifier = VIEW_MODIFIERS.get(inst.view) if style.view_codes else None
        lateral.ViewModifierCodeSequence = [_code(modifier)] if modifier else []
        ds.ViewCodeSequence = [lateral]
    if style.view_field and inst.spelling:
        setattr(ds, style.view_field, style.template.format(view=inst.spelling))


def _code(code: Code) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def _later(hhmmss: str, minutes: int) -> str:
    h, m, s = int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:6])
    total = (h * 60 + m + minutes * 2) * 60 + s
    return f"{total // 3600 % 24:02d}{total // 60 % 60:02d}{total % 60:02d}"
