"""inference.preprocess: LUTs, photometric interpretation, spacing, compressed syntaxes, errors."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from inference.preprocess import (
    UnreadableImage,
    display_pixels,
    pixel_spacing_mm,
    preprocess,
    resize,
)
from tests.unit.dicom_factory import gradient, make_dx


def test_monochrome2_keeps_bright_bright_and_unit_range() -> None:
    image = display_pixels(make_dx(gradient()))
    assert image.dtype == np.float32
    assert image.min() == pytest.approx(0.0) and image.max() == pytest.approx(1.0)
    assert image[:, -1].mean() > image[:, 0].mean()


def test_monochrome1_is_inverted() -> None:
    mono2 = display_pixels(make_dx(gradient()))
    mono1 = display_pixels(make_dx(gradient(), photometric="MONOCHROME1"))
    np.testing.assert_allclose(mono1, 1.0 - mono2, atol=1e-6)


def test_window_clips_outside_values() -> None:
    image = display_pixels(make_dx(gradient(top=4000), window=(2000, 1000)))
    ramp = np.linspace(0, 4000, 48)
    assert np.all(image[0, ramp < 1400] == pytest.approx(0.0))
    assert np.all(image[0, ramp > 2600] == pytest.approx(1.0))
    inside = (ramp > 1600) & (ramp < 2400)
    assert np.all(np.diff(image[0, inside]) > 0)


def test_modality_rescale_is_applied_before_window() -> None:
    # stored 0..4000 with slope 0.5, intercept -1000 -> -1000..1000; window centred on 0
    image = display_pixels(make_dx(gradient(top=4000), rescale=(0.5, -1000), window=(0, 400)))
    ramp = np.linspace(0, 4000, 48) * 0.5 - 1000
    assert np.all(image[0, ramp < -250] == pytest.approx(0.0))
    assert np.all(image[0, ramp > 250] == pytest.approx(1.0))


def test_spacing_prefers_pixel_spacing_then_corrects_imager_spacing_for_magnification() -> None:
    px = gradient()
    assert pixel_spacing_mm(make_dx(px, pixel_spacing=(0.1, 0.1)))[0] == (0.1, 0.1)
    spacing, source = pixel_spacing_mm(make_dx(px, imager_spacing=(0.2, 0.2), magnification=1.25))
    assert spacing == pytest.approx((0.16, 0.16))
    assert "Magnification" in source
    assert pixel_spacing_mm(make_dx(px, imager_spacing=None))[1] == "assumed"


def test_resampled_to_fixed_spacing_in_mm() -> None:
    ds = make_dx(gradient(rows=100, cols=80), imager_spacing=(0.2, 0.25), magnification=1.0)
    image = preprocess(ds, spacing_mm=0.5)
    # 100 rows * 0.2 mm = 20 mm -> 40 px; 80 cols * 0.25 mm = 20 mm -> 40 px
    assert image.pixels.shape == (40, 40)
    assert image.spacing_mm == 0.5
    centre = np.array([[20.0, 20.0]])
    np.testing.assert_allclose(image.from_source(image.to_source(centre)), centre)
    # output pixel 0 covers source rows 0..2.5: its centre maps to source 0.75
    np.testing.assert_allclose(image.to_source(np.array([0.0, 0.0]))[1], 0.75)


def test_resize_preserves_mean_and_a_bright_square_position() -> None:
    image = np.zeros((200, 200), np.float32)
    image[50:100, 120:160] = 1.0
    small = resize(image, (50, 50))
    assert small.mean() == pytest.approx(image.mean(), rel=0.02)
    ys, xs = np.nonzero(small > 0.5)
    # source centre (row 74.5, col 139.5) -> output ((c + 0.5) / 4 - 0.5) per axis
    assert (ys.mean(), xs.mean()) == pytest.approx((18.25, 34.5), abs=0.3)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_syntaxes_decode_to_the_same_image(syntax: str) -> None:
    rng = np.random.default_rng(0)
    pixels = (gradient(rows=64, cols=64) + rng.integers(0, 50, (64, 64))).astype(np.uint16)
    plain = display_pixels(make_dx(pixels))
    ds = make_dx(pixels)
    ds.compress(syntax)
    assert ds.file_meta.TransferSyntaxUID == syntax
    np.testing.assert_allclose(display_pixels(ds), plain, atol=1e-6)


def test_missing_pixel_data_is_unreadable() -> None:
    ds = make_dx(gradient())
    del ds.PixelData
    with pytest.raises(UnreadableImage, match="no pixel data"):
        preprocess(ds)


def test_truncated_pixel_data_is_unreadable() -> None:
    ds = make_dx(gradient())
    ds.PixelData = ds.PixelData[:100]
    with pytest.raises(UnreadableImage):
        preprocess(ds)


def test_constant_image_is_unreadable() -> None:
    with pytest.raises(UnreadableImage, match="constant"):
        preprocess(make_dx(np.full((64, 64), 7, np.uint16)))


def test_block_averaged_fast_path_matches_direct_filtering() -> None:
    yy, xx = np.mgrid[0:999, 0:801].astype(np.float32)
    smooth = np.sin(xx / 40.0) * np.cos(yy / 55.0)
    fast = resize(smooth, (100, 80))  # 10x: averages 5x5 blocks first
    ys = (np.arange(100) + 0.5) * 9.99 - 0.5
    xs = (np.arange(80) + 0.5) * 801 / 80 - 0.5
    exact = np.sin(xs[None, :] / 40.0) * np.cos(ys[:, None] / 55.0)
    np.testing.assert_allclose(fast, exact, atol=0.03)
