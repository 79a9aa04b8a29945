"""Study assembly end to end over real DICOM: DCMTK's storescu sends to the listener, the
after-commit hook assembles, the dispatcher seam records what it is handed. SQLite and
PostgreSQL; the restart test kills a real ``cervi serve`` process with SIGKILL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import Dataset
from sqlalchemy import select

from cervi.bootstrap import Service, build_service
from storage.db import make_engine, session_factory
from storage.tables import Dispatch, Instance, Study, StudyState
from tests.conftest import require_tool
from tests.integration.assembly_support import RecordingDispatcher, ServeProcess, wait_for
from tests.integration.conftest import make_settings
from tests.integration.test_scp_dcmtk import ENV, storescu
from tests.support.dicom import make_dx, write

VIEWS = {"extension": "HWS Reklination", "neutral": "HWS neutral", "flexion": "HWS Inklination"}


def _study(
    folder: Path, views: list[str], one_series: bool = False, seed: int = 0
) -> tuple[str, list[Path]]:
    """Files of one study with the given views; as one series, views told by ImageComments."""
    first = make_dx(seed=seed)
    series = first.SeriesInstanceUID
    paths = []
    for i, view in enumerate(views):
        ds: Dataset = make_dx(
            seed=seed + i,
            study_uid=first.StudyInstanceUID,
            series_uid=series if one_series else None,
            description="HWS seitlich Funktion" if one_series else VIEWS[view],
        )
        ds.InstanceNumber = i + 1
        if one_series:
            ds.ImageComments = {"extension": "EXT", "neutral": "NEUT", "flexion": "FLEX"}[view]
        paths.append(write(ds, folder / f"{first.StudyInstanceUID}-{i}.dcm"))
    return str(first.StudyInstanceUID), paths


def _rig(database_url: str, tmp_path: Path) -> tuple[Service, RecordingDispatcher]:
    settings = make_settings(database_url, tmp_path)
    settings.assembly.quiet_seconds = 2
    settings.assembly.min_views = 2
    dispatcher = RecordingDispatcher()
    return build_service(settings, dispatcher=dispatcher), dispatcher


@pytest.fixture
def rig(database_url: str, tmp_path: Path) -> Iterator[tuple[Service, RecordingDispatcher]]:
    service, dispatcher = _rig(database_url, tmp_path)
    service.start()
    try:
        yield service, dispatcher
    finally:
        service.stop()


def _views(service: Service, study_uid: str) -> dict[str, str | None]:
    with service.sessions() as session:
        rows = session.execute(
            select(Instance.view, Instance.view_rule)
            .join(Study)
            .where(Study.study_uid == study_uid)
        ).all()
    return dict(rows)


def test_three_views_in_three_series_one_dispatch(rig, tmp_path: Path) -> None:
    service, dispatcher = rig
    study, files = _study(tmp_path, ["extension", "neutral", "flexion"])
    assert storescu(service.listener.port, *files).count("(Success)") == 3
    assert dispatcher.for_study(study) == [("dispatch", study, 1, False)]
    assert _views(service, study) == {
        "extension": "series_description_extension",
        "neutral": "series_description_neutral",
        "flexion": "series_description_flexion",
    }
    time.sleep(2.5)  # past the quiet period: nothing more happens
    assert len(dispatcher.for_study(study)) == 1


def test_three_views_in_one_series_one_dispatch(rig, tmp_path: Path) -> None:
    service, dispatcher = rig
    study, files = _study(tmp_path, ["flexion", "neutral", "extension"], one_series=True)
    assert storescu(service.listener.port, *files).count("(Success)") == 3
    assert dispatcher.for_study(study) == [("dispatch", study, 1, False)]
    assert set(_views(service, study).values()) == {
        "image_comments_extension",
        "image_comments_neutral",
        "image_comments_flexion",
    }


def test_two_views_are_dispatched_as_partial_after_the_timer(rig, tmp_path: Path) -> None:
    service, dispatcher = rig
    study, files = _study(tmp_path, ["extension", "flexion"])
    sent = time.monotonic()
    storescu(service.listener.port, *files)
    assert dispatcher.for_study(study) == []
    wait_for(lambda: dispatcher.for_study(study), timeout=15)
    assert time.monotonic() - sent >= 1.9  # the quiet period, not earlier
    assert dispatcher.for_study(study) == [("dispatch", study, 1, True)]


def test_concurrent_senders_one_dispatch(rig, tmp_path: Path) -> None:
    service, dispatcher = rig
    command = [require_tool("storescu"), "-aet", "STORESCU", "-aec", "CERVI", "127.0.0.1"]
    for round_ in range(2):
        study, files = _study(tmp_path / str(round_), ["extension", "neutral", "flexion"])
        senders = [
            subprocess.Popen([*command, str(service.listener.port), str(f)], env=ENV) for f in files
        ]
        assert [s.wait(60) for s in senders] == [0, 0, 0]
        assert dispatcher.for_study(study) == [("dispatch", study, 1, False)]


def _dispatches(database_url: str, study_uid: str) -> list[tuple[int, bool, str]]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Dispatch.version, Dispatch.partial, Dispatch.trigger)
                .join(Study)
                .where(Study.study_uid == study_uid)
            ).all()
            state = session.scalar(select(Study.state).where(Study.study_uid == study_uid))
    finally:
        engine.dispose()
    return [(*row, state) for row in rows] if rows else []


@pytest.mark.parametrize(
    ("quiet", "down", "path"),
    # before due: the restart (process start, model load) must come well inside the quiet period
    [(12, 0.5, '"rearmed": 1'), (3, 4.0, '"overdue": 1')],
    ids=["restart-before-due", "restart-after-due"],
)
def test_kill_9_with_a_pending_timer_dispatches_once_after_restart(
    database_url: str, tmp_path: Path, quiet: float, down: float, path: str
) -> None:
    assembly = {"quiet_seconds": quiet, "min_views": 2}
    first = ServeProcess(tmp_path / "run", database_url, {"assembly": assembly}).start()
    try:
        study, files = _study(tmp_path, ["neutral", "flexion"])
        assert storescu(first.port, *files).count("(Success)") == 2
    finally:
        first.kill()  # SIGKILL with the quiet timer pending
    assert _dispatches(database_url, study) == []
    assert first.dispatch_lines(study) == 0
    time.sleep(down)
    second = ServeProcess(tmp_path / "run", database_url, {"assembly": assembly}).start()
    try:
        wait_for(lambda: _dispatches(database_url, study), timeout=20)
        time.sleep(quiet + 1)  # a second dispatch would show by now
        [(version, partial, trigger, state)] = _dispatches(database_url, study)
        assert (version, partial, trigger) == (1, True, "quiet_timer")
        assert state != StudyState.RECEIVING  # handed on to analysis (which may be done by now)
        assert second.dispatch_lines(study) == 1
        assert path in second.log()  # which way reconciliation found the study
    finally:
        second.terminate()
