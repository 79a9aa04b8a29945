"""The key image: Secondary Capture with the ROI and findings burned in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import Dataset

from dicom_node.sr import _render
from dicom_node.sr.key_image import CerviKeyImage, finding_lines, key_image_uids
from tests.conftest import require_tool
from tests.support.results import (
    CLINICAL_MODEL,
    NOW,
    dciodvfy_findings,
    from_bytes,
    prediction,
    study_images,
    to_bytes,
)

BOXES = {view: (60.0, 70.0, 180.0, 200.0) for view in ("extension", "neutral", "flexion")}


@pytest.fixture
def neutral() -> Dataset:
    return study_images(size=256)["neutral"]


def build(image: Dataset, **kwargs: object) -> CerviKeyImage:
    pred = kwargs.pop("prediction", prediction(boxes=BOXES))
    args: dict[str, object] = {"result_version": 1, "content_datetime": NOW, **kwargs}
    return CerviKeyImage(pred, image, **args)  # type: ignore[arg-type]


def reddish(pixels: np.ndarray) -> int:
    """How many pixels are clearly red (the warning's anti-aliased text)."""
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return int(((r > 180) & (g < 140) & (b < 140) & (r - g > 80)).sum())


def test_round_trip_through_bytes(neutral: Dataset) -> None:
    back = CerviKeyImage.from_dataset(from_bytes(to_bytes(build(neutral))))
    assert back.source_sop_instance_uid == neutral.SOPInstanceUID
    assert back.result_version == 1
    assert back.for_diagnostic_use is False
    assert back.StudyInstanceUID == neutral.StudyInstanceUID
    assert back.PatientID == neutral.PatientID
    assert back.BurnedInAnnotation == "YES"
    assert back.SeriesDescription.startswith("NOT FOR DX - ")  # OHIF's thumbnail shows ~22
    assert (back.SeriesInstanceUID, back.SOPInstanceUID) == key_image_uids(
        neutral.StudyInstanceUID, prediction().model.sha256, 1
    )
    assert back.pixel_array.shape == (256, 256, 3)
    other = from_bytes(to_bytes(build(neutral)))
    other.ImageComments = "made elsewhere"
    with pytest.raises(ValueError, match="Cervi key image"):
        CerviKeyImage.from_dataset(other)


def test_roi_and_warning_are_burned_in(neutral: Dataset) -> None:
    pixels = build(neutral).pixel_array
    x0, y0, x1, y1 = (int(v) for v in BOXES["neutral"])
    assert tuple(pixels[(y0 + y1) // 2, x0]) == _render.ROI_COLOUR
    assert tuple(pixels[y1, (x0 + x1) // 2]) == _render.ROI_COLOUR
    assert reddish(pixels) > 20
    clinical = build(neutral, prediction=prediction(model=CLINICAL_MODEL, boxes=BOXES))
    assert reddish(clinical.pixel_array) == 0
    assert clinical.for_diagnostic_use is True
    assert clinical.SeriesDescription == "Cervi AI key image"


def test_findings_are_listed_by_probability() -> None:
    lines = finding_lines(prediction())
    assert lines[0] == "CerviHFENet 0.1.0"
    assert lines[1] == "Atlantoaxial instability: 91% PRESENT"
    assert lines[-1] == "Atlantoaxial dislocation: 4% absent"


def test_same_input_same_bytes_new_version_new_uids(neutral: Dataset) -> None:
    assert to_bytes(build(neutral)) == to_bytes(build(neutral))
    v2 = build(neutral, result_version=2)
    assert v2.result_version == 2 and v2.SOPInstanceUID != build(neutral).SOPInstanceUID
    assert v2.SeriesInstanceUID == build(neutral).SeriesInstanceUID


def test_large_sources_are_scaled_down(neutral: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_render, "MAX_SIDE", 128)
    pixels = build(neutral).pixel_array
    assert pixels.shape == (128, 128, 3)
    assert tuple(pixels[(35 + 100) // 2, 30]) == _render.ROI_COLOUR  # box halved


def test_monochrome1_is_inverted(neutral: Dataset) -> None:
    normal = _render.display_values(neutral)
    neutral.PhotometricInterpretation = "MONOCHROME1"
    assert np.array_equal(_render.display_values(neutral), 255 - normal)


@pytest.mark.parametrize("orientation", [True, False])
def test_dciodvfy_reports_no_errors_or_warnings(
    neutral: Dataset, tmp_path: Path, orientation: bool
) -> None:
    tool = require_tool("dciodvfy")
    if orientation:
        neutral.PatientOrientation = ["A", "F"]
    path = tmp_path / "key.dcm"
    path.write_bytes(to_bytes(build(neutral)))
    errors, warnings = dciodvfy_findings(tool, str(path))
    assert errors == []
    assert warnings == []


def test_bad_arguments_are_named(neutral: Dataset) -> None:
    with pytest.raises(TypeError, match='"prediction"'):
        build(neutral, prediction=None)
    with pytest.raises(ValueError, match='no region for the "flexion" view'):
        build(neutral, view="flexion", prediction=prediction(boxes={"neutral": BOXES["neutral"]}))
    del neutral.PixelData
    with pytest.raises(ValueError, match='"image" must carry its pixel data'):
        build(neutral)
    with pytest.raises(ValueError, match='"result_version"'):
        build(neutral, result_version=0)


def test_text_panel_avoids_the_roi() -> None:
    panel = (100.0, 60.0)
    assert _render._corner((400, 300), panel, [10, 10, 80, 50]) == (300.0, 0.0)
    assert _render._corner((400, 300), panel, [0, 0, 400, 100]) == (0.0, 240.0)
    assert _render._corner((400, 300), panel, [150, 100, 250, 200]) == (0.0, 0.0)
