"""Cervi's results as DICOM Structured Reports: TID 1500 "Imaging Measurement Report" in a
Comprehensive 3D SR document, written into the source study (docs/conformance.md, annex 8.1).

- :class:`CerviImagingMeasurementReport`: the analysed outcome (ROIs, probabilities, findings).
- :class:`CerviNotAnalysedReport`: the "insufficient views / unreadable" outcome.
- :func:`read_report`: either of them from a dataset (for example one read back from the PACS).

The package: ``_content`` (content-tree builders), ``_document`` (the document layer, UIDs,
predecessor references), ``_checks`` (argument checks), :mod:`~dicom_node.sr.read` (walks over a
report's content tree), :mod:`~dicom_node.sr.key_image` (the Secondary Capture key image, built
with the same UIDs, checks and label order) and its ``_render``. Only this module, ``read`` and
``key_image`` are imported from outside the package.

UIDs derive from (study, model sha256, result version) (:class:`ResultUIDs`), so building the same
result twice gives the same bytes apart from the ``content_datetime`` the caller passes.

Use (the pipeline)::

    warm_up()  # once at start: highdicom loads its tables of the standard (0.3-1 s)
    report = CerviImagingMeasurementReport(
        prediction, {"extension": ext, "neutral": neu, "flexion": flx},  # headers suffice
        result_version=2, content_datetime=now,
        predecessor=DocumentReference(study_uid, previous_series_uid, previous_sop_uid),
    )
    report.save_as(path, enforce_file_format=True)
    read_report(dcmread(path)).probabilities  # {"atlantoaxial_instability": 0.91, ...}
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset
from pydicom.uid import DigitalXRayImageStorageForPresentation

from dicom_node import codes
from dicom_node.sr import _checks as checks
from dicom_node.sr import _content as content
from dicom_node.sr import _measure as measure
from dicom_node.sr import read
from dicom_node.sr._document import (
    SERIES_NUMBER,
    CerviReport,
    DocumentReference,
    ResultUIDs,
)
from inference.result import VIEWS, ModelIdentity, StudyPrediction

__all__ = [
    "CerviImagingMeasurementReport",
    "CerviNotAnalysedReport",
    "DocumentReference",
    "ResultUIDs",
    "read_report",
    "warm_up",
]


class CerviImagingMeasurementReport(CerviReport):
    """Cervi's analysed result: :dcm:`TID 1500 Imaging Measurement Report
    <part16/chapter_A.html#sect_TID_1500>` (root DCM 126000) in a Comprehensive 3D SR.

    See https://dicom.nema.org/medical/dicom/current/output/chtml/part16/chapter_A.html#sect_TID_1500

    Content: device observer = the model (TID 1004); Image Library (TID 1600) with the source
    images and their views; "Imaging Measurements": per view, neutral first (OHIF's basic
    viewer shows the first group's image), a TID 1410 group (tracking identifier and UID, the
    ROI as a closed SCOORD POLYLINE, TID 4019) and a TID 1501 group with the view's name and
    its measurements (NUM, mm and deg, INFERRED FROM the SCOORD lines they are measured
    between); once, after the first view's groups, TID 1501 study groups with the calls (a
    Comment per label: present/absent, probability, threshold) and the study measurements
    (``dicom_node.sr._measure``); "Qualitative Evaluations": per label, Present/Absent (CODE)
    with its probability (NUM, inferred from the images the model used) and TID 4019 with the
    threshold as a parameter under it; for a demo model, the "not for diagnostic use" notice.
    Every group in "Imaging Measurements" has an outline: OHIF 3.13 fails on one without.
    """

    @classmethod
    def _holds(cls, dataset: Dataset) -> bool:
        return bool(read.label_evaluations(dataset))

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
        study = checks.check_common(images, prediction.model, result_version, content_datetime)
        checks.check_predecessor(predecessor, result_version, study)
        checks.check_prediction(prediction, images)
        base = (study, prediction.model.sha256, str(result_version))
        labels = sorted(prediction.labels, key=lambda lab: list(codes.LABELS).index(lab.key))
        model = prediction.model
        shown = [v for v in content.SHOWN_ORDER if v in prediction.regions]
        groups: list[Any] = []
        for v in shown:
            groups.append(content.view_group(prediction.regions[v], images[v], model, base))
            found = measure.view_measurement_group(
                v, images[v], prediction.measurements, model, base
            )
            if found is not None:
                groups.append(found)
            if v == shown[0]:  # the study's results once, on the view OHIF opens
                groups += measure.study_groups(
                    labels, prediction.measurements, dict(images), prediction.regions, model, base
                )
        used = [images[v] for v in VIEWS if v in prediction.views_used]
        evaluations: list[hsr.ContentItem] = [
            content.label_evaluation(lab, used, prediction.model) for lab in labels
        ]
        self._build(
            images=[(v, images[v]) for v in VIEWS if v in images],
            model=prediction.model,
            groups=groups,
            evaluations=content.evaluations_container(
                evaluations + content.demo_notice(prediction.model)
            ),
            result_version=result_version,
            content_datetime=content_datetime,
            predecessor=predecessor,
            series_number=series_number,
        )

    @property
    def probabilities(self) -> dict[str, float]:
        """{label key: probability in [0, 1]} (study level)."""
        return {
            key: read.num_value(read.child(item, codes.PROBABILITIES[key])) / 100.0
            for key, item in read.label_evaluations(self).items()
        }

    @property
    def thresholds(self) -> dict[str, float]:
        """{label key: decision threshold in [0, 1]} (TID 4019 parameter ``threshold=``)."""
        values = {}
        for key, item in read.label_evaluations(self).items():
            params = read.algorithm(item)[2]
            values[key] = float(next(p for p in params if p.startswith("threshold=")).split("=")[1])
        return values

    @property
    def findings(self) -> dict[str, bool]:
        """{label key: present?} from the qualitative evaluations."""
        return {
            key: read.is_(read.code_value(item), codes.PRESENT)
            for key, item in read.label_evaluations(self).items()
        }

    @property
    def measurements(self) -> dict[str, float]:
        """{name: value} as ``inference.measurements`` names them: ``adi_mm_flexion`` for a
        value of one view (the view of the image its lines are on), ``adi_change_mm`` for the
        study."""
        views = read.library_views(self)
        values = {}
        for group in self._groups(codes.VIEW_MEASUREMENTS):
            for key, value, uid, _ in read.measurements(group):
                values[f"{key}_{views[uid]}" if uid else key] = value
        for group in self._groups(codes.STUDY_RESULTS):
            for key, value, _, _ in read.measurements(group):
                values[key] = value
        return values

    @property
    def calls(self) -> list[str]:
        """The study's calls as the study groups show them ("AA instability PRESENT 91% (thr
        44%)"), in order."""
        return [
            str(item.TextValue)
            for group in self._groups(codes.STUDY_RESULTS)
            for item in read.children(group)
            if item.ValueType == "TEXT" and read.is_(item, codes.COMMENT)
        ]

    @property
    def regions(self) -> dict[str, tuple[float, float, float, float]]:
        """{view: (x0, y0, x1, y1)} of the ROIs, in pixels of that view's image."""
        views = read.library_views(self)
        boxes = {}
        for group in self._groups(codes.UPPER_CERVICAL_REGION):
            uid, box = read.box(group)
            boxes[views[uid]] = box
        return {v: boxes[v] for v in VIEWS if v in boxes}


class CerviNotAnalysedReport(CerviReport):
    """Cervi's "not analysed" outcome, same template family: :dcm:`TID 1500
    <part16/chapter_A.html#sect_TID_1500>`. Its "Qualitative Evaluations" container says
    "Analysis outcome: Not analysed" and, per view, Received / Missing / Unreadable, with an
    optional comment. The images that did arrive are in the Image Library (and the evidence),
    with their views where known. Per view received readable, neutral first, a TID 1410 group
    outlines the image's top left corner and says, in NUM items OHIF shows beside it, how many
    views were missing or unreadable: OHIF 3.13 fails on an SR without a group it can draw.
    With no readable image there is no group (and OHIF cannot show the report; other SR
    viewers can).

    See https://dicom.nema.org/medical/dicom/current/output/chtml/part16/chapter_A.html#sect_TID_1500
    """

    @classmethod
    def _holds(cls, dataset: Dataset) -> bool:
        evaluations = read.child(dataset, codes.QUALITATIVE_EVALUATIONS)
        return (
            evaluations is not None and read.child(evaluations, codes.ANALYSIS_OUTCOME) is not None
        )

    def __init__(
        self,
        images: Mapping[str, Dataset],
        model: ModelIdentity,
        *,
        missing: Sequence[str] = (),
        unreadable: Sequence[str] = (),
        outside_domain: Sequence[str] = (),
        unidentified: Sequence[Dataset] = (),
        reason: str | None = None,
        result_version: int,
        content_datetime: datetime.datetime,
        predecessor: DocumentReference | None = None,
        series_number: int = SERIES_NUMBER,
    ) -> None:
        """
        Parameters
        ----------
        images: {view: header} of every image that arrived with a known view, unreadable ones
            included (may be empty when ``unidentified`` is not).
        model: the configured model (the device observer, even when it did not run).
        missing: views that never arrived (not in ``images``).
        unreadable: views that arrived but could not be read (in ``images``).
        outside_domain: views that were read but the model's domain gate refused (in
            ``images``): unlike the images the model was trained on.
        unidentified: headers of images that arrived but whose view is unknown; they are
            listed and referenced without a view.
        reason: an optional free-text comment (no patient data).
        result_version, content_datetime, predecessor, series_number: as for
            :class:`CerviImagingMeasurementReport`.
        """
        study = checks.check_common(
            images, model, result_version, content_datetime, others=unidentified
        )
        checks.check_predecessor(predecessor, result_version, study)
        checks.check_views(images, missing, unreadable, reason, outside_domain)
        states = {
            v: "missing"
            if v in missing
            else "unreadable"
            if v in unreadable
            else "outside_domain"
            if v in outside_domain
            else "received"
            for v in VIEWS
            if v in missing or v in images
        }
        arrived: list[tuple[str | None, Dataset]] = [(v, images[v]) for v in VIEWS if v in images]
        arrived += [(None, image) for image in unidentified]
        base = (study, model.sha256, str(result_version))
        groups = [
            content.not_analysed_group(
                v, images[v], len(missing), len(unreadable), model, base, len(outside_domain)
            )
            for v in content.SHOWN_ORDER
            if states.get(v) in ("received", "outside_domain")
            and {"Rows", "Columns"} <= set(images[v].dir())
        ]
        self._build(
            images=arrived,
            model=model,
            groups=groups,
            evaluations=content.outcome_evaluations(states, model, reason),
            result_version=result_version,
            content_datetime=content_datetime,
            predecessor=predecessor,
            series_number=series_number,
        )

    def _evaluations(self) -> Dataset:
        return read.child(self, codes.QUALITATIVE_EVALUATIONS)

    def _states(self) -> dict[str, str]:
        group = self._evaluations()
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
        """{view: "received" | "missing" | "unreadable" | "outside_domain"}."""
        return self._states()

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(v for v, s in self._states().items() if s == "missing")

    @property
    def unreadable(self) -> tuple[str, ...]:
        return tuple(v for v, s in self._states().items() if s == "unreadable")

    @property
    def outside_domain(self) -> tuple[str, ...]:
        """Views the model's domain gate refused."""
        return tuple(v for v, s in self._states().items() if s == "outside_domain")

    @property
    def unidentified(self) -> tuple[str, ...]:
        """SOP Instance UIDs of the arrived images whose view is unknown."""
        return tuple(uid for uid, view in read.library_views(self).items() if view == "unknown")

    @property
    def reason(self) -> str | None:
        item = read.child(self._evaluations(), codes.REASON_NOT_ANALYSED)
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
