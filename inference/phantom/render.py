"""Lateral radiograph formation: rasterise the posed parts into attenuation maps on a reduced
working grid, add trabecular texture, blur, vendor processing and collimation, then upsample to
the detector grid and add full-resolution quantum noise (numpy and Pillow only)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .acquisition import Acquisition, Camera, ViewExposure
from .anatomy import Patient
from .pose import PosedView
from .soft import hyoid, soft_parts

WORK_DOWNSAMPLE = 2.0  # the smooth attenuation is rendered at half the detector resolution
BONE_SCALE = 0.75
CORTEX_MM = 0.9
COLLIMATOR = 0.8  # outside the collimated field, in units of the window (bright after processing)
MARKER = 1.5


def camera_for(view: PosedView, acq: Acquisition, exposure: ViewExposure) -> Camera:
    """Centre each view on the mid cervical spine, a little anterior to the bodies."""
    centre = view.points["c4.ant_mid"] + np.array([-8.0, 12.0])
    return Camera(centre, acq, exposure)


def render_view(
    p: Patient, view: PosedView, acq: Acquisition, index: int, rng: np.random.Generator
) -> np.ndarray:
    """Stored pixel values (uint16, ``acq.photometric``) of one view."""
    exposure = acq.exposures[index]
    cam = camera_for(view, acq, exposure)
    work = cam.at(WORK_DOWNSAMPLE)
    shape = (int(np.ceil(acq.rows / WORK_DOWNSAMPLE)), int(np.ceil(acq.cols / WORK_DOWNSAMPLE)))
    mu = _attenuation(p, view, work, shape, rng)
    mu = _processing(mu, exposure, work, shape, acq)
    return _detector(mu, acq, exposure, rng)


def _attenuation(
    p: Patient, view: PosedView, cam: Camera, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    layered, added = soft_parts(p, view)
    soft = Image.new("F", shape[::-1], 0.0)
    draw = ImageDraw.Draw(soft)
    for part in layered:
        draw.polygon([tuple(xy) for xy in cam.to_pixels(part.points)], fill=part.density)
    soft_mu = _box_blur(np.array(soft), max(2, int(6 / _mm_per_px(cam))), passes=2)
    extra = np.zeros(shape, np.float32)
    for part in added:
        _add_part(extra, cam.to_pixels(part.points), part.density, 0.0, 0)
    soft_mu += _box_blur(extra, max(2, int(5 / _mm_per_px(cam))), passes=2)
    trab = np.zeros(shape, np.float32)
    cort = np.zeros(shape, np.float32)
    rim = max(1, round(CORTEX_MM / _mm_per_px(cam)))
    for part in (*view.parts, hyoid(p, view)):
        px = cam.to_pixels(part.points)
        _add_part(trab, px, part.density * 0.6, 0.0, 0)
        if part.density > 0:  # nested insets: thicker bone towards the middle of a part
            centre = px.mean(axis=0)
            _add_part(trab, centre + (px - centre) * 0.8, part.density * 0.25, 0.0, 0)
            _add_part(trab, centre + (px - centre) * 0.55, part.density * 0.15, 0.0, 0)
        _add_part(cort, px, 0.0, part.cortex, rim, part.rim)
    tex = _texture(shape, rng)
    trab = _box_blur(trab, max(1, rim // 2))
    bone = (trab * (1.0 + 0.22 * tex) + cort) * (BONE_SCALE * p.density * cam.exposure.bone_gain)
    return soft_mu * cam.exposure.soft_gain + bone


def _mm_per_px(cam: Camera) -> float:
    return cam.acq.spacing * cam.downsample / cam.acq.magnification


def _add_part(
    canvas: np.ndarray,
    px: np.ndarray,
    fill: float,
    outline: float,
    width: int,
    edges: np.ndarray | None = None,
) -> None:
    """Add one polygon (interior ``fill`` and/or a rim ``outline`` of ``width``) into ``canvas``."""
    pad = width + 2
    x0, y0 = np.floor(px.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(px.max(axis=0)).astype(int) + pad
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, canvas.shape[1]), min(y1, canvas.shape[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return
    patch = Image.new("F", (int(x1 - x0), int(y1 - y0)), 0.0)
    draw = ImageDraw.Draw(patch)
    local = [tuple(xy) for xy in px - np.array([x0, y0])]
    if fill:
        draw.polygon(local, fill=fill)
    if outline:
        for run in _runs(local, edges):
            draw.line(run, fill=outline, width=width, joint="curve")
    arr = np.asarray(patch)[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    canvas[cy0:cy1, cx0:cx1] += arr


def _runs(points: list[tuple[float, float]], edges: np.ndarray | None) -> list[list]:
    """Split a closed outline into open polylines over the edges marked True."""
    closed = [*points, points[0]]
    if edges is None or edges.all():
        return [closed]
    runs, current = [], []
    start = int(np.argmin(edges))  # begin just after a gap so runs do not wrap
    for k in range(1, len(points) + 1):
        i = (start + k) % len(points)
        if edges[i]:
            current = current or [closed[i]]
            current.append(closed[i + 1])
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _processing(
    mu: np.ndarray, exposure: ViewExposure, cam: Camera, shape: tuple[int, int], acq: Acquisition
) -> np.ndarray:
    """Detector blur, collimation, side marker, vendor edge enhancement and tone curve -> [0, 1]."""
    for _ in range(max(1, round(2 * exposure.blur**2))):  # [1, 2, 1] / 4 has variance 1/2
        mu = _binomial(mu, wrap=False)
    field = _collimation(exposure, cam, shape)
    px_mm = cam.acq.spacing * cam.downsample
    large = _box_blur(mu, max(3, int(25 / px_mm)))
    mu = mu - exposure.compression * (large - float(large.mean()))  # dynamic range compression
    if exposure.edge:
        mu = mu + exposure.edge * (mu - _box_blur(mu, max(2, int(3 / px_mm)), passes=2))
    inside = mu[::4, ::4][field[::4, ::4] > 0.99]
    lo, hi = np.percentile(inside if inside.size > 100 else mu, [1.0, 99.7])
    mu = mu + (hi - lo) * (COLLIMATOR * (1.0 - field) + MARKER * _marker(acq, exposure, shape))
    y = np.clip((mu - lo) / max(hi - lo, 1e-3), 0.0, 1.0)
    return (y**exposure.gamma).astype(np.float32)


def _collimation(exposure: ViewExposure, cam: Camera, shape: tuple[int, int]) -> np.ndarray:
    left, top, right, bottom = (
        v / (cam.acq.spacing * cam.downsample) for v in exposure.collimation
    )
    h, w = shape
    box = np.array([(left, top), (w - right, top), (w - right, h - bottom), (left, h - bottom)])
    a = np.deg2rad(exposure.collimation_tilt)
    centre = np.array([w / 2, h / 2])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    box = (box - centre) @ rot.T + centre
    field = Image.new("F", (w, h), 0.0)
    ImageDraw.Draw(field).polygon([tuple(xy) for xy in box], fill=1.0)
    return _box_blur(np.asarray(field).copy(), 2)


def _marker(acq: Acquisition, exposure: ViewExposure, shape: tuple[int, int]) -> np.ndarray:
    """A lead side letter in one corner of the collimated field."""
    h, w = shape
    size = max(8, int(h * 0.045))
    layer = Image.new("F", (w, h), 0.0)
    inset = max(exposure.collimation) / (acq.spacing * WORK_DOWNSAMPLE) + size * 0.6
    corner = exposure.marker_corner
    x = inset if corner in (0, 3) else w - inset - size
    y = inset if corner in (0, 1) else h - inset - size * 1.3
    font = _font(size)
    draw = ImageDraw.Draw(layer)
    draw.rectangle(
        (x - size * 0.2, y - size * 0.1, x + size * 0.9, y + size * 1.25),
        outline=0.5,
        width=max(1, size // 10),
    )
    draw.text((x, y), acq.marker, fill=1.0, font=font)
    return np.asarray(layer)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _detector(
    y: np.ndarray, acq: Acquisition, exposure: ViewExposure, rng: np.random.Generator
) -> np.ndarray:
    """Upsample to the detector grid, add quantum noise, quantise to the stored bit depth."""
    full = np.asarray(Image.fromarray(y, "F").resize((acq.cols, acq.rows), Image.BILINEAR))
    noise = _noise_window(acq.rows, acq.cols, rng)
    top = float(2**acq.bits_stored - 1)
    out = full * (1.0 - 0.5 * exposure.noise) + noise * (exposure.noise * (0.5 + full))
    np.clip(out, 0.0, 1.0, out=out)
    if acq.photometric == "MONOCHROME1":
        out = 1.0 - out
    return (out * top + 0.5).astype(np.uint16)


@lru_cache(maxsize=1)
def _noise_field() -> np.ndarray:
    """A fixed per-process field of unit Gaussian noise; views take shifted windows of it."""
    return np.random.default_rng(20260101).standard_normal((2700, 2700), dtype=np.float32)


def _noise_window(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    field = _noise_field()
    if rows > field.shape[0] or cols > field.shape[1]:
        return rng.standard_normal((rows, cols), dtype=np.float32)
    r = int(rng.integers(0, field.shape[0] - rows + 1))
    c = int(rng.integers(0, field.shape[1] - cols + 1))
    window = field[r : r + rows, c : c + cols]
    return window[::-1] if rng.random() < 0.5 else window


@lru_cache(maxsize=1)
def _texture_tile() -> np.ndarray:
    """Band-passed noise that reads as trabecular bone once multiplied into the bone map."""
    white = np.random.default_rng(7).standard_normal((512, 512)).astype(np.float32)
    fine = _binomial(_binomial(white, True), True)
    streaks = (np.roll(fine, 1, 0) + fine + np.roll(fine, -1, 0) + np.roll(fine, 2, 0)) / 4
    coarse = _box_blur(white, 5, passes=2, wrap=True)
    tile = streaks - coarse  # slightly longer along the rows' normal: vertical trabeculae
    return (tile / tile.std()).astype(np.float32)


def _texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    tile = _texture_tile()
    reps = (shape[0] // 512 + 2, shape[1] // 512 + 2)
    r, c = (int(v) for v in rng.integers(0, 512, 2))
    return np.tile(tile, reps)[r : r + shape[0], c : c + shape[1]]


def _box_blur(a: np.ndarray, r: int, passes: int = 1, wrap: bool = False) -> np.ndarray:
    """Gaussian-like blur of about ``r * sqrt(passes)`` pixels.

    Small radii use repeated [1, 2, 1] / 4 filters; large ones shrink with a box filter and
    enlarge bilinearly (Pillow, in C), which costs far less than a separable convolution.
    """
    out = np.asarray(a, dtype=np.float32)
    spread = r * np.sqrt(passes)
    if spread <= 1.25:
        for _ in range(max(1, round(spread**2 * 2))):
            out = _binomial(out, wrap)
        return out
    k = max(2, round(spread / 1.5))
    h, w = out.shape
    small = Image.fromarray(out, "F").resize((max(1, w // k), max(1, h // k)), Image.BOX)
    smooth = _binomial(_binomial(np.asarray(small), wrap), wrap)
    return np.array(Image.fromarray(smooth, "F").resize((w, h), Image.BICUBIC))


def _binomial(a: np.ndarray, wrap: bool) -> np.ndarray:
    """One [1, 2, 1] / 4 pass along both axes (edges repeated, or wrapped)."""
    mode = "wrap" if wrap else "edge"
    p = np.pad(a, 1, mode=mode)
    v = (p[:-2] + 2 * p[1:-1] + p[2:]) * 0.25
    return (v[:, :-2] + 2 * v[:, 1:-1] + v[:, 2:]) * 0.25
