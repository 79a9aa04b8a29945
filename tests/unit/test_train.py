"""inference.train: preparing studies, a tiny training run that lowers the loss, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inference._batches import classifier_batch  # noqa: E402
from inference.dataset import DatasetError, find_studies, prepare, prepare_cached  # noqa: E402
from inference.labels import LABELS, LANDMARKS  # noqa: E402
from inference.roi import Geometry  # noqa: E402
from inference.train import TrainConfig, load_checkpoint, split, train  # noqa: E402
from tests.unit.fake_studies import write_studies  # noqa: E402

GEOMETRY = Geometry(spacing_mm=1.0, roi_input=32, crop_px=32)


def test_prepare_maps_truth_into_the_crops(tmp_path: Path) -> None:
    write_studies(tmp_path, 2)
    records = find_studies(tmp_path)
    data = prepare(records, GEOMETRY, jitter=4)
    assert data.crops.shape == (2, 3, 40, 40) and data.mask.sum() == 6
    assert data.roi_images.shape == (6, 32, 32)
    # the ROI centre is the crop centre: landmark 1 (dens tip, at centre + (1, -1)) lands there
    # the crop is centred on the landmarks' bounding box, to half a pixel (origin is rounded)
    points = data.crop_landmarks[0, 0, : len(LANDMARKS)]
    np.testing.assert_allclose((points.min(0) + points.max(0)) / 2, [20, 20], atol=0.51)
    # measurement points keep their place relative to the landmarks; unknown ones are NaN
    marked = data.crop_landmarks[0, 0, len(LANDMARKS) :]
    np.testing.assert_allclose(marked[0] - points[1], [-4, 3], atol=1e-3)  # from the dens tip
    assert np.isnan(data.crop_landmarks[1, :, len(LANDMARKS) :]).all()
    _, _, _, targets, weights, *_ = classifier_batch(data, np.array([0, 1]), 32, None)
    assert torch.isfinite(targets).all()
    assert float(weights[1, :, len(LANDMARKS) :].sum()) == 0.0
    assert float(weights[0, :, len(LANDMARKS) :].sum()) > 0.0
    assert data.roi_boxes.min() >= 0 and data.roi_boxes.max() <= 1
    again = prepare_cached(tmp_path, GEOMETRY, jitter=4)
    cached = prepare_cached(tmp_path, GEOMETRY, jitter=4)
    np.testing.assert_array_equal(again.crops, cached.crops)


def test_a_study_without_mapping_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "truth.json").write_text('{"labels": {}}')
    with pytest.raises(DatasetError, match="mapping"):
        find_studies(tmp_path)


def test_split_is_reproducible_and_disjoint() -> None:
    a, b = split(20, 0.25, seed=3)
    assert len(b) == 5 and not set(a) & set(b)
    np.testing.assert_array_equal(split(20, 0.25, seed=3)[1], b)


def test_tiny_training_run_lowers_the_loss_and_saves_checkpoints(tmp_path: Path) -> None:
    write_studies(tmp_path / "data", 24, seed=1)
    config = TrainConfig(
        geometry=GEOMETRY,
        roi_epochs=2,
        epochs=8,
        batch_size=8,
        lr=5e-3,
        width=4,
        embed=8,
        roi_width=4,
        jitter=4,
        threads=1,
        val_fraction=0.25,
        patience=8,
    )
    lines: list[str] = []
    summary = train(tmp_path / "data", tmp_path / "run", config, log=lines.append)
    losses = [h["train_loss"] for h in summary["history"]]
    assert losses[-1] < losses[0]
    assert any("val mean AUC" in line for line in lines)
    net, checkpoint = load_checkpoint(tmp_path / "run" / "classifier.pt")
    assert checkpoint["labels"] == list(LABELS)
    views = torch.zeros(1, 3, 1, 32, 32)
    assert net(views, torch.ones(1, 3))[0].shape == (1, len(LABELS))
    # the label that varies (LABELS[0]) got a Platt scaling fitted on validation, and the
    # checkpoint carries it
    scale, bias = checkpoint["state"]["calibration"][:, 0].tolist()
    assert scale > 0 and (scale, bias) != (1.0, 0.0)
    assert any(line.startswith("calibration") for line in lines)
    roi, _ = load_checkpoint(tmp_path / "run" / "roi.pt")
    assert roi(torch.zeros(1, 1, 32, 32))[0].shape == (1, 4)


def test_measurement_targets_are_scaled_and_masked(tmp_path: Path) -> None:
    from inference.dataset import load_study, measurement_targets
    from inference.labels import measurement_names

    write_studies(tmp_path, 1)
    truth_file = tmp_path / "study000" / "truth.json"
    import json

    truth = json.loads(truth_file.read_text())
    truth["measurements"] = {"adi_flexion_mm": 4.0, "ossicle_gap_mm": 2.5}
    truth_file.write_text(json.dumps(truth))
    values, present = measurement_targets(load_study(tmp_path / "study000"))
    names = measurement_names()
    assert present.sum() == 2
    assert values[names.index("adi_mm_flexion")] == pytest.approx(4.0 / 5.0)
    assert values[names.index("ossicle_gap_mm")] == pytest.approx(2.5 / 5.0)
