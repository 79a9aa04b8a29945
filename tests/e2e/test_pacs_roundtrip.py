"""PACS -> Cervi -> PACS with Orthanc as the PACS and the shipped model: a phantom study
pushed from Orthanc gains an SR series; results survive a PACS outage; a two-view study is
reported as not analysed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import select

from cervi.bootstrap import Service, build_service
from cervi.demo.orthanc import Orthanc
from cervi.settings import Destination
from dicom_node.sr import CerviImagingMeasurementReport, CerviNotAnalysedReport, read_report
from inference.phantom import SynthOptions, generate_study, write_study
from storage.tables import Delivery
from tests.conftest import require_tool
from tests.integration.conftest import make_settings

LABELS = {
    "atlantoaxial_instability",
    "atlantoaxial_dislocation",
    "basilar_invagination",
    "os_odontoideum",
    "atlas_assimilation",
    "c2_c3_fusion",
}


@dataclass
class Site:
    pacs: Orthanc
    cervi: Service
    folder: Path

    def upload(self, index: int, views: tuple[str, ...] | None = None) -> tuple[str, str]:
        """Write phantom study ``index`` and upload it (or some of its views) to Orthanc;
        return (Orthanc study ID, StudyInstanceUID)."""
        study = generate_study(seed=4242, index=index, options=SynthOptions(scale=0.5))
        folder = write_study(study, self.folder / "studies")
        files = study.truth["files"]
        chosen = views or tuple(files)
        for view in chosen:
            orthanc_id = self.pacs.upload(folder / files[view])
        parent = self.pacs.get(f"/instances/{orthanc_id}/study")
        return parent["ID"], study.truth["study_uid"]

    def push(self, orthanc_study: str) -> None:
        answer = self.pacs.post(
            "/modalities/cervi/store", {"Resources": [orthanc_study], "Synchronous": True}
        )
        assert answer["FailedInstancesCount"] == 0

    def series(self, orthanc_study: str, sr: bool) -> list[str]:
        """Orthanc instance IDs of the study's SR series (``sr``) or of its image series."""
        return [
            instance
            for series in self.pacs.get(f"/studies/{orthanc_study}/series")
            if (series["MainDicomTags"].get("Modality") == "SR") == sr
            for instance in series["Instances"]
        ]

    def wait_for_srs(self, orthanc_study: str, count: int = 1, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            srs = self.series(orthanc_study, sr=True)
            if len(srs) >= count or time.monotonic() > deadline:
                return srs
            time.sleep(0.1)

    def report(self, orthanc_instance: str) -> object:
        path = self.folder / f"{orthanc_instance}.dcm"
        path.write_bytes(self.pacs.request_bytes(f"/instances/{orthanc_instance}/file"))
        return read_report(dcmread(path))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    require_tool("Orthanc")
    pacs = Orthanc(tmp_path / "orthanc")
    settings = make_settings(f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path)
    settings.assembly.quiet_seconds = 2
    settings.results.retry.first_seconds = 1
    settings.results.destinations = [
        Destination(name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=pacs.dicom_port)
    ]
    cervi = build_service(settings)
    cervi.start()
    pacs.modalities = {"cervi": ("CERVI", "127.0.0.1", cervi.listener.port)}
    pacs.start()
    try:
        yield Site(pacs, cervi, tmp_path)
    finally:
        pacs.stop()
        cervi.stop()


def test_a_pushed_study_gains_an_sr_with_findings_rois_and_references(site: Site) -> None:
    orthanc_study, study_uid = site.upload(index=1)
    site.push(orthanc_study)
    [sr_id] = site.wait_for_srs(orthanc_study)
    report = site.report(sr_id)
    assert isinstance(report, CerviImagingMeasurementReport)
    assert report.StudyInstanceUID == study_uid
    assert set(report.probabilities) == LABELS
    assert set(report.regions) == {"extension", "neutral", "flexion"}
    sources = {
        site.pacs.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
        for i in site.series(orthanc_study, sr=False)
    }
    assert set(report.image_views.values()) == sources
    assert not report.for_diagnostic_use


def test_with_the_pacs_down_the_sr_arrives_once_after_it_returns(site: Site) -> None:
    orthanc_study, study_uid = site.upload(index=2)
    site.pacs.stop()
    folder = site.folder / "studies" / "study_00002"
    # The PACS pushed the study just before it went down.
    storescu = [require_tool("storescu"), "-aet", "ORTHANC", "-aec", "CERVI", "127.0.0.1"]
    subprocess.run(
        [*storescu, str(site.cervi.listener.port), *map(str, sorted(folder.glob("*.dcm")))],
        check=True,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with site.cervi.sessions() as session:
            rows = list(session.scalars(select(Delivery)))
        if rows and rows[0].attempts >= 1:
            break
        time.sleep(0.1)
    assert rows and rows[0].state == "pending" and rows[0].attempts >= 1
    site.pacs.start()
    srs = site.wait_for_srs(orthanc_study)
    time.sleep(3)  # more than the retry interval: a second copy would show by now
    assert len(site.wait_for_srs(orthanc_study, count=2, timeout=0)) == len(srs) == 1
    with site.cervi.sessions() as session:
        assert [d.state for d in session.scalars(select(Delivery))] == ["delivered"]


def test_a_two_view_study_is_reported_not_analysed(site: Site) -> None:
    orthanc_study, _ = site.upload(index=3, views=("extension", "neutral"))
    site.push(orthanc_study)
    [sr_id] = site.wait_for_srs(orthanc_study, timeout=60)
    report = site.report(sr_id)
    assert isinstance(report, CerviNotAnalysedReport)
    assert report.missing == ("flexion",)
