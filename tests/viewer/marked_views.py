"""Three lateral views for the viewer tests: grey images whose ROI outline is
burned into the pixel data, so a screenshot shows where the image itself puts the ROI."""

from __future__ import annotations

import numpy as np
from pydicom import Dataset
from pydicom.uid import generate_uid

from inference.result import VIEWS
from tests.support.dicom import ROOT, make_dx

#: (columns, rows) per view: not square and not equal, so that a swapped axis or a wrong image
#: shows as a misplaced outline.
SIZES = {"extension": (400, 520), "neutral": (440, 520), "flexion": (380, 500)}
#: The ROI per view, (x0, y0, x1, y1) in pixels of that image (DICOM SCOORD convention).
BOXES = {
    "extension": (60.0, 90.0, 260.0, 300.0),
    "neutral": (120.0, 60.0, 360.0, 280.0),
    "flexion": (40.0, 150.0, 250.0, 420.0),
}
BURNED = 4095  # white with the images' window (centre 2048, width 4096)


def view_pixels(columns: int, rows: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """A smooth grey field (displayed between about 55 and 150 of 255) with the box's outline
    burned in, two pixels wide, straddling the box's edges."""
    yy, xx = np.mgrid[0:rows, 0:columns]
    pixels = (900 + 1500 * (0.6 * xx / columns + 0.4 * yy / rows)).astype(np.uint16)
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels[y0 - 1 : y0 + 1, x0 - 1 : x1 + 1] = BURNED
    pixels[y1 - 1 : y1 + 1, x0 - 1 : x1 + 1] = BURNED
    pixels[y0 - 1 : y1 + 1, x0 - 1 : x0 + 1] = BURNED
    pixels[y0 - 1 : y1 + 1, x1 - 1 : x1 + 1] = BURNED
    return pixels


def study(study_uid: str | None = None) -> dict[str, Dataset]:
    """{view: DX instance}: one study, one series per view (as most modalities send them)."""
    study_uid = study_uid or generate_uid(prefix=ROOT)
    images = {}
    for number, view in enumerate(VIEWS, start=1):
        ds = make_dx(study_uid=study_uid, description=f"C-spine lat {view}", size=8)
        columns, rows = SIZES[view]
        ds.Columns, ds.Rows = columns, rows
        ds.PixelData = view_pixels(columns, rows, BOXES[view]).tobytes()
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.SeriesNumber = number
        images[view] = ds
    return images
