"""Cheap checks at ingest that an instance's pixel data is whole (PS3.5 8.1 and A.4).

The listener acknowledges an instance once it is durable; one whose pixel data cannot be whole
would be kept, acknowledged and only found unreadable at analysis, when the sender has long
forgotten it. These checks read no pixel values: the native Pixel Data's length against what
Rows, Columns, Samples per Pixel, Bits Allocated and Number of Frames need, and for encapsulated
(compressed) pixel data that its item structure parses and holds a fragment for every frame.
"""

from __future__ import annotations

from pydicom import Dataset
from pydicom.encaps import generate_fragments
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID

DESCRIPTION = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel")


class CorruptPixelData(ValueError):
    """The pixel data cannot be whole; the message says why, without any value of the data."""


def check_pixel_data(ds: Dataset, transfer_syntax_uid: str) -> None:
    """Raise :class:`CorruptPixelData` when ``ds``'s Pixel Data cannot be what its header says.

    An instance without Pixel Data passes: whether it can be analysed is decided later, and the
    result says so.
    """
    if "PixelData" not in ds:
        return
    missing = [keyword for keyword in DESCRIPTION if ds.get(keyword) in (None, "")]
    if missing:
        raise CorruptPixelData(f"Pixel Data without {', '.join(missing)}")
    frames = _frames(ds)
    value = ds.PixelData
    if value is None:
        raise CorruptPixelData("Pixel Data is empty")
    if UID(transfer_syntax_uid).is_encapsulated:
        _check_encapsulated(bytes(value), frames)
        return
    try:
        expected = int(get_expected_length(ds, unit="bytes"))
    except Exception as exc:
        raise CorruptPixelData(f"pixel description unusable: {type(exc).__name__}") from None
    if len(value) < expected:
        raise CorruptPixelData(
            f"Pixel Data holds {len(value)} bytes; the header says {expected} are needed"
        )


def _frames(ds: Dataset) -> int:
    raw = ds.get("NumberOfFrames", 1)
    try:
        frames = int(raw) if raw not in (None, "") else 1
    except (TypeError, ValueError):
        raise CorruptPixelData("Number of Frames is not a number") from None
    if frames < 1:
        raise CorruptPixelData("Number of Frames is less than 1")
    return frames


def _check_encapsulated(value: bytes, frames: int) -> None:
    """Items well formed, lengths within the value, at least one non-empty fragment a frame."""
    try:
        fragments = [len(f) for f in generate_fragments(value)]
    except Exception as exc:
        raise CorruptPixelData(f"encapsulated Pixel Data malformed: {exc}") from None
    # The first item is the Basic Offset Table (possibly empty); fragments follow (A.4).
    fragments = fragments[1:]
    if sum(1 for length in fragments if length) < frames:
        raise CorruptPixelData(
            f"encapsulated Pixel Data has {len(fragments)} fragments for {frames} frames"
        )
