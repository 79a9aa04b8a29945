"""Adaptive ROI detection, the geometry around the ROI network (no torch: the service imports this).

The ROI network (``inference/roi_net.py``) sees the whole preprocessed radiograph letterboxed into a
small square and answers, in coordinates normalised to that square: the upper cervical region box
(occiput to C2 with margin), the six landmarks and the view. This module prepares its input, turns
its answer back into image coordinates, and cuts the classifier's crop centred on the detected
anatomy.

Point convention: ``(x, y)`` in pixel-centre coordinates (pixel ``i`` spans ``[i - 0.5, i + 0.5]``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from inference.labels import LANDMARKS, VIEWS
from inference.preprocess import PixelImage, resize


@dataclass(frozen=True)
class Geometry:
    """Input geometry shared by training, export and runtime; travels in the model metadata.

    ``spacing_mm``: preprocessed image spacing; ``roi_input``: side of the ROI network's square;
    ``crop_px``: side of the classifier crop at ``spacing_mm`` (so ``crop_px * spacing_mm`` mm).
    """

    spacing_mm: float = 0.75
    roi_input: int = 128
    crop_px: int = 128

    @property
    def crop_mm(self) -> float:
        return self.crop_px * self.spacing_mm

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Geometry:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Letterbox:
    """Where an image went in the ROI square: resized by ``scale_yx``, top-left aligned."""

    size: int
    scale_yx: tuple[float, float]  # image pixels per square pixel

    def to_image(self, normalised_xy: np.ndarray) -> np.ndarray:
        """Points normalised to the square ([0, 1] spans its full side) to image pixel centres."""
        pts = np.asarray(normalised_xy, dtype=np.float64) * self.size
        return np.stack(
            [pts[..., 0] * self.scale_yx[1] - 0.5, pts[..., 1] * self.scale_yx[0] - 0.5], axis=-1
        )

    def to_normalised(self, image_xy: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_image`."""
        pts = np.asarray(image_xy, dtype=np.float64)
        return np.stack(
            [(pts[..., 0] + 0.5) / self.scale_yx[1], (pts[..., 1] + 0.5) / self.scale_yx[0]],
            axis=-1,
        ) / float(self.size)


def letterbox(pixels: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """The image shrunk so its long side is ``size``, on a zero ``size`` x ``size`` square."""
    rows, cols = pixels.shape
    factor = max(rows, cols) / size
    shape = (max(1, min(size, round(rows / factor))), max(1, min(size, round(cols / factor))))
    square = np.zeros((size, size), np.float32)
    square[: shape[0], : shape[1]] = resize(pixels, shape)
    return square, Letterbox(size, (rows / shape[0], cols / shape[1]))


@dataclass(frozen=True)
class RoiDetection:
    """One view's detection in preprocessed-image pixels (see :class:`PixelImage` to map back)."""

    box_xyxy: np.ndarray  # (4,) x0, y0, x1, y1
    landmarks_xy: np.ndarray  # (len(LANDMARKS), 2)
    view_probabilities: dict[str, float]

    @property
    def view(self) -> str:
        return max(self.view_probabilities, key=self.view_probabilities.__getitem__)

    @property
    def centre_xy(self) -> np.ndarray:
        box = self.box_xyxy
        return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])

    def in_source(self, image: PixelImage) -> dict[str, object]:
        """Box and landmarks in source-image pixels (for the SR's SCOORD), rounded to 0.1 px."""
        corners = image.to_source(self.box_xyxy.reshape(2, 2)).reshape(4)
        points = image.to_source(self.landmarks_xy)
        return {
            "box": [round(float(v), 1) for v in corners],
            "landmarks": {
                name: [round(float(x), 1), round(float(y), 1)]
                for name, (x, y) in zip(LANDMARKS, points, strict=True)
            },
            "view": self.view,
            "view_probabilities": {k: round(v, 4) for k, v in self.view_probabilities.items()},
        }


def decode_roi(
    box: np.ndarray, landmarks: np.ndarray, view_logits: np.ndarray, where: Letterbox
) -> RoiDetection:
    """The ROI network's normalised outputs for one image as a :class:`RoiDetection`."""
    corners = where.to_image(np.asarray(box, dtype=np.float64).reshape(2, 2)).reshape(4)
    x0, x1 = sorted((corners[0], corners[2]))
    y0, y1 = sorted((corners[1], corners[3]))
    logits = np.asarray(view_logits, dtype=np.float64)
    exp = np.exp(logits - logits.max())
    probs = exp / exp.sum()
    return RoiDetection(
        box_xyxy=np.array([x0, y0, x1, y1]),
        landmarks_xy=where.to_image(landmarks),
        view_probabilities={v: float(p) for v, p in zip(VIEWS, probs, strict=True)},
    )


def crop_square(
    pixels: np.ndarray, centre_xy: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` crop centred on ``centre_xy`` (zero outside), and its origin (x, y).

    A point ``p`` of the image is at ``p - origin`` in the crop.
    """
    x0 = int(np.floor(centre_xy[0] - size / 2 + 0.5))
    y0 = int(np.floor(centre_xy[1] - size / 2 + 0.5))
    crop = np.zeros((size, size), np.float32)
    rows, cols = pixels.shape
    sy0, sy1 = max(y0, 0), min(y0 + size, rows)
    sx0, sx1 = max(x0, 0), min(x0 + size, cols)
    if sy1 > sy0 and sx1 > sx0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = pixels[sy0:sy1, sx0:sx1]
    return crop, np.array([x0, y0], dtype=np.float64)


@dataclass(frozen=True)
class CropFrame:
    """Where a classifier crop came from: its origin in the (possibly mirrored) image.

    Crops are mirrored so that the face is always on the right (hard palate anterior, to the right
    of the opisthion): the patient may face either way on the detector.
    """

    origin_xy: np.ndarray
    mirrored: bool
    image_width: int

    def to_image(self, crop_xy: np.ndarray) -> np.ndarray:
        """Crop pixel coordinates to image pixel coordinates."""
        pts = np.asarray(crop_xy, dtype=np.float64) + self.origin_xy
        if self.mirrored:
            pts = np.stack([self.image_width - 1 - pts[..., 0], pts[..., 1]], axis=-1)
        return pts

    def to_crop(self, image_xy: np.ndarray) -> np.ndarray:
        """Image pixel coordinates to crop pixel coordinates."""
        pts = np.asarray(image_xy, dtype=np.float64)
        if self.mirrored:
            pts = np.stack([self.image_width - 1 - pts[..., 0], pts[..., 1]], axis=-1)
        return pts - self.origin_xy


_PALATE = LANDMARKS.index("hard_palate")
_OPISTHION = LANDMARKS.index("opisthion")


def classifier_crop(
    pixels: np.ndarray, landmarks_xy: np.ndarray, size: int
) -> tuple[np.ndarray, CropFrame]:
    """The classifier's ``size`` square crop, centred on the landmarks' bounding box, face right.

    The crop adapts to the detected anatomy: its centre follows the landmarks (occiput, C1, dens,
    palate) and its orientation follows the face.
    """
    points = np.asarray(landmarks_xy, dtype=np.float64)
    mirrored = bool(points[_PALATE, 0] < points[_OPISTHION, 0])
    width = pixels.shape[1]
    if mirrored:
        pixels = pixels[:, ::-1]
        points = np.stack([width - 1 - points[:, 0], points[:, 1]], axis=-1)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    crop, origin = crop_square(pixels, centre, size)
    return crop, CropFrame(origin, mirrored, width)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def assign_views(view_probabilities: list[dict[str, float]]) -> list[str | None]:
    """Give each image a distinct view, maximising the joint log-probability of the view head.

    For the images of one study that no header rule named. With more images than views, the
    least likely ones get ``None``.
    """
    import itertools

    n = len(view_probabilities)
    best: tuple[float, tuple[str | None, ...]] = (-np.inf, (None,) * n)
    slots: list[str | None] = list(VIEWS) + [None] * max(0, n - len(VIEWS))
    for choice in set(itertools.permutations(slots, n)):
        score = sum(
            np.log(max(probs[v], 1e-9)) if v is not None else np.log(1e-6)
            for probs, v in zip(view_probabilities, choice, strict=True)
        )
        if score > best[0]:
            best = (score, choice)
    return list(best[1])
