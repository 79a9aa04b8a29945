"""Pixels for the key image (private to ``dicom_node.sr.key_image``): the source radiograph as
8-bit display values, with the ROI and the findings burned in by Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

MAX_SIDE = 2048  # a key image is for looking, not measuring: larger sources are scaled down
ROI_COLOUR = (255, 210, 0)
TEXT_COLOUR = (255, 255, 255)
WARNING_COLOUR = (255, 80, 80)


def display_values(image: Dataset) -> np.ndarray:
    """The image as uint8 display values (modality and VOI LUT, else a 1-99 % window;
    MONOCHROME1 inverted)."""
    pixels = apply_modality_lut(image.pixel_array, image)
    if "WindowCenter" in image or "VOILUTSequence" in image:
        pixels = apply_voi_lut(pixels, image)
    pixels = pixels.astype(np.float32)
    step = max(1, max(pixels.shape) // 512)  # the window from a 512-ish grid is as good
    low, high = np.percentile(pixels[::step, ::step], (1.0, 99.0))
    scaled = np.clip((pixels - low) * np.float32(1.0 / max(high - low, 1e-9)), 0.0, 1.0)
    if image.get("PhotometricInterpretation") == "MONOCHROME1":
        scaled = 1.0 - scaled
    return np.round(scaled * np.float32(255.0)).astype(np.uint8)


def burn_in(
    grey: np.ndarray,
    box: tuple[float, float, float, float],
    lines: list[str],
    warning: str | None,
) -> np.ndarray:
    """An RGB uint8 array: ``grey`` scaled to at most ``MAX_SIDE``, the ROI ``box`` (source
    pixels) outlined, ``warning`` and ``lines`` written on a dark panel in the corner that
    hides least of the ROI."""
    picture = Image.fromarray(grey, mode="L").convert("RGB")
    scale = min(1.0, MAX_SIDE / max(picture.size))
    if scale < 1.0:
        size = (round(picture.width * scale), round(picture.height * scale))
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    roi = [v * scale for v in box]
    font = ImageFont.load_default(size=max(10, round(max(picture.size) / 45)))
    texts = ([(warning, WARNING_COLOUR)] if warning else []) + [(t, TEXT_COLOUR) for t in lines]
    step = round(font.size * 1.3)
    margin = max(4, step // 3)
    size = (
        max(draw.textlength(text, font=font) for text, _ in texts) + 2 * margin,
        step * len(texts) + 2 * margin,
    )
    x, y = _corner(picture.size, size, roi)
    draw.rectangle([x, y, x + size[0], y + size[1]], fill=(0, 0, 0))
    for i, (text, colour) in enumerate(texts):
        draw.text((x + margin, y + margin + i * step), text, fill=colour, font=font)
    width = max(2, round(max(picture.size) / 300))
    draw.rectangle(roi, outline=ROI_COLOUR, width=width)  # last: the ROI is never hidden
    return np.asarray(picture, dtype=np.uint8)


def _corner(
    image: tuple[int, int], panel: tuple[float, float], roi: list[float]
) -> tuple[float, float]:
    """The image corner where the text panel covers least of the ROI (top-left on ties)."""

    def overlap(x: float, y: float) -> float:
        w = min(x + panel[0], roi[2]) - max(x, roi[0])
        h = min(y + panel[1], roi[3]) - max(y, roi[1])
        return max(w, 0.0) * max(h, 0.0)

    right, bottom = max(image[0] - panel[0], 0.0), max(image[1] - panel[1], 0.0)
    corners = [(0.0, 0.0), (right, 0.0), (0.0, bottom), (right, bottom)]
    return min(corners, key=lambda c: overlap(*c))
