"""CerviHFENet and the ROI network: shapes, missing-view masking, measurements."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from inference.labels import CROP_POINTS, LABELS, LANDMARKS, VIEWS  # noqa: E402
from inference.model import (  # noqa: E402
    GEOMETRY_FEATURES,
    READER_FEATURES,
    CerviHFENet,
    _motion_range,
    geometry_features,
    reader_measurements,
)
from inference.roi_net import RoiNet  # noqa: E402

CROP = 64


def _net() -> CerviHFENet:
    torch.manual_seed(0)
    return CerviHFENet(crop_mm=CROP * 0.5, width=8, embed=16).eval()


def test_classifier_shapes() -> None:
    with torch.no_grad():
        logits, landmarks, measurements = _net()(torch.rand(2, 3, 1, CROP, CROP), torch.ones(2, 3))
    assert logits.shape == (2, len(LABELS))
    assert landmarks.shape == (2, len(VIEWS), len(CROP_POINTS), 2)
    assert CROP_POINTS[: len(LANDMARKS)] == LANDMARKS
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


INDEX = {name: i for i, name in enumerate(CROP_POINTS)}


def test_geometry_features_measure_in_mm() -> None:
    points = torch.zeros(1, len(CROP_POINTS), 2)
    points[0, INDEX["hard_palate"]] = torch.tensor([0.0, 0.0])
    points[0, INDEX["opisthion"]] = torch.tensor([100.0, 0.0])
    points[0, INDEX["dens_tip"]] = torch.tensor([50.0, -5.0])  # 5 mm above the line (y down)
    features = geometry_features(points)
    assert features.shape == (1, GEOMETRY_FEATURES)
    chamberlain = features[0, -2 - READER_FEATURES] * 10
    assert abs(float(chamberlain)) == pytest.approx(5.0, abs=1e-3)


def _reader_points(occ_c1_deg: float, c2_c3_deg: float, disc_mm: float) -> torch.Tensor:
    """Points whose occiput-C1 and C2-C3 angles and C2-C3 disc height are the given ones."""
    import math

    def towards(deg: float, length: float) -> torch.Tensor:
        rad = math.radians(deg)
        return torch.tensor([length * math.cos(rad), length * math.sin(rad)])

    points = torch.zeros(1, len(CROP_POINTS), 2)
    points[0, INDEX["opisthion"]] = torch.tensor([-35.0, 0.0])
    points[0, INDEX["basion"]] = torch.tensor([0.0, 0.0])
    points[0, INDEX["c1_posterior_tubercle"]] = torch.tensor([-40.0, 20.0])
    points[0, INDEX["c1_anterior_arch"]] = points[0, INDEX["c1_posterior_tubercle"]] + towards(
        -occ_c1_deg, 45.0
    )
    points[0, INDEX["c3_superior_posterior"]] = torch.tensor([-8.0, 40.0])
    points[0, INDEX["c3_superior_anterior"]] = torch.tensor([8.0, 40.0])
    back = torch.tensor([-8.0, 40.0 - disc_mm]) - towards(c2_c3_deg, 8.0)
    points[0, INDEX["c2_inferior_posterior"]] = back
    points[0, INDEX["c2_inferior_anterior"]] = back + towards(c2_c3_deg, 16.0)
    return points


@pytest.mark.parametrize(("occ_c1", "c2_c3", "disc"), [(0.0, 0.0, 3.0), (12.0, -7.0, 0.5)])
def test_reader_measurements_are_the_readers_angles_and_disc_height(
    occ_c1: float, c2_c3: float, disc: float
) -> None:
    measured = reader_measurements(_reader_points(occ_c1, c2_c3, disc))[0]
    assert float(measured[0]) == pytest.approx(occ_c1, abs=1e-3)
    assert float(measured[1]) == pytest.approx(c2_c3, abs=1e-3)
    assert float(measured[2]) == pytest.approx(disc, abs=1e-3)


def test_motion_range_counts_only_the_views_present() -> None:
    angles = torch.tensor([[[1.0, -2.0], [4.0, 5.0], [30.0, 0.0]]])  # (1, views, 2 angles)
    both = _motion_range(angles, torch.tensor([[1.0, 1.0, 0.0]]))
    torch.testing.assert_close(both, torch.tensor([[3.0, 7.0]]))
    every = _motion_range(angles, torch.ones(1, 3))
    torch.testing.assert_close(every, torch.tensor([[29.0, 7.0]]))
    single = _motion_range(angles, torch.tensor([[0.0, 1.0, 0.0]]))
    torch.testing.assert_close(single, torch.zeros(1, 2))


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


def test_reader_measurements_have_finite_gradients_for_perpendicular_lines() -> None:
    """A badly placed point can make the two lines perpendicular: the angle's gradient must stay
    finite there (asin's derivative is infinite at +-1), or one training step gives NaN."""
    points = _reader_points(0.0, 0.0, 3.0)
    points[0, INDEX["c1_anterior_arch"]] = points[0, INDEX["c1_posterior_tubercle"]] + torch.tensor(
        [0.0, 45.0]
    )
    points.requires_grad_(True)
    reader_measurements(points)[0, 0].backward()
    assert points.grad is not None and torch.isfinite(points.grad).all()
