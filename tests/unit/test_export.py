"""inference.export: torch and onnxruntime agree to 1e-4; the files carry their metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from inference.export import OPSET, ExportInfo, export_classifier, export_roi, parity  # noqa: E402
from inference.labels import LABELS  # noqa: E402
from inference.model import CerviHFENet  # noqa: E402
from inference.roi import Geometry  # noqa: E402
from inference.roi_net import RoiNet  # noqa: E402

GEOMETRY = Geometry(spacing_mm=0.5, roi_input=64, crop_px=64)


def _info() -> ExportInfo:
    return ExportInfo(
        version="0.0.1",
        geometry=GEOMETRY,
        labels=LABELS,
        thresholds={LABELS[0]: 0.3},
        recipe="cervi train --data d",
        data_seed=7,
        metrics={"mean_auc": 0.5},
    )


def _randomise_batchnorm(net: torch.nn.Module) -> None:
    """Untrained BatchNorm is the identity; give it statistics so that parity means something."""
    gen = torch.Generator().manual_seed(1)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2, generator=gen)
            module.running_var.uniform_(0.5, 1.5, generator=gen)


def test_classifier_parity_and_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = CerviHFENet(GEOMETRY.crop_mm, LABELS, width=8, embed=16)
    _randomise_batchnorm(net)
    path = export_classifier(net, tmp_path / "c.onnx", _info())
    rng = np.random.default_rng(0)
    views = rng.random((3, 3, 1, 64, 64), dtype=np.float32)
    mask = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 0]], np.float32)
    assert parity(net, path, {"views": views, "mask": mask}) < 1e-4
    model = onnx.load(str(path))
    assert model.opset_import[0].version >= OPSET
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["cervi.kind"] == "classifier"
    assert json.loads(meta["cervi.labels"]) == list(LABELS)
    assert json.loads(meta["cervi.thresholds"])[LABELS[0]] == 0.3
    assert json.loads(meta["cervi.codes"])[LABELS[0]]["scheme"] == "99CERVI"
    assert Geometry.from_json(meta["cervi.geometry"]) == GEOMETRY
    assert meta["cervi.data_seed"] == "7" and "diagnostic" in meta["cervi.intended_use"]


def test_roi_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = RoiNet(width=8, input_size=64)
    _randomise_batchnorm(net)
    path = export_roi(net, tmp_path / "r.onnx", _info())
    image = np.random.default_rng(1).random((2, 1, 64, 64), dtype=np.float32)
    assert parity(net, path, {"image": image}) < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["cervi.kind"] == "roi"
