"""Hypothesis strategies for the fuzz tier: a seed corpus of valid associations and data sets,
and the mutations thrown at the listener (tests/fuzz)."""

from __future__ import annotations

import os
import socket
import struct
from io import BytesIO

import pydicom.config
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless
from pynetdicom.dsutils import decode, encode
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation, Verification

from tests.support import attack
from tests.support.dicom import ROOT, make_dx

__all__ = ["make_dx"]

DX = DigitalXRayImageStorageForPresentation
RELEASE_RQ = attack.pdu_header(0x05, 4) + b"\x00" * 4
# Examples per test: about a minute in all in `make test`; `make fuzz` runs many more.
EXAMPLES = int(os.environ.get("CERVI_FUZZ_EXAMPLES", "40"))


def echo_command(message_id: int = 1) -> bytes:
    """A C-ECHO-RQ command set, Implicit VR Little Endian (PS3.7 9.3.5.1)."""
    command = Dataset()
    command.AffectedSOPClassUID = Verification
    command.CommandField = 0x0030
    command.MessageID = message_id
    command.CommandDataSetType = 0x0101
    return _with_group_length(command)


def _with_group_length(command: Dataset) -> bytes:
    body = encode(command, True, True)
    assert body is not None
    return struct.pack("<HHLL", 0x0000, 0x0000, 4, len(body)) + body


def dataset_bytes(ds: Dataset) -> bytes:
    """``ds`` encoded as it travels (Explicit VR Little Endian, no file meta)."""
    with pydicom.config.disable_value_validation():
        encoded = encode(ds, False, True)
    if encoded is None:
        raise ValueError("the data set cannot be encoded")
    return encoded


def seed_streams() -> list[bytes]:
    """Valid byte streams a sender writes: echo, store (native and RLE), release."""
    native = make_dx(seed=1)
    compressed = make_dx(seed=2)
    compressed.compress(RLELossless)
    streams = [attack.associate_rq() + attack.p_data(echo_command(), command=True) + RELEASE_RQ]
    for ds, syntax in ((native, ExplicitVRLittleEndian), (compressed, RLELossless)):
        streams.append(
            attack.associate_rq(abstract_syntax=DX, transfer_syntax=syntax)
            + attack.p_data(attack.store_command(DX, ds.SOPInstanceUID), command=True)
            + attack.p_data(dataset_bytes(ds), command=False)
            + RELEASE_RQ
        )
    return streams


SEEDS = seed_streams()


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    """A seed stream with a few byte-level mutations: flips, inserts, deletions, cuts, and
    PDU length fields set to extremes."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "cut", "length", "byte"]))
        if operation == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "byte":
            data[position] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        elif operation == "cut":
            del data[position:]
        else:  # a 4-byte big-endian length anywhere: PDU, item and PDV lengths are such
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF]))
            data[position : position + 4] = struct.pack(">L", value)
    return bytes(data)


TEXT_FIELDS = ["PatientID", "AccessionNumber", "Modality", "StudyDate", "SeriesDescription"]
LATIN_1 = st.characters(max_codepoint=0xFF)  # the default character repertoire, and then some
NUMBER_FIELDS = ["Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "NumberOfFrames"]


@st.composite
def mutated_datasets(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A valid DX instance with header values and pixel data changed, encoded, and perhaps its
    bytes mutated; returns (SOP Instance UID the command names, transfer syntax, data set)."""
    # UIDs drawn, not generated: hypothesis replays an example and must get the same bytes.
    study, series, sop = (f"{ROOT}9.{draw(st.integers(1, 10**6))}" for _ in range(3))
    ds = make_dx(
        study_uid=study,
        series_uid=series,
        sop_uid=sop,
        seed=draw(st.integers(0, 3)),
        size=draw(st.sampled_from([8, 32])),
    )
    if draw(st.booleans()):
        ds.compress(RLELossless)
        syntax = RLELossless
    else:
        syntax = ExplicitVRLittleEndian
    with pydicom.config.disable_value_validation():
        for keyword in draw(st.lists(st.sampled_from(TEXT_FIELDS), max_size=3, unique=True)):
            setattr(ds, keyword, draw(st.text(LATIN_1, max_size=120)))
        for keyword in draw(st.lists(st.sampled_from(NUMBER_FIELDS), max_size=2, unique=True)):
            setattr(ds, keyword, draw(st.integers(0, 65535)))
        if syntax == ExplicitVRLittleEndian and draw(st.booleans()):
            value = bytes(ds.PixelData)  # a whole element, shorter than the header says
            ds.PixelData = value[: draw(st.integers(0, len(value)))]
    if draw(st.booleans()):
        ds.SOPInstanceUID = draw(st.sampled_from(["1.2." + "3" * 66, "", "1.2.x", "1..2"]))
    encoded = bytearray(dataset_bytes(ds))
    for _ in range(draw(st.integers(0, 2))):
        encoded[draw(st.integers(0, len(encoded) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):  # cut short: the end is the pixel data, native or encapsulated
        del encoded[len(encoded) - draw(st.integers(1, min(4096, len(encoded)))) :]
    return str(ds.SOPInstanceUID), syntax, bytes(encoded)


def send_stream(port: int, source: str, stream: bytes, quiet: float = 0.3) -> bytes:
    """Write ``stream`` from ``source``, read what comes back until ``quiet`` seconds pass with
    nothing or the listener closes, and close."""
    received = bytearray()
    with attack.connect(port, source) as sock:
        try:
            sock.sendall(stream)
        except OSError:
            return bytes(received)
        sock.settimeout(quiet)
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            received.extend(chunk)
    return bytes(received)


def store_status(sock: socket.socket, timeout: float) -> int | None:
    """The Status of the C-STORE-RSP that arrives next, or None (abort, close or timeout)."""
    command = bytearray()
    while True:
        pdu = attack.read_pdu(sock, timeout)
        if pdu is None or pdu[0] != 0x04:
            return None
        body = pdu[1]
        offset = 0
        while offset + 6 <= len(body):
            (length,) = struct.unpack_from(">L", body, offset)
            control = body[offset + 5]
            command.extend(body[offset + 6 : offset + 4 + length])
            offset += 4 + length
            if control & 0x03 == 0x03:  # command, last fragment
                response = decode(BytesIO(bytes(command)), True, True)
                return int(response.Status)
