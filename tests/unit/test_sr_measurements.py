"""What the SR shows a reader: per view its name and measurements (NUM in UCUM units, INFERRED
FROM the lines they are measured between), and once for the study the calls and the study
measurements, each group within what OHIF 3.13 draws (five lines, a drawable SCOORD)."""

from __future__ import annotations

import pytest
from pydicom import Dataset

from dicom_node import codes
from dicom_node.sr import read
from dicom_node.sr._measure import call_text
from inference.result import LabelPrediction
from tests.support.results import ADI_MM, from_bytes, ohif_problems, prediction, to_bytes
from tests.unit.test_sr import build


def _kind(group: Dataset) -> str:
    finding = read.finding_type(group)
    for name, code in (
        ("roi", codes.UPPER_CERVICAL_REGION),
        ("view", codes.VIEW_MEASUREMENTS),
        ("study", codes.STUDY_RESULTS),
    ):
        if finding is not None and read.is_(finding, code):
            return name
    return "?"


def _lines(group: Dataset) -> list[str]:
    """The label lines OHIF draws for a group: Comments, then NUMs (tests/viewer/sr_display)."""
    comments = [
        f"{c.TextValue}: "
        for c in read.children(group)
        if c.ValueType == "TEXT" and read.is_(c, codes.COMMENT)
    ]
    nums = [
        f"{c.ConceptNameCodeSequence[0].CodeMeaning}: {read.num_value(c):.2f} "
        f"{c.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue}"
        for c in read.children(group)
        if c.ValueType == "NUM"
    ]
    return comments + nums


def test_groups_per_view_and_once_for_the_study(images: dict[str, Dataset]) -> None:
    ds = from_bytes(to_bytes(build(images)))
    groups = read.measurement_groups(ds)
    kinds = [_kind(g) for g in groups]
    assert kinds == ["roi", "view", "study", "study", "roi", "view", "roi", "view"]
    assert ohif_problems(ds) == []
    for group in groups:
        shown = _lines(group)[:5]  # what OHIF draws
        if _kind(group) == "view":
            assert len(_lines(group)) == 4
        if _kind(group) == "study":  # three calls, then the values they rest on
            assert [("(thr " in line) for line in shown] == [True] * 3 + [False] * 2
    first, second = (g for g in groups if _kind(g) == "study")
    assert [line.split(":")[0] for line in _lines(first)[3:5]] == [
        "ADI change ext-flex",
        "Dens above Chamberlain",
    ]
    assert [line.split(":")[0] for line in _lines(second)[3:5]] == [
        "Occiput-C1 motion",
        "C2-C3 motion",
    ]
    # the first view's groups come first: OHIF opens the neutral view
    views = read.library_views(ds)
    assert views[read.box(groups[0])[0]] == "neutral"


def test_each_view_is_named_and_carries_its_measurements_in_ucum(
    images: dict[str, Dataset],
) -> None:
    ds = from_bytes(to_bytes(build(images)))
    views = read.library_views(ds)
    for group in (g for g in read.measurement_groups(ds) if _kind(g) == "view"):
        found = read.measurements(group)
        view = views[found[0][2]]
        texts = [str(c.TextValue) for c in read.children(group) if c.ValueType == "TEXT"]
        assert f"{view.upper()} view" in texts
        assert [key for key, *_ in found] == ["adi_mm", "occiput_c1_angle_deg", "c2_c3_angle_deg"]
        assert all(views[uid] == view for _, _, uid, _ in found)  # lines on this view's image
        units = {
            c.ConceptNameCodeSequence[0].CodeValue: (
                c.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0]
            )
            for c in read.children(group)
            if c.ValueType == "NUM"
        }
        assert (units["CERVI-ADI"].CodeValue, units["CERVI-ADI"].CodingSchemeDesignator) == (
            "mm",
            "UCUM",
        )
        assert units["CERVI-OC1A"].CodeValue == "deg"
        adi_line = found[0][3]
        assert len(adi_line) == 1 and len(adi_line[0]) == 4  # one line, two points
        occiput = found[1][3]
        assert len(occiput) == 2  # the foramen magnum line and the C1 line


def test_study_values_once_and_read_back(images: dict[str, Dataset]) -> None:
    report = build(images)
    values = report.measurements
    for view, adi in ADI_MM.items():
        assert values[f"adi_mm_{view}"] == pytest.approx(adi)
    assert values["adi_change_mm"] == pytest.approx(ADI_MM["flexion"] - ADI_MM["extension"])
    assert values["occiput_c1_motion_deg"] == pytest.approx(8.0)
    assert values["dens_above_chamberlain_mm"] == pytest.approx(1.7)
    # every study-level NUM exactly once in the document
    ds = from_bytes(to_bytes(report))
    study_keys = [
        key
        for g in read.measurement_groups(ds)
        for key, *_ in read.measurements(g)
        if not key.endswith(("adi_mm", "angle_deg"))
    ]
    assert sorted(study_keys) == sorted(set(study_keys)) and len(study_keys) == 7


def test_every_label_is_called_once_with_probability_and_threshold(
    images: dict[str, Dataset],
) -> None:
    report = build(images)
    calls = report.calls
    assert len(calls) == 6
    assert calls[0] == "AA instability PRESENT 91% (thr 50%)"
    assert "AA dislocation absent 4% (thr 50%)" in calls
    assert all(len(c) <= 44 for c in calls)  # the longest possible: 44 characters


def test_call_text_reads_as_a_call() -> None:
    assert call_text(LabelPrediction("basilar_invagination", 0.004, 0.12)) == (
        "Basilar invagination absent <1% (thr 12%)"
    )
    assert call_text(LabelPrediction("c2_c3_fusion", 0.54, 0.54)).endswith("PRESENT 54% (thr 54%)")


def test_without_measurements_the_calls_still_have_an_outline(
    images: dict[str, Dataset],
) -> None:
    ds = from_bytes(to_bytes(build(images, prediction=prediction(measured=False))))
    assert ohif_problems(ds) == []
    kinds = [_kind(g) for g in read.measurement_groups(ds)]
    assert kinds.count("view") == 0 and kinds.count("study") == 2
    assert len(build(images, prediction=prediction(measured=False)).calls) == 6
