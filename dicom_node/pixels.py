"""Cheap checks at ingest that an instance's pixel data is whole (PS3.5 8.1 and A.4).

The listener acknowledges an instance once it is durable; one whose pixel data cannot be whole
would be kept, acknowledged and only found unreadable at analysis, when the sender has long
forgotten it. These checks read no pixel values: the native Pixel Data's length against what
Rows, Columns, Samples per Pixel, Bits Allocated and Number of Frames need, and for encapsulated
(compressed) pixel data that its item structure parses and holds a fragment for every frame.
"""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom import Dataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID

DESCRIPTION = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel")
ITEM_HEADER = 8  # item tag and length (PS3.5 7.5)


class CorruptPixelData(ValueError):
    """The pixel data cannot be whole; the message says why, without any value of the data."""


def check_pixel_data(ds: Dataset, transfer_syntax_uid: str) -> None:
    """Raise :class:`CorruptPixelData` when ``ds``'s Pixel Data cannot be what its header says.

    An instance without Pixel Data passes: whether it can be analysed is decided later, and the
    result says so.
    """
    try:
        _check(ds, transfer_syntax_uid)
    except CorruptPixelData:
        raise
    except Exception as exc:  # a header value pydicom cannot convert (IS "many", US of 3 bytes)
        raise CorruptPixelData(f"pixel description unreadable: {type(exc).__name__}") from None


def _check(ds: Dataset, transfer_syntax_uid: str) -> None:
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
    expected = int(get_expected_length(ds, unit="bytes"))
    if len(value) < expected:
        raise CorruptPixelData(
            f"Pixel Data holds {len(value)} bytes; the header says {expected} are needed"
        )


def _frames(ds: Dataset) -> int:
    try:
        raw = ds.get("NumberOfFrames", 1)
        frames = int(raw) if raw not in (None, "") else 1
    except (TypeError, ValueError):
        raise CorruptPixelData("Number of Frames is not a number") from None
    if frames < 1:
        raise CorruptPixelData("Number of Frames is less than 1")
    return frames


def _check_encapsulated(value: bytes, frames: int) -> None:
    """Items well formed and within the value, at least one non-empty fragment a frame."""
    buffer = BytesIO(value)
    try:
        parse_basic_offsets(buffer)  # the first item, the Basic Offset Table (possibly empty)
        _, positions = parse_fragments(buffer)
    except Exception as exc:
        raise CorruptPixelData(f"encapsulated Pixel Data malformed: {exc}") from None
    lengths = [struct.unpack_from("<L", value, position + 4)[0] for position in positions]
    for position, length in zip(positions, lengths, strict=True):
        if position + ITEM_HEADER + length > len(value):
            raise CorruptPixelData(
                f"encapsulated Pixel Data cut short: a fragment declares {length} bytes, "
                f"{len(value) - position - ITEM_HEADER} are there"
            )
    if sum(1 for length in lengths if length) < frames:
        raise CorruptPixelData(
            f"encapsulated Pixel Data has {len(positions)} fragments for {frames} frames"
        )
