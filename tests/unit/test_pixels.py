"""Ingest's pixel data checks: whole instances pass, cut or inconsistent ones are named."""

from __future__ import annotations

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from dicom_node.pixels import CorruptPixelData, check_pixel_data
from tests.support.dicom import make_dx

COMPRESSED = [RLELossless, JPEGLSLossless, JPEG2000Lossless]


def test_whole_native_pixel_data_passes() -> None:
    check_pixel_data(make_dx(), ExplicitVRLittleEndian)


def test_an_instance_without_pixel_data_is_left_to_analysis() -> None:
    ds = make_dx()
    del ds.PixelData
    check_pixel_data(ds, ExplicitVRLittleEndian)


def test_native_pixel_data_shorter_than_the_header_says() -> None:
    ds = make_dx()
    ds.Rows = ds.Columns = 10_000  # 200 MB declared, 8 KiB present
    with pytest.raises(CorruptPixelData, match="8192 bytes; the header says 200000000"):
        check_pixel_data(ds, ExplicitVRLittleEndian)


@pytest.mark.parametrize("keyword", ["Rows", "Columns", "BitsAllocated", "SamplesPerPixel"])
def test_pixel_data_without_its_description(keyword: str) -> None:
    ds = make_dx()
    delattr(ds, keyword)
    with pytest.raises(CorruptPixelData, match=keyword):
        check_pixel_data(ds, ExplicitVRLittleEndian)


def test_a_frame_count_that_is_not_a_number() -> None:
    ds = make_dx()
    tag = Tag("NumberOfFrames")
    ds[tag] = RawDataElement(tag, "IS", 4, b"many", 0, False, True)  # as read off the wire
    with pytest.raises(CorruptPixelData, match="Number of Frames"):
        check_pixel_data(ds, ExplicitVRLittleEndian)


@pytest.mark.parametrize("syntax", COMPRESSED)
def test_whole_encapsulated_pixel_data_passes(syntax: str) -> None:
    ds = make_dx()
    ds.compress(syntax)
    check_pixel_data(ds, syntax)


@pytest.mark.parametrize("syntax", COMPRESSED)
@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda v: v[: len(v) // 2], "cut short"),
        (lambda v: encapsulate([]), "0 fragments for 1 frames"),
        (lambda v: b"\x00" * 16, "malformed"),
        (lambda v: v[:8], "malformed"),
    ],
    ids=["half", "no-fragment", "no-item", "offset-table-only-half"],
)
def test_broken_encapsulated_pixel_data_is_named(syntax: str, cut, message: str) -> None:  # type: ignore[no-untyped-def]
    ds = make_dx()
    ds.compress(syntax)
    ds.PixelData = cut(ds.PixelData)
    with pytest.raises(CorruptPixelData, match=message):
        check_pixel_data(ds, syntax)


def test_fewer_fragments_than_frames() -> None:
    ds = make_dx()
    ds.compress(RLELossless)
    ds.NumberOfFrames = 3
    with pytest.raises(CorruptPixelData, match="1 fragments for 3 frames"):
        check_pixel_data(ds, RLELossless)
