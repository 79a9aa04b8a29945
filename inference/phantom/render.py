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
from .skeleton import Part
from .soft import hyoid, soft_parts

WORK_DOWNSAMPLE = 2.0  # the smooth attenuation is rendered at half the detector resolution
BONE_SCALE = 0.75
CORTEX_MM = 0.9
COLLIMATOR = 0.8  # outside the collimated field, in units of the window (bright after processing)
MARKER = 1.5


KEEP_IN_VIEW = (
    "skull.basion",
    "skull.opisthion",
    "skull.hard_palate",
    "c1.posterior_tubercle",
    "c1.c1_anterior_arch",
    "c2.spinous_tip",
    "c2.inf_ant",
    "c2.dens_tip",
)


def camera_for(view: PosedView, acq: Acquisition, exposure: ViewExposure) -> Camera:
    """Centre each view on the mid cervical spine, a little anterior to the bodies, then shift
    it (as a radiographer re-positions) until the upper cervical spine lies inside the field."""
    centre = view.points["c4.ant_mid"] + np.array([-8.0, 12.0])
    cam = Camera(centre, acq, exposure)
    px = cam.to_pixels(np.array([view.points[k] for k in KEEP_IN_VIEW]))
    x0, y0, x1, y1 = cam.field(margin_mm=12.0 * acq.magnification)
    return cam.shifted((_fit(px[:, 0], x0, x1), _fit(px[:, 1], y0, y1)))


def _fit(values: np.ndarray, lo: float, hi: float) -> float:
    """Smallest shift that brings ``values`` inside [lo, hi] (centred when they cannot fit)."""
    vmin, vmax = float(values.min()), float(values.max())
    if vmax - vmin > hi - lo:
        return (lo + hi) / 2 - (vmin + vmax) / 2
    return max(lo - vmin, 0.0) + min(hi - vmax, 0.0)


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
    soft_mu = _box_blur(np.array(soft), max(2, int(3 / _mm_per_px(cam))), passes=2)
    extra = np.zeros(shape, np.float32)
    for part in added:
        _add_part(extra, cam.to_pixels(part.points), part.density)
    soft_mu += _box_blur(extra, max(2, int(5 / _mm_per_px(cam))), passes=2)
    bone = np.zeros(shape, np.float32)
    rim = max(1, round(CORTEX_MM / _mm_per_px(cam)))
    for part in (*view.parts, hyoid(p, view)):
        for points, share in _sides(part, cam.exposure.obliquity):
            px = cam.to_pixels(points)
            _draw_bone(bone, px, part.density * share, part.cortex * share, rim, part.rim)
    bone = _box_blur(bone, max(1, rim // 2))
    bone *= 1.0 + 0.22 * _texture(shape, rng)
    bone *= BONE_SCALE * p.density * cam.exposure.bone_gain
    return soft_mu * cam.exposure.soft_gain + bone


# paired (left and right) structures and how far from the midline they lie, relative
PAIRED = {"pillar": 1.0, "pars": 1.0, "lateral_mass": 0.8, "ramus": 1.8, "mandible": 1.6}


def _sides(part: Part, obliquity: float) -> list[tuple[np.ndarray, float]]:
    """A paired structure seen slightly obliquely: two copies, each half as dense, shifted
    apart front to back; everything else once."""
    spread = obliquity * PAIRED.get(part.name.split(".")[-1], 0.0)
    if spread < 0.3:
        return [(part.points, 1.0)]
    shift = np.array([spread / 2, spread / 8])
    return [(part.points - shift, 0.5), (part.points + shift, 0.5)]


def _mm_per_px(cam: Camera) -> float:
    return cam.acq.spacing * cam.downsample / cam.acq.magnification


def _patch(
    canvas: np.ndarray, px: np.ndarray, pad: int
) -> tuple[Image.Image, np.ndarray, tuple[slice, slice], tuple[slice, slice]] | None:
    """A blank float patch over the bounding box of ``px`` (None when it misses the canvas)."""
    x0, y0 = np.floor(px.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(px.max(axis=0)).astype(int) + pad
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, canvas.shape[1]), min(y1, canvas.shape[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    patch = Image.new("F", (int(x1 - x0), int(y1 - y0)), 0.0)
    window = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    return patch, np.array([x0, y0]), window, (slice(cy0, cy1), slice(cx0, cx1))


def _add_part(canvas: np.ndarray, px: np.ndarray, fill: float) -> None:
    """Add one filled polygon into ``canvas``."""
    found = _patch(canvas, px, 2)
    if found is not None:
        patch, origin, window, target = found
        ImageDraw.Draw(patch).polygon([tuple(xy) for xy in px - origin], fill=fill)
        canvas[target] += np.asarray(patch)[window]


def _draw_bone(
    canvas: np.ndarray,
    px: np.ndarray,
    density: float,
    cortex: float,
    width: int,
    edges: np.ndarray | None,
) -> None:
    """Add one bone: thicker towards its middle when compact, with a cortical rim."""
    found = _patch(canvas, px, width + 2)
    if found is None:
        return
    patch, origin, window, target = found
    draw = ImageDraw.Draw(patch)
    local = px - origin
    outer = density * 0.6
    draw.polygon([tuple(xy) for xy in local], fill=outer)
    if density > 0 and _compactness(px) > 0.55:  # nested insets, each inside the last
        centre = local.mean(axis=0)
        for shrink, level in ((0.8, 0.85), (0.55, 1.0)):
            inset = centre + (local - centre) * shrink
            draw.polygon([tuple(xy) for xy in inset], fill=density * level)
    if cortex:
        for run in _runs([tuple(xy) for xy in local], edges):
            draw.line(run, fill=outer + cortex, width=width, joint="curve")
    canvas[target] += np.asarray(patch)[window]


def _compactness(px: np.ndarray) -> float:
    """Polygon area over bounding-box area: near 1 for blobs, small for thin bands."""
    x, y = px[:, 0], px[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    box = float(np.ptp(x) * np.ptp(y)) or 1.0
    return area / box


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
    tilt = abs(np.sin(np.deg2rad(exposure.collimation_tilt))) * max(h, w) / 2
    inset = max(exposure.collimation) / (acq.spacing * WORK_DOWNSAMPLE) + tilt + size * 0.6
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
    n = exposure.noise
    grain = full * (0.6 * n)  # quantum noise grows with attenuation in the log image
    grain += 0.6 * n
    grain *= noise
    out = full * (1.0 - 0.5 * n)
    out += grain
    np.clip(out, 0.0, 1.0, out=out)
    if acq.photometric == "MONOCHROME1":
        out *= -1.0
        out += 1.0
    out *= top
    out += 0.5
    return out.astype(np.uint16)


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
    r, c = (int(v) for v in rng.integers(0, 512, 2))
    tile = np.roll(_texture_tile(), (r, c), axis=(0, 1))
    return np.pad(tile, ((0, max(0, shape[0] - 512)), (0, max(0, shape[1] - 512))), "wrap")[
        : shape[0], : shape[1]
    ]


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
