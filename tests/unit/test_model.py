"""CerviHFENet and the ROI network: shapes, missing-view masking, measurements."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from inference.labels import LABELS, LANDMARKS, VIEWS  # noqa: E402
from inference.model import GEOMETRY_FEATURES, CerviHFENet, geometry_features  # noqa: E402
from inference.roi_net import RoiNet  # noqa: E402

CROP = 64


def _net() -> CerviHFENet:
    torch.manual_seed(0)
    return CerviHFENet(crop_mm=CROP * 0.5, width=8, embed=16).eval()


def test_classifier_shapes() -> None:
    with torch.no_grad():
        logits, landmarks, measurements = _net()(torch.rand(2, 3, 1, CROP, CROP), torch.ones(2, 3))
    assert logits.shape == (2, len(LABELS))
    assert landmarks.shape == (2, len(VIEWS), len(LANDMARKS), 2)
    assert float(landmarks.min()) >= 0.0 and float(landmarks.max()) <= 1.0


def test_a_masked_view_does_not_change_the_result() -> None:
    net = _net()
    views = torch.rand(1, 3, 1, CROP, CROP)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    other = views.clone()
    other[:, 2] = torch.rand(1, 1, CROP, CROP) * 5
    with torch.no_grad():
        a, *_ = net(views, mask)
        b, *_ = net(other, mask)
        c, *_ = net(other, torch.ones(1, 3))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_view_order_matters_to_the_dynamic_branch() -> None:
    net = _net()
    views = torch.rand(1, 3, 1, CROP, CROP)
    with torch.no_grad():
        forward, *_ = net(views, torch.ones(1, 3))
        backward, *_ = net(views.flip(1), torch.ones(1, 3))
    assert not torch.allclose(forward, backward)


def test_geometry_features_measure_in_mm() -> None:
    points = torch.zeros(1, len(LANDMARKS), 2)
    index = {name: i for i, name in enumerate(LANDMARKS)}
    points[0, index["hard_palate"]] = torch.tensor([0.0, 0.0])
    points[0, index["opisthion"]] = torch.tensor([100.0, 0.0])
    points[0, index["dens_tip"]] = torch.tensor([50.0, -5.0])  # 5 mm above the line (y down)
    features = geometry_features(points)
    assert features.shape == (1, GEOMETRY_FEATURES)
    chamberlain = features[0, -2] * 10
    assert abs(float(chamberlain)) == pytest.approx(5.0, abs=1e-3)


def test_roi_net_shapes_and_ranges() -> None:
    torch.manual_seed(0)
    net = RoiNet(width=8, input_size=64).eval()
    with torch.no_grad():
        box, landmarks, view_logits = net(torch.rand(3, 1, 64, 64))
    assert box.shape == (3, 4) and landmarks.shape == (3, len(LANDMARKS), 2)
    assert view_logits.shape == (3, len(VIEWS))
    assert float(box.min()) >= 0.0 and float(box.max()) <= 1.0
    with pytest.raises(ValueError, match="input_size"):
        RoiNet(input_size=100)
