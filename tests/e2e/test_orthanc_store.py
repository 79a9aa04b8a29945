"""Orthanc, the real PACS, routes an instance to Cervi."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydicom import dcmread
from sqlalchemy import select

from cervi.bootstrap import Service
from cervi.demo.orthanc import Orthanc
from storage.tables import Instance, Study
from tests.support.dicom import make_dx, write


def test_orthanc_stores_a_dx_to_cervi(cervi: Service, orthanc: Orthanc, tmp_path: Path) -> None:
    ds = make_dx(size=256)
    orthanc_id = orthanc.upload(write(ds, tmp_path / "dx.dcm"))

    answer = orthanc.post(
        "/modalities/cervi/store", {"Resources": [orthanc_id], "Synchronous": True}
    )

    assert answer["FailedInstancesCount"] == 0 and answer["InstancesCount"] == 1
    with cervi.sessions() as session:
        row = session.execute(select(Instance)).scalar_one()
        study = session.execute(select(Study)).scalar_one()
    assert row.sop_instance_uid == ds.SOPInstanceUID
    assert row.calling_ae == "ORTHANC"
    assert study.study_uid == ds.StudyInstanceUID
    assert hashlib.sha256(Path(row.path).read_bytes()).hexdigest() == row.sha256
    assert dcmread(row.path).PixelData == ds.PixelData
