"""docs/conformance.md against the real thing: its tables are parsed from the markdown and
compared with what a running listener accepts (every storage SOP class pynetdicom knows, every
transfer syntax pydicom knows, one context each), how it rejects associations, and what Cervi's
sender proposes when it sends a real SR and key image."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification

from dicom_node.scp import (
    CallerRule,
    Listener,
    ListenerConfig,
    ReceivedInstance,
    Rejection,
    StoreOutcome,
)
from dicom_node.scu import DimseDestination
from dicom_node.sr import CerviImagingMeasurementReport
from dicom_node.sr.key_image import CerviKeyImage
from tests.support.console import wait_for
from tests.support.net import free_port
from tests.support.results import NOW, prediction, study_images

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
MAX_CONTEXTS = 128  # presentation context IDs are the odd numbers 1..255


def table(marker: str) -> list[dict[str, str]]:
    """The markdown table that follows ``<!-- conformance:{marker} -->``, as dicts by header."""
    text = DOC.read_text(encoding="utf-8")
    tag = f"<!-- conformance:{marker} -->"
    assert text.count(tag) == 1, f"{DOC.name} must have one table marked {tag}"
    lines = []
    for line in text.split(tag, 1)[1].strip().splitlines():
        if not line.startswith("|"):
            break
        lines.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, rows = lines[0], lines[2:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def uids(marker: str) -> list[str]:
    return [row["UID"] for row in table(marker)]


class MemorySink:
    """Keeps nothing: the subject here is negotiation, not storage."""

    def __init__(self) -> None:
        self.space = True
        self.rejections: list[Rejection] = []

    def store(self, received: ReceivedInstance) -> StoreOutcome:
        return StoreOutcome.STORED

    def reject(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)

    def has_space(self) -> bool:
        return self.space


@pytest.fixture
def listener() -> Iterator[tuple[Listener, MemorySink]]:
    sink = MemorySink()
    config = ListenerConfig(
        "CERVI", "127.0.0.1", 0, allowed_callers=(CallerRule("MODALITY"), CallerRule("TESTER"))
    )
    running = Listener(config, sink)
    running.start()
    yield running, sink
    running.stop()


def accepted(port: int, contexts: list[tuple[str, list[str]]]) -> set[tuple[str, str]]:
    """The (abstract syntax, transfer syntax) pairs the listener accepts, in as few associations
    as the 128-context limit allows."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(contexts), MAX_CONTEXTS):
        ae = AE(ae_title="TESTER")
        ae.requested_contexts = [
            build_context(sop, syntaxes) for sop, syntaxes in contexts[start : start + MAX_CONTEXTS]
        ]
        assoc = ae.associate("127.0.0.1", port, ae_title="CERVI")
        if not assoc.is_established:  # no context accepted: pynetdicom aborts, it is no rejection
            assert not assoc.is_rejected
            continue
        found |= {
            (str(c.abstract_syntax), str(c.transfer_syntax[0])) for c in assoc.accepted_contexts
        }
        assoc.release()
    return found


def test_the_listener_accepts_exactly_the_documented_contexts(listener) -> None:
    running, _ = listener
    documented_sops = uids("scp-sop-classes")
    storage_syntaxes = uids("scp-storage-transfer-syntaxes")
    echo_syntaxes = uids("scp-verification-transfer-syntaxes")
    assert [row["Role"] for row in table("scp-sop-classes")] == ["SCP"] * len(documented_sops)
    documented = {(Verification, ts) for ts in echo_syntaxes} | {
        (sop, ts) for sop in documented_sops if sop != Verification for ts in storage_syntaxes
    }
    every_syntax = sorted(str(ts) for ts in AllTransferSyntaxes)
    candidates = sorted(
        {str(c.abstract_syntax) for c in AllStoragePresentationContexts} | set(documented_sops)
    )
    # each documented class with each known syntax alone; every other class with all of them
    single = [(sop, [ts]) for sop in documented_sops for ts in every_syntax]
    others = [(sop, every_syntax) for sop in candidates if sop not in documented_sops]
    assert len(others) > 100 and len(every_syntax) > 30  # the universe is not empty
    assert accepted(running.port, single + others) == documented


REJECTION = re.compile(r"\((\d+)\)")


@pytest.mark.parametrize(
    ("row", "calling", "called", "space"),
    [
        (0, "MODALITY", "NOT-CERVI", True),
        (1, "STRANGER", "CERVI", True),
        (2, "MODALITY", "CERVI", False),
    ],
)
def test_rejections_are_as_documented(
    listener, row: int, calling: str, called: str, space: bool
) -> None:
    running, sink = listener
    sink.space = space
    expected = [
        int(REJECTION.search(table("rejections")[row][column])[1])
        for column in ("Result", "Source", "Reason/Diagnosis")
    ]
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", running.port, ae_title=called)
    assert assoc.is_rejected
    primitive = assoc.acceptor.primitive
    assert [primitive.result, primitive.result_source, primitive.diagnostic] == expected
    wait_for(lambda: len(sink.rejections) == 1, timeout=5, what="the rejection audited")


def test_the_sender_proposes_the_documented_contexts(tmp_path: Path) -> None:
    images = study_images()
    now = datetime.datetime(2026, 11, 27, 12, tzinfo=datetime.UTC)
    files = []
    report = CerviImagingMeasurementReport(
        prediction(), images, result_version=1, content_datetime=NOW
    )
    key = CerviKeyImage(
        prediction(), images["neutral"], view="neutral", result_version=1, content_datetime=now
    )
    for name, ds in (("sr.dcm", report), ("key.dcm", key)):
        ds.save_as(tmp_path / name, enforce_file_format=True)
        files.append(tmp_path / name)

    proposed: list[tuple[str, list[str]]] = []

    def record(event: Event) -> None:
        proposed.extend(
            (str(c.abstract_syntax), [str(ts) for ts in c.transfer_syntax])
            for c in event.assoc.requestor.requested_contexts
        )

    scp = AE(ae_title="PACS")
    for sop in uids("scu-sop-classes"):
        scp.add_supported_context(sop, uids("scu-transfer-syntaxes"))
    port = free_port()
    server = scp.start_server(
        ("127.0.0.1", port),
        block=False,
        evt_handlers=[(evt.EVT_REQUESTED, record), (evt.EVT_C_STORE, lambda event: 0x0000)],
    )
    try:
        outcome = DimseDestination("pacs", "PACS", "127.0.0.1", port).send(files)
    finally:
        server.shutdown()
    assert outcome.delivered, outcome.detail
    assert sorted(sop for sop, _ in proposed) == sorted(uids("scu-sop-classes"))
    assert all(syntaxes == uids("scu-transfer-syntaxes") for _, syntaxes in proposed)
