"""Contact sheet of phantom studies: three views per row with landmarks, ROI and the
measurements that decide the labels drawn on top (for eyes, not for tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.labels import VIEWS

from .study import Study

COLOURS = {
    "c1_anterior_arch": (255, 80, 80),
    "dens_tip": (255, 220, 0),
    "posterior_dens": (255, 140, 0),
    "basion": (80, 200, 255),
    "opisthion": (60, 120, 255),
    "hard_palate": (80, 255, 120),
}


def display_image(pixels: np.ndarray, photometric: str, bits: int) -> Image.Image:
    """8-bit greyscale for display (bone white), whatever the photometric interpretation."""
    f = pixels.astype(np.float32) / float(2**bits - 1)
    if photometric == "MONOCHROME1":
        f = 1.0 - f
    return Image.fromarray((np.clip(f, 0, 1) * 255).astype(np.uint8), "L")


def contact_sheet(studies: list[Study], path: Path, tile: int = 420) -> Path:
    """Write a PNG with one row per study: extension, neutral, flexion and a caption."""
    rows = [_row(s, tile) for s in studies]
    sheet = Image.new("RGB", (tile * 3, sum(r.height for r in rows)), (0, 0, 0))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    sheet.save(path)
    return Path(path)


def _row(study: Study, tile: int) -> Image.Image:
    truth = study.truth
    image = truth["image"]
    height = round(tile * image["rows"] / image["columns"])
    font = _font(max(11, tile // 30))
    caption = 3 * (font.size + 4) + 6
    row = Image.new("RGB", (tile * 3, height + caption), (16, 16, 16))
    m = truth["measurements"]
    for v, view in enumerate(VIEWS):
        grey = display_image(study.pixels[view], image["photometric"], image["bits_stored"])
        scale = tile / image["columns"]
        rgb = grey.resize((tile, height), Image.BILINEAR).convert("RGB")
        draw = ImageDraw.Draw(rgb)
        x0, y0, x1, y1 = (c * scale for c in truth["roi"][view])
        draw.rectangle((x0, y0, x1, y1), outline=(0, 255, 255), width=2)
        for name, (x, y) in truth["landmarks"][view].items():
            r = max(2, tile // 140)
            draw.ellipse(
                (x * scale - r, y * scale - r, x * scale + r, y * scale + r),
                outline=COLOURS[name],
                width=2,
            )
        draw.text(
            (6, 4), f"{view}  ADI {m[f'adi_{view}_mm']:.1f} mm", fill=(255, 255, 0), font=font
        )
        row.paste(rgb, (v * tile, 0))
    _caption(ImageDraw.Draw(row), truth, height + 4, font)
    return row


def _caption(draw: ImageDraw.ImageDraw, truth: dict, y: int, font: ImageFont.FreeTypeFont) -> None:
    m = truth["measurements"]
    positive = [k for k, v in truth["labels"].items() if v] or ["normal"]
    lines = [
        f"{truth['index']:05d} {truth['style']}  {truth['patient']['age_group']}  "
        f"labels: {', '.join(positive)}",
        f"ADI change {m['adi_change_mm']:.1f} mm  dens above Chamberlain "
        f"{m['dens_above_chamberlain_mm']:.1f} mm  ossicle gap {m['ossicle_gap_mm']:.1f} mm",
        f"occiput-C1 motion {m['occiput_c1_motion_deg']:.1f} deg  C2-C3 disc "
        f"{m['c2_c3_disc_height_mm']:.1f} mm, motion {m['c2_c3_motion_deg']:.1f} deg",
    ]
    for k, line in enumerate(lines):
        draw.text((6, y + k * (font.size + 4)), line, fill=(230, 230, 230), font=font)


def _font(size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()
