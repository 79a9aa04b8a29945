"""inference.roi: letterbox mapping, decoding the ROI network, crops, IoU."""

from __future__ import annotations

import numpy as np
import pytest

from inference.labels import LANDMARKS
from inference.roi import Geometry, box_iou, crop_square, decode_roi, letterbox


def test_letterbox_keeps_aspect_and_maps_points_back() -> None:
    image = np.zeros((300, 200), np.float32)
    image[100:110, 50:60] = 1.0
    square, where = letterbox(image, 64)
    assert square.shape == (64, 64)
    assert square[:, 45:].max() == 0.0  # right of the image stays empty
    ys, xs = np.nonzero(square > 0.2)
    centre = where.to_image(where.to_normalised(np.array([54.5, 104.5])))
    np.testing.assert_allclose(centre, [54.5, 104.5])
    found = where.to_image(np.array([(xs.mean() + 0.5) / 64, (ys.mean() + 0.5) / 64]))
    np.testing.assert_allclose(found, [54.5, 104.5], atol=3)


def test_decode_roi_orders_corners_and_softmaxes_the_view() -> None:
    _, where = letterbox(np.ones((128, 128), np.float32), 64)
    landmarks = np.full((len(LANDMARKS), 2), 0.5)
    detection = decode_roi(np.array([0.75, 0.5, 0.25, 0.25]), landmarks, np.array([0, 3, 0]), where)
    assert detection.box_xyxy[0] < detection.box_xyxy[2]
    assert detection.box_xyxy[1] < detection.box_xyxy[3]
    assert detection.view == "neutral"
    assert sum(detection.view_probabilities.values()) == pytest.approx(1.0)
    np.testing.assert_allclose(detection.landmarks_xy[0], [63.5, 63.5])


def test_crop_square_pads_outside_and_reports_origin() -> None:
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    crop, origin = crop_square(image, np.array([1.0, 1.0]), 6)
    assert crop.shape == (6, 6)
    np.testing.assert_array_equal(origin, [-2, -2])
    assert crop[0, 0] == 0.0
    assert crop[2, 2] == image[0, 0] and crop[5, 5] == image[3, 3]


def test_box_iou() -> None:
    a = np.array([0, 0, 10, 10])
    assert box_iou(a, a) == pytest.approx(1.0)
    assert box_iou(a, np.array([5, 0, 15, 10])) == pytest.approx(1 / 3)
    assert box_iou(a, np.array([20, 20, 30, 30])) == 0.0


def test_geometry_round_trips_through_json() -> None:
    geometry = Geometry(spacing_mm=0.4, roi_input=96, crop_px=112)
    assert Geometry.from_json(geometry.to_json()) == geometry
    assert geometry.crop_mm == pytest.approx(44.8)


def test_assign_views_is_a_joint_assignment() -> None:
    from inference.roi import assign_views

    # both images look most like neutral; the second is the better neutral
    probs = [
        {"extension": 0.4, "neutral": 0.5, "flexion": 0.1},
        {"extension": 0.05, "neutral": 0.9, "flexion": 0.05},
    ]
    assert assign_views(probs) == ["extension", "neutral"]
    many = [{"extension": 1 / 3, "neutral": 1 / 3, "flexion": 1 / 3}] * 4
    assert sorted(v or "" for v in assign_views(many)) == ["", "extension", "flexion", "neutral"]


def test_classifier_crop_mirrors_a_left_facing_patient() -> None:
    from inference.roi import classifier_crop

    image = np.zeros((100, 120), np.float32)
    points = np.array([[60, 50], [55, 45], [55, 55], [50, 40], [30, 50], [90, 45]], float)
    image[45, 90] = 1.0  # the hard palate, anterior, to the right: facing right
    crop, frame = classifier_crop(image, points, 80)
    assert not frame.mirrored
    np.testing.assert_allclose(frame.to_image(frame.to_crop(points)), points)
    mirrored_points = points.copy()
    mirrored_points[:, 0] = 119 - points[:, 0]
    crop2, frame2 = classifier_crop(image[:, ::-1].copy(), mirrored_points, 80)
    assert frame2.mirrored
    np.testing.assert_array_equal(crop, crop2)  # same crop: the face is always on the right
    palate = frame2.to_crop(mirrored_points[5])
    assert crop2[int(palate[1]), int(palate[0])] == 1.0
    np.testing.assert_allclose(frame2.to_image(palate), mirrored_points[5])
