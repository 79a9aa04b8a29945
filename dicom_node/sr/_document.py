"""The document layer shared by Cervi's SRs (private to ``dicom_node.sr``, which re-exports the
public names): UIDs, predecessor references, and the Comprehensive 3D SR base that turns a
TID 1500 content tree into a document and reads the common parts back."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import highdicom.sr as hsr
from pydicom import Dataset
from pydicom.uid import Comprehensive3DSRStorage
from pydicom.valuerep import DT

from dicom_node import codes, identity
from dicom_node.sr import _content as content
from dicom_node.sr import read
from inference.result import VIEWS, ModelIdentity

#: Type 2 Patient and General Study attributes highdicom reads from the first source image;
#: a header without one still yields an SR, with the attribute empty (PS3.3 C.7.1.1, C.7.2.1).
_TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
SERIES_NUMBER = 9900
SERIES_DESCRIPTION = "Cervi AI result"
#: A demo model's series: OHIF's thumbnail shows about 22 characters, so the warning comes first.
DEMO_SERIES_DESCRIPTION = "NOT FOR DX - Cervi AI"


@dataclass(frozen=True)
class ResultUIDs:
    """The UIDs of one result version's SR: the series is per (study, model), so versions made
    by one model stack in one series; the instance is per (study, model, version)."""

    series_instance_uid: str
    sop_instance_uid: str

    @classmethod
    def derive(cls, study_instance_uid: str, model_sha256: str, result_version: int) -> Self:
        return cls(
            series_instance_uid=content.derive_uid("sr-series", study_instance_uid, model_sha256),
            sop_instance_uid=content.derive_uid(
                "sr", study_instance_uid, model_sha256, str(result_version)
            ),
        )


@dataclass(frozen=True)
class DocumentReference:
    """Where an earlier SR version lives (an item of PredecessorDocumentsSequence)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = Comprehensive3DSRStorage

    @classmethod
    def of(cls, dataset: Dataset) -> Self:
        """The reference to an SR dataset (for example the previous version as built)."""
        return cls(
            str(dataset.StudyInstanceUID),
            str(dataset.SeriesInstanceUID),
            str(dataset.SOPInstanceUID),
            str(dataset.SOPClassUID),
        )

    def as_dataset(self) -> Dataset:
        ds = Dataset()
        ds.StudyInstanceUID = self.study_instance_uid
        ds.SeriesInstanceUID = self.series_instance_uid
        ds.SOPInstanceUID = self.sop_instance_uid
        ds.SOPClassUID = self.sop_class_uid
        return ds


def _with_type2(image: Dataset) -> Dataset:
    """``image``, or a header-only copy of it with its missing Type 2 patient/study attributes
    present and empty (the source is never changed)."""
    missing = [k for k in _TYPE2_PATIENT_STUDY if k not in image]
    if not missing:
        return image
    header = Dataset()
    for tag in image.keys():  # noqa: SIM118 (iterating a Dataset yields elements, not tags)
        if tag.group != 0x7FE0:
            header[tag] = image.get_item(tag)
    for keyword in missing:
        setattr(header, keyword, "")
    return header


class CerviReport(hsr.Comprehensive3DSR):
    """What both Cervi reports share: document attributes, UIDs, predecessor, read-back."""

    _HAND_OVER_TREE = True  # False: let highdicom copy and walk the tree (tests compare both)

    def _build(
        self,
        *,
        images: Sequence[tuple[str | None, Dataset]],
        model: ModelIdentity,
        groups: Sequence[Any],
        evaluations: hsr.ContainerContentItem | None,
        result_version: int,
        content_datetime: datetime.datetime,
        predecessor: DocumentReference | None,
        series_number: int,
    ) -> None:
        study_uid = str(images[0][1].StudyInstanceUID)
        uids = ResultUIDs.derive(study_uid, model.sha256, result_version)
        root = content.report_root(model, content.image_library(images), groups, evaluations)
        tree = root.ContentSequence
        if self._HAND_OVER_TREE:
            # highdicom deep-copies the content, re-wraps the copy and walks it twice to collect
            # evidence: ~65 % of a warm build. The tree is new and every image it references
            # is in ``images`` (checked), so the root goes in alone and the tree is attached.
            root.ContentSequence = []
        description = DEMO_SERIES_DESCRIPTION if model.demo else SERIES_DESCRIPTION
        super().__init__(
            evidence=[_with_type2(images[0][1]), *(image for _, image in images[1:])],
            content=root,
            series_instance_uid=uids.series_instance_uid,
            series_number=series_number,
            sop_instance_uid=uids.sop_instance_uid,
            instance_number=result_version,
            manufacturer=identity.MANUFACTURER,
            manufacturer_model_name=model.name,
            software_versions=model.version,
            is_complete=True,
            previous_versions=[predecessor.as_dataset()] if predecessor else None,
            series_description=description,
            coding_schemes=[codes.coding_scheme()],
            content_date=content_datetime.date(),
            content_time=content_datetime.time(),
            series_date=content_datetime.date(),
            series_time=content_datetime.time(),
        )
        if self._HAND_OVER_TREE:
            root.ContentSequence = tree
            self.ContentSequence = tree
            # What highdicom's from_dataset() gives (MeasurementReport.from_sequence sets the
            # class the same way), without re-wrapping every item of the tree again.
            report = hsr.ContentSequence([root], is_root=True)
            report.__class__ = hsr.MeasurementReport
            self._content = report
        # highdicom stamps the wall clock here; the caller's time keeps the output reproducible.
        self.InstanceCreationDate = self.ContentDate
        self.InstanceCreationTime = self.ContentTime
        for equipment in self.get("ContributingEquipmentSequence", []):
            equipment.ContributionDateTime = DT(content_datetime)

    @classmethod
    def from_dataset(cls, dataset: Dataset, copy: bool = True) -> Self:
        """The report in ``dataset`` (checked to be this kind of Cervi report)."""
        template = dataset.get("ContentTemplateSequence")
        if not template or template[0].get("TemplateIdentifier") != "1500":
            raise ValueError('Argument "dataset" is not a TID 1500 report.')
        if not cls._holds(dataset):
            raise ValueError(f'Argument "dataset" is not a {cls.__name__}.')
        return super().from_dataset(dataset, copy=copy)

    @classmethod
    def _holds(cls, dataset: Dataset) -> bool:
        """Whether ``dataset``'s content is this kind of Cervi report."""
        raise NotImplementedError

    # --- read back ---------------------------------------------------------------------------
    def _groups(self, kind: codes.Code | None = None) -> list[Dataset]:
        groups = read.measurement_groups(self)
        if kind is None:
            return groups
        return [g for g in groups if (f := read.finding_type(g)) is not None and read.is_(f, kind)]

    @property
    def result_version(self) -> int:
        return int(self.InstanceNumber)

    @property
    def model(self) -> ModelIdentity:
        """The model as the device observer (TID 1004) and Software Versions name it."""
        name, sha = read.device_observer(self)
        return ModelIdentity(
            name, str(self.SoftwareVersions), sha, demo=not self.for_diagnostic_use
        )

    @property
    def for_diagnostic_use(self) -> bool:
        """False where any group or the qualitative evaluations say "not for diagnostic use"."""
        places = [*self._groups(), read.child(self, codes.QUALITATIVE_EVALUATIONS)]
        return not any(read.not_for_diagnostic_use(p) for p in places if p is not None)

    @property
    def image_views(self) -> dict[str, str]:
        """{view: SOP Instance UID} of the source images in the Image Library (views known)."""
        return {view: uid for uid, view in read.library_views(self).items() if view != "unknown"}

    @property
    def views(self) -> tuple[str, ...]:
        present = self.image_views
        return tuple(v for v in VIEWS if v in present)

    @property
    def predecessor(self) -> DocumentReference | None:
        seq = self.get("PredecessorDocumentsSequence")
        if not seq:
            return None
        series = seq[0].ReferencedSeriesSequence[0]
        sop = series.ReferencedSOPSequence[0]
        return DocumentReference(
            str(seq[0].StudyInstanceUID),
            str(series.SeriesInstanceUID),
            str(sop.ReferencedSOPInstanceUID),
            str(sop.ReferencedSOPClassUID),
        )
