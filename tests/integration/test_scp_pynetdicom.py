"""The listener against a pynetdicom client: negotiation, transfer syntaxes, failure statuses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import CTImageStorage, DigitalXRayImageStorageForPresentation
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cervi.bootstrap import Service
from dicom_node.status import Status
from storage.tables import AuditEvent, Instance
from tests.support.dicom import make_dx


@contextmanager
def associate(service: Service, *contexts: tuple[str, list[str]]) -> Iterator[Association]:
    ae = AE(ae_title="TESTSCU")
    for sop_class_uid, syntaxes in contexts:
        ae.add_requested_context(sop_class_uid, syntaxes)
    assoc = ae.associate("127.0.0.1", service.listener.port, ae_title="CERVI")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _send(service: Service, ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> int:
    with associate(service, (ds.SOPClassUID, [syntax])) as assoc:
        assert assoc.is_established
        return int(assoc.send_c_store(ds).Status)


def _instances(service: Service) -> int:
    with service.sessions() as session:
        return session.scalar(select(func.count()).select_from(Instance)) or 0


def test_sop_classes_cervi_does_not_take_are_not_negotiated(service: Service) -> None:
    with associate(
        service,
        (CTImageStorage, [ExplicitVRLittleEndian]),
        (DigitalXRayImageStorageForPresentation, [ExplicitVRLittleEndian]),
    ) as assoc:
        accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
        assert accepted == {DigitalXRayImageStorageForPresentation}
        assert [cx.abstract_syntax for cx in assoc.rejected_contexts] == [CTImageStorage]


@pytest.mark.parametrize(
    "syntax",
    [
        ImplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
    ],
)
def test_instances_are_stored_in_the_syntax_they_arrive_in(service: Service, syntax: str) -> None:
    ds = make_dx()
    if syntax.is_compressed:
        ds.compress(syntax)
    else:
        ds.file_meta.TransferSyntaxUID = syntax
    assert _send(service, ds, syntax) == Status.SUCCESS
    with service.sessions() as session:
        row = session.execute(select(Instance)).scalar_one()
    stored = dcmread(row.path)
    assert row.transfer_syntax_uid == syntax
    assert stored.file_meta.TransferSyntaxUID == syntax
    if syntax.is_compressed:
        assert stored.PixelData == ds.PixelData  # the compressed bytes, untouched
    assert (stored.pixel_array == make_dx().pixel_array).all()


def test_a_failed_commit_answers_a700_and_leaves_no_file(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_commit(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr("cervi.ingest.record_instance", failing_commit)
    assert _send(service, make_dx()) == Status.OUT_OF_RESOURCES
    assert _instances(service) == 0
    assert not [p for p in service.files.root.rglob("*") if p.is_file()]
    with service.sessions() as session:
        audit = session.execute(select(AuditEvent)).scalar_one()
    assert audit.kind == "store_failed" and audit.status == Status.OUT_OF_RESOURCES


def test_disk_falling_below_the_threshold_answers_a700(service: Service) -> None:
    ds = make_dx()
    with associate(service, (ds.SOPClassUID, [ExplicitVRLittleEndian])) as assoc:
        assert int(assoc.send_c_store(ds).Status) == Status.SUCCESS
        service.sink.min_free_disk_mb = 10**9
        status = assoc.send_c_store(make_dx()).Status
    assert status == Status.OUT_OF_RESOURCES
    assert _instances(service) == 1


def test_an_undecodable_data_set_answers_c210(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deflated data set whose bytes do not inflate cannot be understood."""
    ds = make_dx()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    good = tmp_path / "good.dcm"
    ds.save_as(good, enforce_file_format=True)
    raw = good.read_bytes()
    meta_end = 132 + 12 + dcmread(good).file_meta.FileMetaInformationGroupLength
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(raw[:meta_end] + b"not a deflate stream" * 10)
    monkeypatch.setattr("pynetdicom._config.STORE_SEND_CHUNKED_DATASET", True)
    with associate(service, (ds.SOPClassUID, [DeflatedExplicitVRLittleEndian])) as assoc:
        status = int(assoc.send_c_store(broken).Status)
        assert int(assoc.send_c_store(good).Status) == Status.SUCCESS
    assert status == Status.CANNOT_UNDERSTAND
    assert _instances(service) == 1


def test_the_listener_keeps_serving_after_bad_input(service: Service, tmp_path: Path) -> None:
    assert _send(service, make_dx(patient_id=None)) == Status.DATASET_DOES_NOT_MATCH
    assert _send(service, make_dx()) == Status.SUCCESS
    assert _instances(service) == 1
