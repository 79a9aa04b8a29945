"""inference.runtime: loading exported files, one study through ROI + classifier, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

torch = pytest.importorskip("torch")

from inference.export import ExportInfo, export_classifier, export_roi  # noqa: E402
from inference.labels import LABELS, LANDMARKS, VIEWS  # noqa: E402
from inference.model import CerviHFENet  # noqa: E402
from inference.result import UnreadableImage  # noqa: E402
from inference.roi import Geometry  # noqa: E402
from inference.roi_net import RoiNet  # noqa: E402
from inference.runtime import CerviRuntime, ModelFileError  # noqa: E402
from tests.unit.fake_studies import write_studies  # noqa: E402

GEOMETRY = Geometry(spacing_mm=1.0, roi_input=32, crop_px=32)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    info = ExportInfo(version="0.0.1", geometry=GEOMETRY, labels=LABELS, thresholds={})
    classifier = export_classifier(
        CerviHFENet(GEOMETRY.crop_mm, LABELS, 4, 8), folder / "c.onnx", info
    )
    roi = export_roi(RoiNet(4, GEOMETRY.roi_input), folder / "r.onnx", info)
    return classifier, roi


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pydicom.Dataset]:
    root = tmp_path_factory.mktemp("studies")
    write_studies(root, 1)
    return {v: pydicom.dcmread(root / "study000" / f"{v}.dcm") for v in VIEWS}


def test_a_full_study(models: tuple[Path, Path], study: dict[str, pydicom.Dataset]) -> None:
    runtime = CerviRuntime(*models, threads=1)
    assert runtime.labels == LABELS and runtime.geometry == GEOMETRY
    result = runtime.analyse_datasets(study)
    assert result.views_used == VIEWS
    assert set(result.probabilities) == set(LABELS)
    # each label carries the code its model file gives it (cervi.codes)
    assert [(lab.code, lab.meaning) for lab in result.labels] == [
        (runtime.model.codes[k]["value"], runtime.model.codes[k]["meaning"]) for k in LABELS
    ]
    assert all(0.0 <= p <= 1.0 for p in result.probabilities.values())
    roi = result.regions["neutral"]
    assert len(roi.box) == 4 and set(roi.landmarks) == set(LANDMARKS)
    as_json = result.to_json("1.2.3")
    assert as_json["study_uid"] == "1.2.3" and as_json["views_used"] == list(VIEWS)


def test_shifted_crops_average_the_probabilities_and_keep_the_landmarks(
    models: tuple[Path, Path], study: dict[str, pydicom.Dataset]
) -> None:
    single = CerviRuntime(*models, threads=1, shift_px=0)
    shifted = CerviRuntime(*models, threads=1, shift_px=2)
    assert len(single.shifts) == 1 and len(shifted.shifts) == 5
    one, five = single.analyse_datasets(study), shifted.analyse_datasets(study)
    assert one.regions == five.regions  # landmarks come from the unshifted crop
    assert one.probabilities != five.probabilities
    assert all(0.0 <= p <= 1.0 for p in five.probabilities.values())


def test_missing_view_is_masked_and_reported(
    models: tuple[Path, Path], study: dict[str, pydicom.Dataset]
) -> None:
    runtime = CerviRuntime(*models, threads=1)
    partial = runtime.analyse_datasets({"neutral": study["neutral"], "flexion": study["flexion"]})
    assert partial.views_used == ("neutral", "flexion")
    assert set(partial.regions) == {"neutral", "flexion"}
    full = runtime.analyse_datasets(study)
    assert partial.probabilities != full.probabilities


def test_unreadable_view_is_named(
    models: tuple[Path, Path], study: dict[str, pydicom.Dataset]
) -> None:
    broken = study["flexion"].copy()
    del broken.PixelData
    with pytest.raises(UnreadableImage, match="^flexion") as raised:
        CerviRuntime(*models, threads=1).analyse_datasets({**study, "flexion": broken})
    assert raised.value.view == "flexion"


def test_swapped_or_missing_model_files_are_refused(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    classifier, roi = models
    with pytest.raises(ModelFileError, match="not a Cervi classifier"):
        CerviRuntime(roi, classifier)
    with pytest.raises(ModelFileError, match="not found"):
        CerviRuntime(tmp_path / "none.onnx", roi)


def test_runtime_and_preprocess_do_not_import_torch() -> None:
    code = (
        "import sys, inference.runtime, inference.preprocess, inference.roi; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_detect_boxes_lie_in_the_image(
    models: tuple[Path, Path], study: dict[str, pydicom.Dataset]
) -> None:
    runtime = CerviRuntime(*models, threads=1)
    image = runtime.preprocess(study["neutral"])
    (detection,) = runtime.detect([image])
    assert detection.view in VIEWS
    rows, cols = image.pixels.shape
    assert np.all(detection.box_xyxy >= -0.5) and detection.box_xyxy[2] <= max(rows, cols)
