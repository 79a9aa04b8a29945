"""Orthanc as the PACS with DICOM TLS (mutual, certificates from the test) and Storage
Commitment: Orthanc routes to Cervi's TLS port, Cervi delivers to Orthanc's TLS port and asks
for commitment, and Orthanc's N-EVENT-REPORT comes back over TLS to Cervi's listener."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cervi.bootstrap import Service, build_service
from cervi.demo.orthanc import Orthanc
from cervi.settings import Settings
from dicom_node.scu import DimseDestination, Verdict
from storage import deliveries
from storage.db import transaction
from storage.tables import AuditEvent, Delivery, DeliveryState, Instance, Result, Study
from tests.conftest import require_tool
from tests.integration.conftest import make_settings
from tests.support.certs import Pki, make_pki
from tests.support.dicom import make_dx, write
from tests.support.net import free_port


@dataclass
class TlsOrthanc(Orthanc):
    """Orthanc whose DICOM port speaks only TLS and requires a client certificate."""

    pki: Pki | None = None
    cervi_port: int = 0

    def config(self) -> dict[str, Any]:
        assert self.pki is not None
        config = super().config()
        config.update(
            DicomTlsEnabled=True,
            DicomTlsCertificate=str(self.pki.server.certificate),
            DicomTlsPrivateKey=str(self.pki.server.key),
            DicomTlsTrustedCertificates=str(self.pki.ca),
            DicomTlsRemoteCertificateRequired=True,
            DicomModalities={
                "cervi": {
                    "AET": "CERVI",
                    "Host": "127.0.0.1",
                    "Port": self.cervi_port,
                    "UseDicomTls": True,
                }
            },
        )
        return config


@pytest.fixture
def secure_pair(tmp_path: Path) -> Iterator[tuple[Service, TlsOrthanc]]:
    """Cervi on TLS only (client certificates required) with Orthanc as its committing PACS."""
    require_tool("Orthanc")
    pki = make_pki(tmp_path / "pki")
    orthanc_port = free_port()
    data = make_settings(f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path).model_dump()
    data["node"].update(
        port=None,
        tls={
            "port": 0,
            "certificate": pki.server.certificate,
            "private_key": pki.server.key,
            "client_ca": pki.ca,
        },
    )
    data["results"]["destinations"] = [
        {
            "name": "pacs",
            "ae_title": "ORTHANC",
            "host": "127.0.0.1",
            "port": orthanc_port,
            "tls": {"ca": pki.ca},  # client certificate: the listener's
            "commitment": True,
            "commitment_timeout_seconds": 60,
        }
    ]
    cervi = build_service(Settings.model_validate(data))
    cervi.start()
    assert cervi.tls_listener is not None
    pacs = TlsOrthanc(
        tmp_path / "orthanc", dicom_port=orthanc_port, pki=pki, cervi_port=cervi.tls_listener.port
    )
    try:
        pacs.start()
        yield cervi, pacs
    finally:
        pacs.stop()
        cervi.stop()


def test_orthanc_routes_to_cervi_over_tls(secure_pair, tmp_path: Path) -> None:
    cervi, pacs = secure_pair
    ds = make_dx(size=128)
    orthanc_id = pacs.upload(write(ds, tmp_path / "dx.dcm"))
    answer = pacs.post("/modalities/cervi/store", {"Resources": [orthanc_id], "Synchronous": True})
    assert answer["FailedInstancesCount"] == 0 and answer["InstancesCount"] == 1
    with cervi.sessions() as session:
        row = session.execute(select(Instance)).scalar_one()
    assert row.sop_instance_uid == ds.SOPInstanceUID and row.calling_ae == "ORTHANC"


def test_delivery_over_tls_is_committed_by_orthanc(secure_pair, tmp_path: Path) -> None:
    cervi, pacs = secure_pair
    uids = []
    with transaction(cervi.sessions) as session:
        study = Study(study_uid="1.2.826.0.1.3680043.10.1434.77", patient_id="P")
        session.add(study)
        session.flush()
        result = Result(study_id=study.id, version=1, outcome="analysed")
        session.add(result)
        session.flush()
        for i in range(2):
            ds = make_dx(seed=i, study_uid=study.study_uid)
            path = write(ds, tmp_path / "out" / f"{i}.dcm")
            deliveries.queue(session, result.id, "pacs", ds.SOPInstanceUID, str(path))
            uids.append(ds.SOPInstanceUID)
    cervi.delivery_loop.wake()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with cervi.sessions() as session:
            rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        if all(r.state == DeliveryState.COMMITTED for r in rows):
            break
        time.sleep(0.1)
    assert [r.state for r in rows] == [DeliveryState.COMMITTED] * 2, [r.last_error for r in rows]
    assert len({r.transaction_uid for r in rows}) == 1 and rows[0].attempts == 1
    stored = {
        pacs.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
        for i in pacs.get("/instances")
    }
    assert stored == set(uids)
    # Orthanc sent the report on its own association to Cervi's TLS listener (on the sending
    # association the calling AE would be Cervi's).
    with cervi.sessions() as session:
        reports = list(
            session.scalars(select(AuditEvent).where(AuditEvent.kind == "commitment_report"))
        )
    assert [r.calling_ae for r in reports] == ["ORTHANC"]
    assert "2 committed, 0 failed" in (reports[0].detail or "")


def test_orthanc_tls_refuses_plain_dicom(secure_pair, tmp_path: Path) -> None:
    _, pacs = secure_pair
    path = write(make_dx(), tmp_path / "x.dcm")
    outcome = DimseDestination("pacs", "ORTHANC", "127.0.0.1", pacs.dicom_port, timeout=5).send(
        [path]
    )
    assert outcome.verdict is Verdict.TRANSIENT
    assert pacs.get("/instances") == []
