"""Cervi's results as DICOM Structured Reports: TID 1500 "Imaging Measurement Report" in a
Comprehensive 3D SR document, written into the source study (DESIGN.md, "Results in DICOM").

- :class:`CerviImagingMeasurementReport`: the analysed outcome (ROIs, probabilities, findings).
- :class:`CerviNotAnalysedReport`: the "insufficient views / unreadable" outcome.
- :func:`read_report`: either of them from a dataset (for example one read back from the PACS).

UIDs derive from (study, model sha256, result version) (:class:`ResultUIDs`), so building the same
result twice gives the same bytes apart from the ``content_datetime`` the caller passes.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset
from pydicom.uid import Comprehensive3DSRStorage, DigitalXRayImageStorageForPresentation
from pydicom.valuerep import DT

from dicom_node import _sr_checks as checks
from dicom_node import _sr_content as content
from dicom_node import _sr_read as read
from dicom_node import codes
from inference.result import VIEWS, ModelIdentity, StudyPrediction

SERIES_NUMBER = 9900
SERIES_DESCRIPTION = "Cervi AI result"
DEMO_SUFFIX = " - NOT FOR DIAGNOSTIC USE"


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


class _CerviReport(hsr.Comprehensive3DSR):
    """What both Cervi reports share: document attributes, UIDs, predecessor, read-back."""

    _KIND: codes.Code  # finding type that tells the two kinds apart
    _HAND_OVER_TREE = True  # False: let highdicom copy and walk the tree (tests compare both)

    def _build(
        self,
        *,
        images: Mapping[str, Dataset],
        model: ModelIdentity,
        groups: Sequence[Any],
        result_version: int,
        content_datetime: datetime.datetime,
        predecessor: DocumentReference | None,
        series_number: int,
    ) -> None:
        study_uid = str(next(iter(images.values())).StudyInstanceUID)
        uids = ResultUIDs.derive(study_uid, model.sha256, result_version)
        report = hsr.MeasurementReport(
            observation_context=content.observation_context(model),
            procedure_reported=codes.PROCEDURE_REPORTED,
            imaging_measurements=groups,
        )
        root = report[0]
        root.ContentSequence.insert(len(root.ContentSequence) - 1, content.image_library(images))
        tree = root.ContentSequence
        if self._HAND_OVER_TREE:
            # highdicom deep-copies the content, re-wraps the copy and walks it twice to collect
            # evidence: ~65 % of a warm build. The tree is new and every image it references
            # is in ``images`` (checked), so the root goes in alone and the tree is attached.
            root.ContentSequence = []
        description = SERIES_DESCRIPTION + (DEMO_SUFFIX if model.demo else "")
        super().__init__(
            evidence=list(images.values()),
            content=report,
            series_instance_uid=uids.series_instance_uid,
            series_number=series_number,
            sop_instance_uid=uids.sop_instance_uid,
            instance_number=result_version,
            manufacturer=content.MANUFACTURER,
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
            self._content = report  # what highdicom's own from_dataset() sets
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
        if not any(
            read.finding_type(g) is not None and read.is_(read.finding_type(g), cls._KIND)
            for g in read.measurement_groups(dataset)
        ):
            raise ValueError(f'Argument "dataset" is not a {cls.__name__}.')
        return super().from_dataset(dataset, copy=copy)

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
        """The model as the report names it (TID 4019 of the first group)."""
        group = self._groups()[0]
        name, version, params = read.algorithm(group)
        sha = next((p.split("=", 1)[1] for p in params if p.startswith("sha256=")), "")
        return ModelIdentity(name, version, sha, demo=read.not_for_diagnostic_use(group))

    @property
    def for_diagnostic_use(self) -> bool:
        return not any(read.not_for_diagnostic_use(g) for g in self._groups())

    @property
    def image_views(self) -> dict[str, str]:
        """{view: SOP Instance UID} of the source images in the Image Library."""
        return {view: uid for uid, view in read.library_views(self).items()}

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


class CerviImagingMeasurementReport(_CerviReport):
    """Cervi's analysed result: :dcm:`TID 1500 Imaging Measurement Report
    <part16/chapter_A.html#sect_TID_1500>` (root DCM 126000) in a Comprehensive 3D SR.

    See https://dicom.nema.org/medical/dicom/current/output/chtml/part16/chapter_A.html#sect_TID_1500

    Content: device observer = the model (TID 1004); Image Library (TID 1600) with the source
    images and their views; per view a TID 1410 group (tracking identifier and UID, the ROI as
    a closed SCOORD POLYLINE, the leading findings' probabilities as at most five NUM items in
    percent); per label a TID 1501 group (probability and threshold as NUM, Present/Absent as a
    qualitative evaluation); TID 4019 algorithm identification in every group.
    """

    _KIND = codes.LABELS["atlantoaxial_instability"]

    def __init__(
        self,
        prediction: StudyPrediction,
        images: Mapping[str, Dataset],
        *,
        result_version: int,
        content_datetime: datetime.datetime,
        predecessor: DocumentReference | None = None,
        series_number: int = SERIES_NUMBER,
    ) -> None:
        """
        Parameters
        ----------
        prediction: the model's result for the study.
        images: {view: source image header} for every view the prediction used (pixel data is
            not needed); all in one study, which the SR joins.
        result_version: 1 for the first result of the study, +1 for each re-analysis.
        content_datetime: the SR's content (and instance creation) date and time.
        predecessor: the previous version's SR; required exactly when ``result_version > 1``.
        series_number: Series Number of Cervi's SR series.
        """
        if not isinstance(prediction, StudyPrediction):
            raise TypeError('Argument "prediction" must have type StudyPrediction.')
        checks.check_common(
            images,
            prediction.model,
            result_version,
            content_datetime,
            predecessor,
            DocumentReference,
        )
        checks.check_prediction(prediction, images)
        base = (str(next(iter(images.values())).StudyInstanceUID), prediction.model.sha256)
        base += (str(result_version),)
        labels = sorted(prediction.labels, key=lambda lab: list(codes.LABELS).index(lab.key))
        groups: list[Any] = [
            content.view_group(prediction.regions[v], images[v], labels, prediction.model, base)
            for v in VIEWS
            if v in prediction.regions
        ]
        groups += [content.label_group(lab, prediction.model, base) for lab in labels]
        self._build(
            images={v: images[v] for v in VIEWS if v in images},
            model=prediction.model,
            groups=groups,
            result_version=result_version,
            content_datetime=content_datetime,
            predecessor=predecessor,
            series_number=series_number,
        )

    def _label_groups(self) -> dict[str, Dataset]:
        found: dict[str, Dataset] = {}
        for group in self._groups():
            finding = read.finding_type(group)
            key = codes.label_for(str(finding.CodeValue)) if finding is not None else None
            if key is not None:
                found[key] = group
        return found

    def _label_num(self, concept: dict[str, codes.Code] | None) -> dict[str, float]:
        values = {}
        for key, group in self._label_groups().items():
            code = concept[key] if concept is not None else codes.DECISION_THRESHOLD
            values[key] = read.num_value(read.child(group, code)) / 100.0
        return values

    @property
    def probabilities(self) -> dict[str, float]:
        """{label key: probability in [0, 1]} (study level)."""
        return self._label_num(dict(codes.PROBABILITIES))

    @property
    def thresholds(self) -> dict[str, float]:
        return self._label_num(None)

    @property
    def findings(self) -> dict[str, bool]:
        """{label key: present?} from the qualitative evaluations."""
        return {
            key: read.is_(read.code_value(read.child(group, codes.LABELS[key])), codes.PRESENT)
            for key, group in self._label_groups().items()
        }

    @property
    def regions(self) -> dict[str, tuple[float, float, float, float]]:
        """{view: (x0, y0, x1, y1)} of the ROIs, in pixels of that view's image."""
        views = read.library_views(self)
        boxes = {}
        for group in self._groups(codes.UPPER_CERVICAL_REGION):
            uid, box = read.box(group)
            boxes[views[uid]] = box
        return {v: boxes[v] for v in VIEWS if v in boxes}


class CerviNotAnalysedReport(_CerviReport):
    """Cervi's "not analysed" outcome, same template family: :dcm:`TID 1500
    <part16/chapter_A.html#sect_TID_1500>` with one TID 1501 group whose qualitative evaluations
    say "Analysis outcome: Not analysed" and, per view, Received / Missing / Unreadable. The
    images that did arrive are in the Image Library and referenced by the group.

    See https://dicom.nema.org/medical/dicom/current/output/chtml/part16/chapter_A.html#sect_TID_1500
    """

    _KIND = codes.NOT_ANALYSED

    def __init__(
        self,
        images: Mapping[str, Dataset],
        model: ModelIdentity,
        *,
        missing: Sequence[str] = (),
        unreadable: Sequence[str] = (),
        reason: str | None = None,
        result_version: int,
        content_datetime: datetime.datetime,
        predecessor: DocumentReference | None = None,
        series_number: int = SERIES_NUMBER,
    ) -> None:
        """
        Parameters
        ----------
        images: {view: header} of every image that arrived, unreadable ones included.
        model: the configured model (the device observer, even when it did not run).
        missing: views that never arrived (not in ``images``).
        unreadable: views that arrived but could not be read (in ``images``).
        reason: an optional free-text comment (no patient data).
        result_version, content_datetime, predecessor, series_number: as for
            :class:`CerviImagingMeasurementReport`.
        """
        checks.check_common(
            images, model, result_version, content_datetime, predecessor, DocumentReference
        )
        checks.check_views(images, missing, unreadable, reason)
        states = {
            v: "missing" if v in missing else "unreadable" if v in unreadable else "received"
            for v in VIEWS
            if v in missing or v in images
        }
        ordered = {v: images[v] for v in VIEWS if v in images}
        base = (
            str(next(iter(images.values())).StudyInstanceUID),
            model.sha256,
            str(result_version),
        )
        self._build(
            images=ordered,
            model=model,
            groups=[content.outcome_group(states, ordered, model, base, reason)],
            result_version=result_version,
            content_datetime=content_datetime,
            predecessor=predecessor,
            series_number=series_number,
        )

    def _states(self) -> dict[str, str]:
        group = self._groups(codes.NOT_ANALYSED)[0]
        states = {}
        for view, concept in codes.VIEW_STATUS.items():
            item = read.child(group, concept)
            if item is None:
                continue
            for state, code in codes.VIEW_STATES.items():
                if read.is_(read.code_value(item), code):
                    states[view] = state
        return states

    @property
    def view_states(self) -> dict[str, str]:
        """{view: "received" | "missing" | "unreadable"}."""
        return self._states()

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(v for v, s in self._states().items() if s == "missing")

    @property
    def unreadable(self) -> tuple[str, ...]:
        return tuple(v for v, s in self._states().items() if s == "unreadable")

    @property
    def reason(self) -> str | None:
        item = read.child(self._groups(codes.NOT_ANALYSED)[0], codes.COMMENT)
        return str(item.TextValue) if item is not None else None


def warm_up() -> None:
    """Load highdicom's tables of the DICOM standard now rather than in the first SR.

    highdicom reads them lazily on first use (here: the IOD check inside ``ImageRegion``); that
    costs 0.4 to 0.7 s once per process. Call this once at service start.
    """
    hsr.ImageRegion(
        graphic_type=hsr.GraphicTypeValues.POINT,
        graphic_data=np.zeros((1, 2)),
        source_image=hsr.SourceImageForRegion(
            referenced_sop_class_uid=DigitalXRayImageStorageForPresentation,
            referenced_sop_instance_uid=content.derive_uid("warm-up"),
        ),
    )


def read_report(dataset: Dataset) -> CerviImagingMeasurementReport | CerviNotAnalysedReport:
    """Whichever Cervi report ``dataset`` holds (``ValueError`` if neither)."""
    for cls in (CerviImagingMeasurementReport, CerviNotAnalysedReport):
        try:
            return cls.from_dataset(dataset)
        except ValueError:
            continue
    raise ValueError('Argument "dataset" is not a Cervi report.')
