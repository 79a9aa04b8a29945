"""A key image for viewers without SR support: a Secondary Capture of one view (neutral by
default) with the ROI and the findings burned in (docs/conformance.md, annex 8.1).

PS3.3 A.8.1 Secondary Capture Image IOD, built with highdicom's ``SCImage``. Burned In
Annotation is YES; with a demo model the image itself, its series description and Image
Comments say "NOT FOR DIAGNOSTIC USE". UIDs derive from (study, model sha256, result version).
"""

from __future__ import annotations

import datetime
from copy import deepcopy
from typing import Self

from highdicom.sc import SCImage
from pydicom import Dataset
from pydicom.uid import SecondaryCaptureImageStorage

from dicom_node import codes, identity
from dicom_node.sr import _checks as checks
from dicom_node.sr import _content as content
from dicom_node.sr import _render
from inference.result import StudyPrediction

SERIES_NUMBER = 9901
SERIES_DESCRIPTION = "Cervi AI key image"
#: A demo model's series: OHIF's thumbnail shows about 22 characters, so the warning comes first.
DEMO_SERIES_DESCRIPTION = "NOT FOR DX - Cervi key image"
WARNING = "NOT FOR DIAGNOSTIC USE"
_RESULT_PREFIX = "Cervi result version "


def key_image_uids(
    study_instance_uid: str, model_sha256: str, result_version: int
) -> tuple[str, str]:
    """(series, SOP instance) UIDs of a result version's key image."""
    return (
        content.derive_uid("key-series", study_instance_uid, model_sha256),
        content.derive_uid("key", study_instance_uid, model_sha256, str(result_version)),
    )


def finding_lines(prediction: StudyPrediction) -> list[str]:
    """What the image says: the labels by probability, the present ones marked."""
    lines = [f"{prediction.model.name} {prediction.model.version}"]
    for lab in content.leading(prediction.labels, n=len(prediction.labels)):
        mark = "PRESENT" if lab.present else "absent"
        lines.append(f"{codes.LABELS[lab.key].meaning}: {lab.probability * 100:.0f}% {mark}")
    return lines


class CerviKeyImage(SCImage):
    """Secondary Capture of a source view with the ROI and findings burned in."""

    def __init__(
        self,
        prediction: StudyPrediction,
        image: Dataset,
        *,
        view: str = "neutral",
        result_version: int,
        content_datetime: datetime.datetime,
        series_number: int = SERIES_NUMBER,
    ) -> None:
        """
        Parameters
        ----------
        prediction: the model's result; must have a region for ``view``.
        image: the source image of ``view``, with its pixel data.
        view: which view to show.
        result_version, content_datetime: as for the SR (same version, same time).
        series_number: Series Number of Cervi's key image series.
        """
        if not isinstance(prediction, StudyPrediction):
            raise TypeError('Argument "prediction" must have type StudyPrediction.')
        checks.check_common({view: image}, prediction.model, result_version, content_datetime)
        if view not in prediction.regions:
            raise ValueError(f'Argument "prediction" has no region for the "{view}" view.')
        if "PixelData" not in image:
            raise ValueError('Argument "image" must carry its pixel data.')
        model = prediction.model
        warning = WARNING if model.demo else None
        pixels = _render.burn_in(
            _render.display_values(image),
            prediction.regions[view].box,
            finding_lines(prediction),
            warning,
        )
        series_uid, sop_uid = key_image_uids(image.StudyInstanceUID, model.sha256, result_version)
        orientation = image.get("PatientOrientation")
        super().__init__(
            pixel_array=pixels,
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            study_instance_uid=image.StudyInstanceUID,
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=sop_uid,
            instance_number=result_version,
            manufacturer=identity.MANUFACTURER,
            patient_id=image.get("PatientID"),
            patient_name=image.get("PatientName"),
            patient_birth_date=image.get("PatientBirthDate"),
            patient_sex=image.get("PatientSex") or None,
            accession_number=image.get("AccessionNumber"),
            study_id=image.get("StudyID"),
            study_date=image.get("StudyDate"),
            study_time=image.get("StudyTime"),
            referring_physician_name=image.get("ReferringPhysicianName"),
            patient_orientation=tuple(orientation) if orientation else ("A", "F"),
            series_description=DEMO_SERIES_DESCRIPTION if warning else SERIES_DESCRIPTION,
            manufacturer_model_name=model.name,
            software_versions=model.version,
            content_date=content_datetime.date(),
            content_time=content_datetime.time(),
        )
        if not orientation:
            self.PatientOrientation = ""  # Type 2: unknown rather than guessed
        self.DateOfSecondaryCapture = self.ContentDate
        self.TimeOfSecondaryCapture = self.ContentTime
        self.InstanceCreationDate = self.ContentDate
        self.InstanceCreationTime = self.ContentTime
        for equipment in self.get("ContributingEquipmentSequence", []):
            equipment.ContributionDateTime = content_datetime.strftime("%Y%m%d%H%M%S.%f")
        self.BurnedInAnnotation = "YES"
        if "BodyPartExamined" in image:
            self.BodyPartExamined = image.BodyPartExamined
        self.ImageComments = (f"{WARNING}. " if warning else "") + (
            f"{_RESULT_PREFIX}{result_version}, {view} view"
        )
        source = Dataset()
        source.ReferencedSOPClassUID = image.SOPClassUID
        source.ReferencedSOPInstanceUID = image.SOPInstanceUID
        self.SourceImageSequence = [source]
        self.DerivationDescription = "ROI and findings burned in by Cervi"

    @classmethod
    def from_dataset(cls, dataset: Dataset, copy: bool = True) -> Self:
        """The key image in ``dataset`` (a Secondary Capture Cervi made)."""
        if dataset.get("SOPClassUID") != SecondaryCaptureImageStorage:
            raise ValueError('Argument "dataset" is not a Secondary Capture image.')
        if _RESULT_PREFIX not in str(dataset.get("ImageComments", "")):
            raise ValueError('Argument "dataset" is not a Cervi key image.')
        image = deepcopy(dataset) if copy else dataset
        image.__class__ = cls
        return image

    @property
    def source_sop_instance_uid(self) -> str:
        return str(self.SourceImageSequence[0].ReferencedSOPInstanceUID)

    @property
    def result_version(self) -> int:
        return int(self.InstanceNumber)

    @property
    def for_diagnostic_use(self) -> bool:
        return WARNING not in str(self.get("ImageComments", ""))
