"""The TID 1500 SR builders: round trip through bytes, dciodvfy, UIDs, predecessor, validation."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import highdicom.sr as hsr
import pytest
from pydicom import Dataset
from pydicom.uid import ComputedRadiographyImageStorage

from dicom_node import codes
from dicom_node.sr import (
    CerviImagingMeasurementReport,
    CerviNotAnalysedReport,
    DocumentReference,
    ResultUIDs,
    read,
    read_report,
)
from inference.result import VIEWS, ModelIdentity, StudyPrediction
from tests.conftest import require_tool
from tests.support.results import (
    CLINICAL_MODEL,
    DEMO_MODEL,
    LABEL_KEYS,
    NOW,
    dciodvfy_findings,
    from_bytes,
    ohif_problems,
    prediction,
    study_images,
    to_bytes,
)

OURS = "99CERVI"  # dciodvfy does not know private schemes; it warns about each use


def build(images: dict[str, Dataset], **kwargs: object) -> CerviImagingMeasurementReport:
    args: dict[str, object] = {"result_version": 1, "content_datetime": NOW}
    args.update(kwargs)
    pred = args.pop("prediction", prediction())
    return CerviImagingMeasurementReport(pred, images, **args)  # type: ignore[arg-type]


def not_analysed(images: dict[str, Dataset], **kwargs: object) -> CerviNotAnalysedReport:
    args: dict[str, object] = {
        "missing": ["extension"],
        "unreadable": ["flexion"],
        "reason": "extension not received within the quiet period",
        "result_version": 1,
        "content_datetime": NOW,
    }
    args.update(kwargs)
    arrived = {v: images[v] for v in ("neutral", "flexion")}
    return CerviNotAnalysedReport(arrived, DEMO_MODEL, **args)  # type: ignore[arg-type]


def test_round_trip_through_bytes(images: dict[str, Dataset]) -> None:
    pred = prediction()
    report = CerviImagingMeasurementReport.from_dataset(from_bytes(to_bytes(build(images))))
    assert report.probabilities == pytest.approx(
        {lab.key: lab.probability for lab in pred.labels}, abs=1e-6
    )
    assert report.thresholds == pytest.approx(dict.fromkeys(LABEL_KEYS, 0.5))
    assert report.findings == {lab.key: lab.present for lab in pred.labels}
    assert report.findings["atlantoaxial_instability"] is True
    assert report.regions == {view: region.box for view, region in pred.regions.items()}
    assert report.views == ("extension", "neutral", "flexion")
    assert report.image_views == {v: ds.SOPInstanceUID for v, ds in images.items()}
    assert report.model == DEMO_MODEL
    assert report.result_version == 1
    assert report.predecessor is None
    assert report.for_diagnostic_use is False
    assert len(report.content.get_planar_roi_measurement_groups()) == 3  # highdicom's own API


def test_highdicom_reads_the_file_back(images: dict[str, Dataset], tmp_path: Path) -> None:
    path = tmp_path / "sr.dcm"
    build(images).save_as(path, enforce_file_format=True)
    document = hsr.srread(path)
    assert isinstance(document, hsr.Comprehensive3DSR)
    assert len(document.content.get_planar_roi_measurement_groups()) == 3
    assert CerviImagingMeasurementReport.from_dataset(document).regions == {
        view: region.box for view, region in prediction().regions.items()
    }


def test_document_joins_the_source_study_in_its_own_series(images: dict[str, Dataset]) -> None:
    ds = from_bytes(to_bytes(build(images)))
    source = images["neutral"]
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    assert ds.PatientID == source.PatientID
    assert ds.SeriesInstanceUID not in {im.SeriesInstanceUID for im in images.values()}
    assert ds.ConceptNameCodeSequence[0].CodeValue == codes.IMAGING_MEASUREMENT_REPORT.value
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == OURS
    evidence = {
        sop.ReferencedSOPInstanceUID
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    assert evidence == {im.SOPInstanceUID for im in images.values()}
    assert ds.SeriesDescription == "NOT FOR DX - Cervi AI"  # OHIF's thumbnail shows ~22
    notice = read.child(read.child(ds, codes.QUALITATIVE_EVALUATIONS), codes.COMMENT)
    assert notice.TextValue.startswith("NOT FOR DIAGNOSTIC USE: CerviHFENet 0.1.0")


def test_each_roi_is_a_closed_polyline_on_its_own_view(images: dict[str, Dataset]) -> None:
    ds = from_bytes(to_bytes(build(images)))
    groups = [
        g
        for g in read.measurement_groups(ds)
        if read.is_(read.finding_type(g), codes.UPPER_CERVICAL_REGION)
    ]
    assert len(groups) == 3
    views = read.library_views(ds)
    for group in groups:
        scoord = next(c for c in read.children(group) if c.ValueType == "SCOORD")
        assert scoord.GraphicType == "POLYLINE"
        points = list(zip(scoord.GraphicData[0::2], scoord.GraphicData[1::2], strict=True))
        assert len(points) == 5 and points[0] == points[-1]
        uid, box = read.box(group)
        assert box == prediction().regions[views[uid]].box
        assert read.child(group, codes.TRACKING_UID) is not None
        assert (
            read.child(group, codes.TRACKING_IDENTIFIER).TextValue
            == f"Upper cervical ROI, {views[uid]}"
        )


def test_algorithm_identification_and_device_observer_name_the_model(
    images: dict[str, Dataset],
) -> None:
    ds = build(images)
    sha = f"sha256={'ab' * 32}"
    for group in read.measurement_groups(ds):
        assert read.algorithm(group) == ("CerviHFENet", "0.1.0", [sha])
    for item in read.label_evaluations(ds).values():
        assert read.algorithm(item) == ("CerviHFENet", "0.1.0", [sha, "threshold=0.5"])
    texts = {
        c.ConceptNameCodeSequence[0].CodeMeaning: c.get("TextValue") for c in ds.ContentSequence
    }
    assert texts["Device Observer Serial Number"] == "ab" * 32
    assert texts["Device Observer Model Name"] == "CerviHFENet 0.1.0"


def test_clinical_model_report_carries_no_demo_warning(images: dict[str, Dataset]) -> None:
    report = build(images, prediction=prediction(model=CLINICAL_MODEL))
    back = CerviImagingMeasurementReport.from_dataset(from_bytes(to_bytes(report)))
    assert back.for_diagnostic_use is True
    assert back.model == CLINICAL_MODEL
    assert report.SeriesDescription == "Cervi AI result"
    evaluations = read.child(report, codes.QUALITATIVE_EVALUATIONS)
    assert read.child(evaluations, codes.INTENDED_USE) is None
    assert read.child(evaluations, codes.COMMENT) is None
    assert len(read.label_evaluations(report)) == 6


def test_same_input_same_bytes_and_uids_from_study_model_version(
    images: dict[str, Dataset],
) -> None:
    first, again = to_bytes(build(images)), to_bytes(build(images))
    assert first == again
    later = build(images, content_datetime=NOW + datetime.timedelta(hours=1))
    assert later.SOPInstanceUID == from_bytes(first).SOPInstanceUID
    assert later.ContentTime != from_bytes(first).ContentTime
    uids = ResultUIDs.derive(images["neutral"].StudyInstanceUID, DEMO_MODEL.sha256, 1)
    assert (later.SeriesInstanceUID, later.SOPInstanceUID) == (
        uids.series_instance_uid,
        uids.sop_instance_uid,
    )
    v2 = ResultUIDs.derive(images["neutral"].StudyInstanceUID, DEMO_MODEL.sha256, 2)
    other_model = ResultUIDs.derive(images["neutral"].StudyInstanceUID, "cd" * 32, 1)
    assert v2.series_instance_uid == uids.series_instance_uid
    assert v2.sop_instance_uid != uids.sop_instance_uid
    assert other_model.series_instance_uid != uids.series_instance_uid
    for uid in (uids.series_instance_uid, uids.sop_instance_uid):
        assert uid.startswith("2.25.") and len(uid) <= 64


def test_uid_derivation_never_changes() -> None:
    """UIDs already sent to PACSs must come out the same after any refactoring."""
    assert ResultUIDs.derive("1.2.3", "ab" * 32, 1) == ResultUIDs(
        "2.25.217031720185246323473127230680995804990",
        "2.25.22747997026903302522904841291085027755",
    )


def test_handing_the_tree_over_gives_the_same_bytes_as_highdicom_copying_it(
    images: dict[str, Dataset],
) -> None:
    class Copying(CerviImagingMeasurementReport):
        _HAND_OVER_TREE = False

    slow = Copying(prediction(), images, result_version=1, content_datetime=NOW)
    assert to_bytes(slow) == to_bytes(build(images))


def test_new_version_names_its_predecessor(images: dict[str, Dataset]) -> None:
    v1 = build(images)
    v2 = build(images, result_version=2, predecessor=DocumentReference.of(v1))
    back = CerviImagingMeasurementReport.from_dataset(from_bytes(to_bytes(v2)))
    assert back.predecessor == DocumentReference.of(v1)
    assert back.result_version == 2 and back.SOPInstanceUID != v1.SOPInstanceUID
    with pytest.raises(ValueError, match='"predecessor" is required'):
        build(images, result_version=2)
    with pytest.raises(ValueError, match='"predecessor" must be None'):
        build(images, predecessor=DocumentReference.of(v1))


def test_not_analysed_report_says_which_views_and_references_arrivals(
    images: dict[str, Dataset],
) -> None:
    report = read_report(from_bytes(to_bytes(not_analysed(images))))
    assert isinstance(report, CerviNotAnalysedReport)
    assert report.view_states == {
        "extension": "missing",
        "neutral": "received",
        "flexion": "unreadable",
    }
    assert report.missing == ("extension",) and report.unreadable == ("flexion",)
    assert report.reason == "extension not received within the quiet period"
    assert report.image_views == {v: images[v].SOPInstanceUID for v in ("neutral", "flexion")}
    # OHIF needs a group it can draw: on the one view received readable, the top left corner
    (group,) = read.measurement_groups(report)
    neutral = images["neutral"]
    corner = (0.0, 0.0, neutral.Columns / 4, neutral.Rows / 8)
    assert read.box(group) == (neutral.SOPInstanceUID, corner)
    assert read.is_(read.finding_type(group), codes.NOT_ANALYSED)
    nums = {
        c.ConceptNameCodeSequence[0].CodeMeaning: read.num_value(c)
        for c in read.children(group)
        if c.ValueType == "NUM"
    }
    assert nums == {"NOT ANALYSED, missing": 1.0, "NOT ANALYSED, unreadable": 1.0}
    assert read.child(group, codes.TRACKING_IDENTIFIER).TextValue == "Not analysed, neutral"
    evidence = {
        sop.ReferencedSOPInstanceUID
        for series in report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    assert evidence == {images["neutral"].SOPInstanceUID, images["flexion"].SOPInstanceUID}
    assert report.for_diagnostic_use is False
    with pytest.raises(ValueError, match="CerviImagingMeasurementReport"):
        CerviImagingMeasurementReport.from_dataset(report)


def test_not_analysed_without_a_readable_image_has_nothing_ohif_can_draw(
    images: dict[str, Dataset],
) -> None:
    """Known limit: with no readable image there is nothing to outline, and OHIF 3.13 cannot
    open such an SR (other SR viewers and the read-back can)."""
    report = not_analysed(images, unreadable=["neutral", "flexion"])
    back = read_report(from_bytes(to_bytes(report)))
    assert isinstance(back, CerviNotAnalysedReport)
    assert read.measurement_groups(back) == []
    assert ohif_problems(back) == ["no measurement group with an outline: the SR viewport fails"]


def test_not_analysed_lists_images_whose_view_is_unknown(images: dict[str, Dataset]) -> None:
    odd = study_images(study_uid=images["neutral"].StudyInstanceUID)["extension"]
    report = CerviNotAnalysedReport(
        {"neutral": images["neutral"]},
        DEMO_MODEL,
        missing=["extension", "flexion"],
        unidentified=[odd],
        result_version=1,
        content_datetime=NOW,
    )
    back = read_report(from_bytes(to_bytes(report)))
    assert isinstance(back, CerviNotAnalysedReport)
    assert back.unidentified == (odd.SOPInstanceUID,)
    assert back.image_views == {"neutral": images["neutral"].SOPInstanceUID}
    assert back.view_states == {"extension": "missing", "neutral": "received", "flexion": "missing"}
    only_odd = CerviNotAnalysedReport(
        {},
        DEMO_MODEL,
        missing=list(VIEWS),
        unidentified=[odd],
        result_version=1,
        content_datetime=NOW,
    )
    assert only_odd.unidentified == (odd.SOPInstanceUID,) and only_odd.image_views == {}
    with pytest.raises(ValueError, match="one study"):
        CerviNotAnalysedReport(
            {"neutral": images["neutral"]},
            DEMO_MODEL,
            missing=["flexion"],
            unidentified=[study_images()["flexion"]],
            result_version=1,
            content_datetime=NOW,
        )


def test_unreadable_image_without_pixel_description_is_still_listed(
    images: dict[str, Dataset],
) -> None:
    for keyword in ("Rows", "Columns", "PixelData"):
        del images["flexion"][keyword]
    report = not_analysed(images)
    assert report.image_views["flexion"] == images["flexion"].SOPInstanceUID
    with pytest.raises(ValueError, match='"flexion" image lacks Rows or Columns'):
        build(images)


def test_read_report_tells_the_kinds_apart(images: dict[str, Dataset]) -> None:
    analysed = read_report(from_bytes(to_bytes(build(images))))
    assert isinstance(analysed, CerviImagingMeasurementReport)
    with pytest.raises(ValueError, match="not a Cervi report"):
        read_report(images["neutral"])


def test_partial_analysis_of_two_views(images: dict[str, Dataset]) -> None:
    two = {v: images[v] for v in ("extension", "neutral")}
    boxes = {v: box for v, box in prediction().regions.items() if v in two}
    pred = prediction(boxes={v: r.box for v, r in boxes.items()})
    report = CerviImagingMeasurementReport.from_dataset(
        from_bytes(to_bytes(build(two, prediction=pred)))
    )
    assert report.views == ("extension", "neutral")
    assert set(report.regions) == {"extension", "neutral"}
    label = read.label_evaluations(report)["atlantoaxial_instability"]
    num = read.child(label, codes.PROBABILITIES["atlantoaxial_instability"])
    assert [c.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for c in read.children(num)] == [
        two["extension"].SOPInstanceUID,
        two["neutral"].SOPInstanceUID,
    ]
    assert ohif_problems(report) == []


def test_headers_without_type2_patient_and_study_attributes(
    images: dict[str, Dataset], tmp_path: Path
) -> None:
    for image in images.values():
        for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID"):
            del image[keyword]
    ds = build(images)
    assert ds.PatientSex == "" and ds.StudyID == "" and ds.PatientID == "CERVI-TEST-1"
    assert "PatientSex" not in images["extension"]  # the source is left alone
    path = tmp_path / "sr.dcm"
    path.write_bytes(to_bytes(ds))
    errors, _ = dciodvfy_findings(require_tool("dciodvfy"), str(path))
    assert errors == []


def test_computed_radiography_without_orientation_is_listed(images: dict[str, Dataset]) -> None:
    images["flexion"].SOPClassUID = ComputedRadiographyImageStorage
    images["flexion"].Modality = "CR"
    del images["flexion"].ImagerPixelSpacing
    ds = build(images)
    library = read.child(ds, codes.IMAGE_LIBRARY)
    modalities = [
        read.code_value(read.child(entry, codes.MODALITY)).CodeValue
        for entry in read.children(next(read.children(library)))
    ]
    assert modalities == ["DX", "DX", "CR"]


@pytest.mark.parametrize(
    "kind",
    [
        "analysed",
        "analysed v2",
        "two views",
        "not analysed",
        "not analysed, unknown view",
        "clinical",
    ],
)
def test_dciodvfy_reports_no_errors(kind: str, images: dict[str, Dataset], tmp_path: Path) -> None:
    tool = require_tool("dciodvfy")
    if kind == "analysed":
        ds: Dataset = build(images)
    elif kind == "analysed v2":
        ds = build(images, result_version=2, predecessor=DocumentReference.of(build(images)))
    elif kind == "two views":
        two = {v: images[v] for v in ("extension", "neutral")}
        pred = prediction(boxes={v: prediction().regions[v].box for v in two})
        ds = build(two, prediction=pred)
    elif kind == "clinical":
        ds = build(images, prediction=prediction(model=CLINICAL_MODEL))
    elif kind == "not analysed":
        ds = not_analysed(images)
    else:
        ds = not_analysed(images, missing=[], unidentified=[images["extension"]])
    path = tmp_path / "sr.dcm"
    path.write_bytes(to_bytes(ds))
    errors, warnings = dciodvfy_findings(tool, str(path))
    assert errors == []
    assert [w for w in warnings if OURS not in w] == []


@pytest.mark.parametrize(
    ("change", "error", "named"),
    [
        ({"prediction": "not a prediction"}, TypeError, '"prediction"'),
        ({"result_version": 0}, ValueError, '"result_version"'),
        ({"result_version": True}, TypeError, '"result_version"'),
        ({"content_datetime": "2026-11-27"}, TypeError, '"content_datetime"'),
        ({"predecessor": "1.2.3"}, TypeError, '"predecessor"'),
    ],
)
def test_bad_arguments_are_named(
    images: dict[str, Dataset], change: dict[str, object], error: type, named: str
) -> None:
    with pytest.raises(error, match=named):
        build(images, **change)


def test_bad_images_and_predictions_are_named(images: dict[str, Dataset]) -> None:
    with pytest.raises(TypeError, match='"images"'):
        build({})
    with pytest.raises(ValueError, match='unknown view "lateral"'):
        build({"lateral": images["neutral"]})
    with pytest.raises(ValueError, match='lacks the "flexion" view'):
        build({v: images[v] for v in ("extension", "neutral")})
    other = study_images()
    with pytest.raises(ValueError, match="one study"):
        build({**images, "flexion": other["flexion"]})
    with pytest.raises(ValueError, match="must name the views it used"):
        build(images, prediction=dataclasses.replace(prediction(), views_used=()))
    with pytest.raises(ValueError, match="not inside the image"):
        build(images, prediction=prediction(boxes={"neutral": (10, 10, 500, 20)}))
    bad_label = prediction()
    labels = (dataclasses.replace(bad_label.labels[0], key="scoliosis"), *bad_label.labels[1:])
    with pytest.raises(ValueError, match="scoliosis"):
        build(images, prediction=dataclasses.replace(bad_label, labels=labels))
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        build(images, prediction=prediction(probabilities=(1.5, 0, 0, 0, 0, 0)))
    for bad_model in (
        dataclasses.replace(DEMO_MODEL, sha256="abc"),
        dataclasses.replace(DEMO_MODEL, name=""),
        dataclasses.replace(DEMO_MODEL, version="v" * 65),
    ):
        with pytest.raises(ValueError, match='"model"'):
            build(images, prediction=dataclasses.replace(prediction(), model=bad_model))


def test_bad_not_analysed_arguments_are_named(images: dict[str, Dataset]) -> None:
    with pytest.raises(ValueError, match='"missing" names a view that is in "images"'):
        not_analysed(images, missing=["neutral"])
    with pytest.raises(ValueError, match='"unreadable" names a view that is not in "images"'):
        not_analysed(images, unreadable=["extension"])
    with pytest.raises(ValueError, match="nothing to report"):
        not_analysed(images, missing=[], unreadable=[])
    with pytest.raises(ValueError, match='"missing" must be a sequence'):
        not_analysed(images, missing="extension")
    with pytest.raises(TypeError, match='"model"'):
        CerviNotAnalysedReport(
            images,
            "model",
            missing=[],
            unreadable=["neutral"],
            result_version=1,
            content_datetime=NOW,
        )  # type: ignore[arg-type]


def test_types_the_pipeline_passes_are_the_inference_ones() -> None:
    assert isinstance(prediction(), StudyPrediction)
    assert isinstance(DEMO_MODEL, ModelIdentity)


def test_findings_carry_the_code_the_model_file_gives_each_label(
    images: dict[str, Dataset],
) -> None:
    default = prediction()
    assert default.labels[0].code == codes.LABELS[default.labels[0].key].value  # the default
    relabelled = tuple(
        dataclasses.replace(lab, code=f"SITE-{i}", meaning=f"Site finding {i}")
        for i, lab in enumerate(default.labels)
    )
    pred = dataclasses.replace(default, labels=relabelled)
    report = CerviImagingMeasurementReport.from_dataset(
        from_bytes(to_bytes(build(images, prediction=pred)))
    )
    found = read.label_evaluations(report)
    for i, lab in enumerate(relabelled):
        concept = found[lab.key].ConceptNameCodeSequence[0]
        assert (concept.CodeValue, concept.CodeMeaning) == (f"SITE-{i}", f"Site finding {i}")
        assert concept.CodingSchemeDesignator == OURS
    assert report.probabilities == pytest.approx(pred.probabilities, abs=1e-6)
