"""Phantom DICOM: every vendor style passes dciodvfy without errors, names its views the way
it says (or not at all), and lays the views out in one series or three."""

from __future__ import annotations

import os
import shutil
import subprocess

import pydicom
import pytest

from inference.labels import VIEWS
from inference.phantom import STYLE_NAMES, STYLES, SynthOptions, generate_study, write_study
from inference.phantom.styles import ENGLISH, GERMAN, VIEW_FIELDS

FLEXION, EXTENSION = "9964006", "24154002"
ALL_SPELLINGS = {s.lower() for spell in (ENGLISH, GERMAN) for v in spell.values() for s in v}


def _dciodvfy() -> str | None:
    tool = shutil.which("dciodvfy")
    if tool is None and os.environ.get("CI"):
        pytest.fail("dciodvfy (dicom3tools) is required when CI is set")
    if tool is None:
        pytest.skip("dciodvfy not installed")
    return tool


@pytest.fixture(scope="module", params=STYLE_NAMES)
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    style = request.param
    study = generate_study(31, STYLE_NAMES.index(style), SynthOptions(scale=0.12, styles=(style,)))
    folder = write_study(study, tmp_path_factory.mktemp(style))
    datasets = {v: pydicom.dcmread(folder / study.truth["files"][v]) for v in VIEWS}
    return style, folder, study, datasets


def test_styles_cover_the_conventions_design_lists() -> None:
    styles = list(STYLES.values())
    assert len(STYLE_NAMES) >= 6
    assert any(s.view_codes for s in styles)
    assert {s.view_field for s in styles} >= set(VIEW_FIELDS)
    assert {s.modality for s in styles} == {"DX", "CR"}
    assert {s.series_per_view for s in styles} == {True, False}
    assert any(s.view_field is None and not s.view_codes for s in styles)
    assert any(s.spellings is GERMAN for s in styles) and any(
        s.spellings is ENGLISH for s in styles
    )


def test_dciodvfy_reports_no_errors(written) -> None:
    tool = _dciodvfy()
    style, folder, study, _ = written
    for name in study.files:
        out = subprocess.run([tool, str(folder / name)], capture_output=True, text=True)
        report = out.stdout + out.stderr
        errors = [line for line in report.splitlines() if line.startswith("Error")]
        assert not errors, f"{style}/{name}: {errors}"


def test_views_are_named_as_the_style_says(written) -> None:
    style_name, _, study, datasets = written
    style = STYLES[style_name]
    for view, ds in datasets.items():
        assert ds.BodyPartExamined == "CSPINE"
        assert ds.Modality == style.modality
        assert ds.StudyInstanceUID == study.truth["study_uid"]
        if style.view_codes:
            modifiers = ds.ViewCodeSequence[0].ViewModifierCodeSequence
            codes = {item.CodeValue for item in modifiers}
            expected = {"flexion": {FLEXION}, "extension": {EXTENSION}, "neutral": set()}[view]
            assert codes == expected
        if style.view_field:
            text = str(ds.get(style.view_field, "")).lower()
            assert any(s.lower() in text for s in style.spellings[view]), (view, text)
            others = [s.lower() for v, sp in style.spellings.items() if v != view for s in sp]
            assert not any(f" {o}" in f" {text}" for o in others if o not in ("lat",)), text
        if style.view_field is None and not style.view_codes:
            values = " ".join(str(ds.get(f, "")) for f in VIEW_FIELDS).lower()
            assert not any(s in values.split() for s in ALL_SPELLINGS)
            # not even "lateral": bare lateral spellings are how sites name the neutral view
            assert "ViewCodeSequence" not in ds and "ViewPosition" not in ds


def test_series_layout(written) -> None:
    style_name, _, _, datasets = written
    series = {ds.SeriesInstanceUID for ds in datasets.values()}
    assert len(series) == (3 if STYLES[style_name].series_per_view else 1)
    assert len({ds.SOPInstanceUID for ds in datasets.values()}) == 3
    assert sorted(ds.InstanceNumber for ds in datasets.values()) == [1, 2, 3]


def test_pixel_spacing_and_identity(written) -> None:
    _, _, study, datasets = written
    for ds in datasets.values():
        assert float(ds.ImagerPixelSpacing[0]) == pytest.approx(
            study.truth["image"]["imager_pixel_spacing_mm"]
        )
        if "PixelSpacing" in ds:
            assert float(ds.PixelSpacing[0]) < float(ds.ImagerPixelSpacing[0])
        assert ds.PatientID.startswith("PH") and "^" in str(ds.PatientName)
