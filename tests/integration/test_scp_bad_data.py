"""Broken data over a real association: the right status, the same on every engine, audited,
and the listener goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation
from sqlalchemy import func, select
from sqlalchemy.exc import DataError

from cervi.bootstrap import Service
from dicom_node.status import Status
from storage.tables import AuditEvent, Instance, Study
from tests.integration.test_scp_pynetdicom import associate
from tests.support import attack
from tests.support.attack import echo, wait_until
from tests.support.dicom import make_dx


def _send(service: Service, ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> int:
    with associate(service, (ds.SOPClassUID, [syntax])) as assoc:
        return int(assoc.send_c_store(ds).Status)


def _count(service: Service, model: type) -> int:
    with service.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _audit_kinds(service: Service) -> list[str]:
    service.listener.flush_audit()
    with service.sessions() as session:
        return list(session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


def test_header_values_longer_than_their_vr_are_kept_on_every_engine(service: Service) -> None:
    ds = make_dx(patient_id="P" * 100)
    ds.AccessionNumber = "A" * 40
    ds.Modality = "M" * 40
    ds.StudyDate = "2024-01-01T00:00"
    assert _send(service, ds) == Status.SUCCESS
    with service.sessions() as session:
        study = session.scalars(select(Study)).one()
        instance = session.scalars(select(Instance)).one()
    assert (study.patient_id, study.accession_number) == ("P" * 100, "A" * 40)
    assert instance.modality == "M" * 40
    assert study.study_date == "20240101"
    assert instance.header["StudyDate"] == "2024-01-01T00:00"


def test_nul_characters_in_header_values_are_dropped_on_every_engine(service: Service) -> None:
    ds = make_dx(patient_id="P1\x00")
    ds.AccessionNumber = "A\x001"
    ds.SeriesDescription = "lat\x00eral"
    assert _send(service, ds) == Status.SUCCESS
    with service.sessions() as session:
        study = session.scalars(select(Study)).one()
        instance = session.scalars(select(Instance)).one()
    assert (study.patient_id, study.accession_number) == ("P1", "A1")
    assert instance.header["SeriesDescription"] == "lateral"


def test_a_value_the_database_refuses_is_not_out_of_resources(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise DataError("INSERT ...", {}, Exception("value too long"))

    monkeypatch.setattr("cervi.ingest.record_instance", refuse)
    assert _send(service, make_dx()) == Status.CANNOT_UNDERSTAND
    assert _audit_kinds(service) == ["store_refused"]
    assert not list(Path(service.settings.storage.instance_dir).rglob("*.dcm"))


def test_native_pixel_data_shorter_than_declared_answers_c210(service: Service) -> None:
    ds = make_dx()
    ds.Rows = ds.Columns = 10_000  # 200 MB declared, 8 KiB sent
    assert _send(service, ds) == Status.CANNOT_UNDERSTAND
    assert _count(service, Instance) == 0
    assert _audit_kinds(service) == ["corrupt_pixel_data"]
    assert _send(service, make_dx()) == Status.SUCCESS


def test_encapsulated_pixel_data_cut_short_answers_c210(service: Service) -> None:
    ds = make_dx()
    ds.compress(RLELossless)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    assert _send(service, ds, RLELossless) == Status.CANNOT_UNDERSTAND
    assert _count(service, Instance) == 0
    assert _audit_kinds(service) == ["corrupt_pixel_data"]


def test_a_70_character_uid_in_the_command_is_aborted_and_audited(service: Service) -> None:
    port = service.listener.port
    dx = DigitalXRayImageStorageForPresentation
    sock = attack.associate(port, attack.attacker(1), dx)
    try:
        sock.sendall(attack.p_data(attack.store_command(dx, "1.2." + "3" * 66), command=True))
        sock.sendall(attack.p_data(encode(make_dx(), False, True), command=False))
        reply = attack.read_pdu(sock, 10)
    finally:
        sock.close()
    assert reply is not None and reply[0] == attack.ABORT_PDU
    # Recorded as the state machine takes the transition, just after the A-ABORT is sent.
    assert wait_until(lambda: _audit_kinds(service) == ["invalid_pdu"], 5)
    with service.sessions() as session:
        assert session.scalars(select(AuditEvent.peer)).one() == attack.attacker(1)
    assert echo(port) == Status.SUCCESS
