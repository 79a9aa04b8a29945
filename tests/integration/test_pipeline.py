"""Listener -> assembly -> pipeline -> SR -> outbox with storescu, on SQLite and PostgreSQL.

The model is not the subject here (tests/e2e runs the shipped one): an in-memory analyser
gives fixed probabilities, or fails on purpose.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import SecondaryCaptureImageStorage
from sqlalchemy import select

from cervi import metrics
from cervi.bootstrap import Service, build_service
from cervi.settings import Destination
from dicom_node.sr import CerviImagingMeasurementReport, CerviNotAnalysedReport, read_report
from storage.db import transaction
from storage.detail import study_detail
from storage.tables import (
    Delivery,
    DomainScore,
    Finding,
    Instance,
    MeasurementRow,
    Region,
    Result,
    Study,
)
from tests.conftest import require_tool
from tests.integration.conftest import make_settings
from tests.support.analyser import FixedAnalyser
from tests.support.dicom import make_dx, write
from tests.support.net import free_port

VIEWS = ("extension", "neutral", "flexion")


def start(
    database_url: str, tmp_path: Path, analyser: FixedAnalyser, **assembly: object
) -> Service:
    settings = make_settings(database_url, tmp_path)
    settings.assembly.quiet_seconds = float(assembly.get("quiet_seconds", 60))
    service = build_service(settings, analyser=analyser)
    service.start()
    return service


@pytest.fixture
def analyser() -> FixedAnalyser:
    return FixedAnalyser()


@pytest.fixture
def service(database_url: str, tmp_path: Path, analyser: FixedAnalyser) -> Iterator[Service]:
    running = start(database_url, tmp_path, analyser)
    yield running
    running.stop()


def send_study(
    service: Service, folder: Path, views: tuple[str, ...] = VIEWS, named: bool = True
) -> str:
    study = make_dx()
    files = [
        write(
            make_dx(
                study_uid=study.StudyInstanceUID,
                description=f"HWS lateral {view}" if named else "C-spine",
                seed=i,
                size=64,
            ),
            folder / f"{view}.dcm",
        )
        for i, view in enumerate(views)
    ]
    command = [require_tool("storescu"), "-aec", "CERVI", "127.0.0.1", str(service.listener.port)]
    subprocess.run([*command, *map(str, files)], check=True, env={**os.environ, "TCP_NODELAY": "1"})
    return str(study.StudyInstanceUID)


def wait_for_state(
    service: Service, study_uid: str, states: set[str], timeout: float = 30
) -> Study:
    deadline = time.monotonic() + timeout
    while True:
        with service.sessions() as session:
            study = session.scalar(select(Study).where(Study.study_uid == study_uid))
        if study is not None and study.state in states:
            return study
        if time.monotonic() > deadline:
            raise AssertionError(f"study state {study.state if study else None}, wanted {states}")
        time.sleep(0.05)


def results(service: Service, study_uid: str) -> list[Result]:
    with service.sessions() as session:
        return list(
            session.scalars(
                select(Result)
                .join(Study)
                .where(Study.study_uid == study_uid)
                .order_by(Result.version)
            )
        )


def test_a_complete_study_is_analysed_and_its_sr_stored(
    service: Service, tmp_path: Path, analyser: FixedAnalyser
) -> None:
    study_uid = send_study(service, tmp_path / "send")
    wait_for_state(service, study_uid, {"analysed"})
    [result] = results(service, study_uid)
    assert analyser.calls == [("extension", "flexion", "neutral")]
    assert result.outcome == "analysed" and result.version == 1
    assert result.model_version == "0.0.1-test" and result.latency_ms is not None
    with service.sessions() as session:
        findings = {
            f.label: f
            for f in session.scalars(select(Finding).where(Finding.result_id == result.id))
        }
        regions = list(session.scalars(select(Region).where(Region.result_id == result.id)))
        rows = list(
            session.scalars(select(MeasurementRow).where(MeasurementRow.result_id == result.id))
        )
    assert findings["atlantoaxial_instability"].present and not findings["c2_c3_fusion"].present
    adi = {r.view: r for r in rows if r.name == "adi_mm"}
    assert sorted(adi) == sorted(VIEWS) and adi["flexion"].unit == "mm"
    assert adi["flexion"].sop_instance_uid == next(
        r.sop_instance_uid for r in regions if r.view == "flexion"
    )
    assert {r.name for r in rows if r.scope == "study"} >= {"adi_change_mm", "c2_c3_motion_deg"}
    assert sorted(r.view for r in regions) == sorted(VIEWS)
    report = read_report(dcmread(result.sr_path))
    assert isinstance(report, CerviImagingMeasurementReport)
    assert report.StudyInstanceUID == study_uid
    assert report.probabilities["atlantoaxial_instability"] == pytest.approx(0.91)
    assert report.measurements["adi_mm_flexion"] == pytest.approx(adi["flexion"].value)
    assert report.SOPInstanceUID == result.sr_sop_instance_uid


def test_reprocess_makes_version_2_naming_its_predecessor(service: Service, tmp_path: Path) -> None:
    study_uid = send_study(service, tmp_path / "send")
    wait_for_state(service, study_uid, {"analysed"})
    assert service.reprocess(study_uid)
    deadline = time.monotonic() + 30
    while len(results(service, study_uid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first, second = results(service, study_uid)
    report = read_report(dcmread(second.sr_path))
    assert second.version == 2 and report.result_version == 2
    assert report.predecessor is not None
    assert report.predecessor.sop_instance_uid == first.sr_sop_instance_uid
    assert not service.reprocess("1.2.3.999")


def test_two_views_after_the_quiet_timer_are_not_analysed(
    database_url: str, tmp_path: Path, analyser: FixedAnalyser
) -> None:
    service = start(database_url, tmp_path, analyser, quiet_seconds=2)
    try:
        study_uid = send_study(service, tmp_path / "send", views=("extension", "neutral"))
        wait_for_state(service, study_uid, {"not_analysed"}, timeout=30)
    finally:
        service.stop()
    [result] = results(service, study_uid)
    assert result.outcome == "not_analysed" and "flexion" in (result.reason or "")
    report = read_report(dcmread(result.sr_path))
    assert isinstance(report, CerviNotAnalysedReport)
    assert report.missing == ("flexion",)
    assert analyser.calls == []


def test_an_unreadable_view_is_reported_not_analysed(database_url: str, tmp_path: Path) -> None:
    service = start(database_url, tmp_path, FixedAnalyser(unreadable="flexion"))
    try:
        study_uid = send_study(service, tmp_path / "send")
        study = wait_for_state(service, study_uid, {"not_analysed"})
    finally:
        service.stop()
    report = read_report(dcmread(results(service, study_uid)[0].sr_path))
    assert report.unreadable == ("flexion",)
    assert study.state_reason == "unreadable flexion"


def test_a_view_outside_the_training_domain_is_reported_not_analysed(
    database_url: str, tmp_path: Path
) -> None:
    service = start(database_url, tmp_path, FixedAnalyser(outside="neutral"))
    try:
        study_uid = send_study(service, tmp_path / "send")
        study = wait_for_state(service, study_uid, {"not_analysed"})
        with service.sessions() as session:
            scraped = metrics.render(session)
            detail = study_detail(session, study_uid)
    finally:
        service.stop()
    [result] = results(service, study_uid)
    assert study.state_reason == "image outside the model's training domain: neutral"
    assert result.reason_code == "outside_domain"
    report = read_report(dcmread(result.sr_path))
    assert isinstance(report, CerviNotAnalysedReport)
    assert report.outside_domain == ("neutral",)
    assert report.reason == study.state_reason
    assert report.missing == () and report.unreadable == ()
    with service.sessions() as session:
        scores = {
            d.view: d
            for d in session.scalars(select(DomainScore).where(DomainScore.result_id == result.id))
        }
        findings = list(session.scalars(select(Finding).where(Finding.result_id == result.id)))
    assert findings == []  # no probability of a refused study is kept
    assert sorted(scores) == sorted(VIEWS)
    assert not scores["neutral"].in_domain and scores["neutral"].distance == 4.5
    assert scores["flexion"].in_domain and scores["flexion"].threshold == 1.1
    assert 'cervi_not_analysed_total{reason="outside_domain"} 1' in scraped
    shown = {d["view"]: d for d in detail["results"][0]["domain"]}
    assert shown["neutral"]["in_domain"] is False and shown["neutral"]["distance"] == 4.5
    assert detail["results"][0]["reason_code"] == "outside_domain"


def test_a_model_failure_is_recorded_as_failed(database_url: str, tmp_path: Path) -> None:
    service = start(database_url, tmp_path, FixedAnalyser(fail=True))
    try:
        study_uid = send_study(service, tmp_path / "send")
        study = wait_for_state(service, study_uid, {"failed"})
    finally:
        service.stop()
    assert study.state_reason == "analysis failed: RuntimeError"
    assert results(service, study_uid) == []


def test_an_interrupted_analysis_resumes_on_start(
    database_url: str, tmp_path: Path, analyser: FixedAnalyser
) -> None:
    service = start(database_url, tmp_path, analyser)
    study_uid = send_study(service, tmp_path / "send")
    wait_for_state(service, study_uid, {"analysed"})
    service.stop()
    with transaction(service.sessions) as session:  # as if the process died before the state
        session.scalar(select(Study).where(Study.study_uid == study_uid)).state = "processing"
    again = start(database_url, tmp_path, analyser)
    try:
        wait_for_state(again, study_uid, {"analysed"})
    finally:
        again.stop()
    assert len(results(again, study_uid)) == 1 and len(analyser.calls) == 1


def test_cervi_own_sr_coming_back_is_taken_and_ignored(service: Service, tmp_path: Path) -> None:
    study_uid = send_study(service, tmp_path / "send")
    wait_for_state(service, study_uid, {"analysed"})
    [result] = results(service, study_uid)
    command = [require_tool("storescu"), "-R", "-aec", "CERVI", "127.0.0.1"]
    command.append(str(service.listener.port))  # -R: propose what the files need (SR included)
    done = subprocess.run(
        [*command, result.sr_path],
        capture_output=True,
        text=True,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    assert done.returncode == 0, done.stderr  # accepted, so a routing PACS does not retry it
    time.sleep(1)  # assembly runs right after the commit; a new version would start now
    study = wait_for_state(service, study_uid, {"analysed"})
    assert study.result_version == 1 and len(results(service, study_uid)) == 1


def test_views_no_header_names_are_named_by_the_image(
    database_url: str, tmp_path: Path, analyser: FixedAnalyser
) -> None:
    # three unnamed images for three views: analysed at once, long before the quiet timer
    service = start(database_url, tmp_path, analyser, quiet_seconds=600)
    try:
        study_uid = send_study(service, tmp_path / "send", named=False)
        wait_for_state(service, study_uid, {"analysed"}, timeout=30)
    finally:
        service.stop()
    assert analyser.calls == [("extension", "flexion", "neutral")]
    with service.sessions() as session:
        rules = session.scalars(
            select(Instance.view_rule).join(Study).where(Study.study_uid == study_uid)
        )
        assert set(rules) == {"image"}


def test_an_unreadable_image_among_unnamed_ones_gets_the_not_analysed_report(
    database_url: str, tmp_path: Path
) -> None:
    service = start(database_url, tmp_path, FixedAnalyser(naming_fails=True), quiet_seconds=600)
    try:
        study_uid = send_study(service, tmp_path / "send", named=False)
        study = wait_for_state(service, study_uid, {"not_analysed", "failed"}, timeout=30)
    finally:
        service.stop()
    assert (study.state, study.state_reason) == ("not_analysed", "no view identified")
    [result] = results(service, study_uid)
    report = read_report(dcmread(result.sr_path))
    assert isinstance(report, CerviNotAnalysedReport)
    assert set(report.missing) == set(VIEWS)


def test_the_optional_key_image_is_queued_with_the_sr(
    database_url: str, tmp_path: Path, analyser: FixedAnalyser
) -> None:
    settings = make_settings(database_url, tmp_path)
    settings.results.key_image = True
    settings.results.destinations = [
        Destination(name="pacs", ae_title="NOBODY", host="127.0.0.1", port=free_port())
    ]
    service = build_service(settings, analyser=analyser)
    service.start()
    try:
        study_uid = send_study(service, tmp_path / "send")
        wait_for_state(service, study_uid, {"analysed"})
        with service.sessions() as session:
            paths = list(session.scalars(select(Delivery.path).order_by(Delivery.id)))
    finally:
        service.stop()
    sr, key = (dcmread(p) for p in paths)
    assert read_report(sr).StudyInstanceUID == study_uid
    assert key.SOPClassUID == SecondaryCaptureImageStorage and key.StudyInstanceUID == study_uid
    assert "NOT FOR DIAGNOSTIC USE" in str(key.get("ImageComments", "")) + key.SeriesDescription
