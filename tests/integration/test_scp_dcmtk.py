"""The listener against DCMTK's echoscu and storescu over real loopback sockets."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import func, select

from cervi.bootstrap import Service, build_service
from storage.tables import AuditEvent, Instance, Study, StudyState
from tests.conftest import require_tool
from tests.integration.conftest import make_settings
from tests.support.dicom import make_dx, write

ENV = {**os.environ, "TCP_NODELAY": "1"}


def storescu(port: int, *files: Path, calling: str = "STORESCU", called: str = "CERVI") -> str:
    """Run storescu; return its combined output (it exits non-zero on any failure status)."""
    command = [require_tool("storescu"), "-v", "-aet", calling, "-aec", called, "127.0.0.1"]
    command += [str(port), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=60)
    return done.stdout + done.stderr


def _count(service: Service, table: type) -> int:
    with service.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def _audit_kinds(service: Service, expect: int = 0) -> list[str]:
    """Audit row kinds, oldest first; waits up to 5 s for ``expect`` rows (an association
    rejection is answered first and audited right after)."""
    deadline = time.monotonic() + 5
    while True:
        with service.sessions() as session:
            kinds = list(session.execute(select(AuditEvent.kind).order_by(AuditEvent.id)).scalars())
        if len(kinds) >= expect or time.monotonic() > deadline:
            return kinds
        time.sleep(0.05)


def test_echoscu_is_answered(service: Service) -> None:
    done = subprocess.run(
        [require_tool("echoscu"), "-aec", "CERVI", "127.0.0.1", str(service.listener.port)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def test_stored_instance_is_on_disk_and_in_the_database(service: Service, tmp_path: Path) -> None:
    ds = make_dx()
    output = storescu(service.listener.port, write(ds, tmp_path / "a.dcm"))
    assert "Received Store Response (Success)" in output, output
    with service.sessions() as session:
        row = session.execute(select(Instance)).scalar_one()
        study = session.execute(select(Study)).scalar_one()
    data = Path(row.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row.sha256 and len(data) == row.size
    stored = dcmread(row.path)
    assert stored.SOPInstanceUID == ds.SOPInstanceUID
    assert stored.PixelData == ds.PixelData  # stored as received
    assert study.study_uid == ds.StudyInstanceUID and study.patient_id == "CERVI-TEST-1"
    assert row.header["SeriesDescription"] == ds.SeriesDescription


def test_identical_resend_succeeds_and_changes_nothing(service: Service, tmp_path: Path) -> None:
    path = write(make_dx(), tmp_path / "a.dcm")
    storescu(service.listener.port, path)
    with service.sessions() as session:
        before = session.execute(select(Instance.path, Instance.received_at)).one()
    output = storescu(service.listener.port, path)
    assert "Received Store Response (Success)" in output
    with service.sessions() as session:
        assert session.execute(select(Instance.path, Instance.received_at)).one() == before
    assert _count(service, Instance) == 1
    assert len([p for p in service.files.root.rglob("*.dcm")]) == 1
    assert _audit_kinds(service) == []


def test_changed_resend_replaces_reopens_and_is_audited(service: Service, tmp_path: Path) -> None:
    first = make_dx(seed=1)
    storescu(service.listener.port, write(first, tmp_path / "a.dcm"))
    with service.sessions() as session, session.begin():
        session.execute(select(Study)).scalar_one().state = StudyState.ANALYSED.value
    changed = make_dx(
        seed=2,
        study_uid=first.StudyInstanceUID,
        series_uid=first.SeriesInstanceUID,
        sop_uid=first.SOPInstanceUID,
    )
    output = storescu(service.listener.port, write(changed, tmp_path / "b.dcm"))
    assert "Received Store Response (Success)" in output
    with service.sessions() as session:
        row = session.execute(select(Instance)).scalar_one()
        assert session.execute(select(Study.state)).scalar_one() == StudyState.RECEIVING
    assert dcmread(row.path).PixelData == changed.PixelData
    assert [p for p in service.files.root.rglob("*.dcm")] == [Path(row.path)]
    assert _audit_kinds(service) == ["instance_replaced"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"patient_id": None}, "PatientID"),
        ({"study_uid": "1.2.840.abc"}, "StudyInstanceUID"),
        ({"series_uid": "1.2.840.01"}, "SeriesInstanceUID"),
    ],
)
def test_bad_identifiers_get_a900_and_nothing_is_stored(
    service: Service, tmp_path: Path, change: dict, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    ds = make_dx(**change)
    output = storescu(service.listener.port, write(ds, tmp_path / "bad.dcm"))
    assert "Error: DataSetDoesNotMatchSOPClass" in output, output  # 0xA900
    assert _count(service, Instance) == 0 and _count(service, Study) == 0
    assert not [p for p in service.files.root.rglob("*") if p.is_file()]
    assert _audit_kinds(service) == ["bad_identifier"]
    refusals = [r for r in caplog.records if r.name == "cervi.scp" and r.levelname == "WARNING"]
    assert len(refusals) == 1 and named in refusals[0].getMessage()
    assert "CERVI-TEST-1" not in caplog.text and "Phantom" not in caplog.text


def test_unknown_calling_ae_is_rejected_permanently(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, allowed_callers=["PACS@127.0.0.1"])
    running = build_service(settings)
    running.start()
    try:
        path = write(make_dx(), tmp_path / "a.dcm")
        output = storescu(running.listener.port, path, calling="INTRUDER")
        assert "Rejected Permanent" in output and "Calling AE Title Not Recognized" in output
        output = storescu(running.listener.port, path, calling="PACS")
        assert "Received Store Response (Success)" in output
        assert _audit_kinds(running, expect=1) == ["calling_ae_rejected"]
        assert _count(running, Instance) == 1
    finally:
        running.stop()


def test_wrong_called_ae_is_rejected(service: Service, tmp_path: Path) -> None:
    output = storescu(service.listener.port, write(make_dx(), tmp_path / "a.dcm"), called="OTHER")
    assert "Called AE Title Not Recognized" in output
    assert _audit_kinds(service, expect=1) == ["called_ae_rejected"]


def test_low_disk_rejects_associations_as_transient(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    settings.storage.min_free_disk_mb = 10**9  # a threshold above any free space
    running = build_service(settings)
    running.start()
    try:
        output = storescu(running.listener.port, write(make_dx(), tmp_path / "a.dcm"))
        assert "Rejected Transient" in output, output
        assert _count(running, Instance) == 0
        assert _audit_kinds(running, expect=1) == ["low_disk_rejected"]
    finally:
        running.stop()
