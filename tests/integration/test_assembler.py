"""The study assembler over a real database (SQLite and PostgreSQL) and a real APScheduler:
rows are committed the way ingest commits them, then the after-commit entry point is called."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cervi import cli
from cervi.assembler import StudyAssembler, assembly_config
from cervi.commands.studies import HEADER
from cervi.settings import AssemblySettings
from storage.db import transaction
from storage.studies import claim_version, finish_version, start_processing
from storage.tables import Dispatch, Instance, Result, Study, StudyState, utcnow
from tests.integration.assembly_support import (
    SR,
    RecordingDispatcher,
    header,
    migrated_engine,
    new_sessions,
    store_row,
    study_row,
    uid,
    wait_for,
)

FLEX = {"SeriesDescription": "HWS Inklination"}
NEUT = {"SeriesDescription": "HWS neutral"}
EXT = {"SeriesDescription": "HWS Reklination"}


@dataclass
class Rig:
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: RecordingDispatcher
    scheduler: BackgroundScheduler
    assembler: StudyAssembler

    def store(self, study_uid: str, fields: dict, **kwargs: object) -> int:
        instance_id = store_row(self.sessions, study_uid, header(fields), **kwargs)  # type: ignore[arg-type]
        self.assembler.instance_stored(instance_id)
        return instance_id

    def dispatches(self, study_uid: str) -> list[Dispatch]:
        with self.sessions() as session:
            query = select(Dispatch).join(Study).where(Study.study_uid == study_uid)
            return list(session.scalars(query.order_by(Dispatch.version)))

    def restart(self, **settings: object) -> Rig:
        """A new assembler and scheduler on the same database, as after a process restart."""
        self.scheduler.shutdown(wait=False)
        return make_rig(self.engine, **settings)


def make_rig(engine: Engine, **settings: object) -> Rig:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start()
    dispatcher = RecordingDispatcher()
    sessions = new_sessions(engine)
    config = assembly_config(AssemblySettings.model_validate(settings))
    return Rig(
        engine,
        sessions,
        dispatcher,
        scheduler,
        StudyAssembler(sessions, config, dispatcher, scheduler),
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = migrated_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def rig(engine: Engine) -> Iterator[Rig]:
    """Quiet period long enough that no timer fires inside a test that does not wait for one."""
    rig = make_rig(engine, quiet_seconds=60, min_views=2)
    yield rig
    rig.scheduler.shutdown(wait=False)


@pytest.fixture
def quick(engine: Engine) -> Iterator[Rig]:
    """A one-second quiet period, for the tests that wait for the timer."""
    rig = make_rig(engine, quiet_seconds=1, min_views=2)
    yield rig
    rig.scheduler.shutdown(wait=False)


def test_three_series_study_is_dispatched_once_at_the_last_view(rig: Rig) -> None:
    study = uid()
    rig.store(study, EXT)
    rig.store(study, NEUT)
    assert rig.dispatcher.for_study(study) == []
    assert rig.scheduler.get_job(f"assembly-quiet-{study_row(rig.sessions, study).id}")
    rig.store(study, FLEX)
    assert rig.dispatcher.for_study(study) == [("dispatch", study, 1, False)]
    row = study_row(rig.sessions, study)
    assert (row.state, row.result_version, row.due_at) == (StudyState.READY, 1, None)
    assert rig.scheduler.get_job(f"assembly-quiet-{row.id}") is None
    [dispatch] = rig.dispatches(study)
    assert (dispatch.kind, dispatch.trigger, dispatch.partial) == ("analyse", "arrival", False)
    with rig.sessions() as session:
        views = session.execute(
            select(Instance.view, Instance.view_rule).where(Instance.study_id == row.id)
        ).all()
    assert sorted(views) == [
        ("extension", "series_description_extension"),
        ("flexion", "series_description_flexion"),
        ("neutral", "series_description_neutral"),
    ]


def test_two_views_are_dispatched_as_partial_after_the_quiet_period(quick: Rig) -> None:
    study = uid()
    quick.store(study, EXT)
    quick.store(study, FLEX)
    due = study_row(quick.sessions, study).due_at
    assert due is not None and due > utcnow()
    wait_for(lambda: quick.dispatcher.for_study(study), timeout=10)
    assert quick.dispatcher.for_study(study) == [("dispatch", study, 1, True)]
    [dispatch] = quick.dispatches(study)
    assert (dispatch.trigger, dispatch.reason) == ("quiet_timer", "partial: missing neutral")
    assert study_row(quick.sessions, study).state == StudyState.READY


def test_one_view_is_reported_not_analysed(quick: Rig) -> None:
    study = uid()
    quick.store(study, NEUT)
    wait_for(lambda: quick.dispatcher.for_study(study))
    reason = "not analysed: missing extension, flexion"
    assert quick.dispatcher.for_study(study) == [("not_analysed", study, 1, reason)]
    row = study_row(quick.sessions, study)
    assert (row.state, row.state_reason) == (StudyState.NOT_ANALYSED, reason)


def test_every_arrival_moves_the_quiet_timer(rig: Rig) -> None:
    study = uid()
    rig.store(study, EXT)
    first = study_row(rig.sessions, study).due_at
    rig.store(study, {"SeriesDescription": "HWS Reklination Wdh."})
    second = study_row(rig.sessions, study).due_at
    assert first is not None and second is not None and second > first


def test_concurrent_hooks_dispatch_a_version_once(rig: Rig) -> None:
    errors: list[BaseException] = []
    for _ in range(5):
        study = uid()
        ids = [store_row(rig.sessions, study, header(f)) for f in (EXT, NEUT, FLEX)]
        barrier = threading.Barrier(len(ids))

        def hook(instance_id: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                rig.assembler.instance_stored(instance_id)
            except BaseException as exc:  # a hook must not fail on a neighbour's work
                errors.append(exc)

        threads = [threading.Thread(target=hook, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert rig.dispatcher.for_study(study) == [("dispatch", study, 1, False)]
        assert len(rig.dispatches(study)) == 1


def test_claim_on_a_stale_read_fails(rig: Rig) -> None:
    study = uid()
    rig.store(study, EXT)
    with rig.sessions() as first, rig.sessions() as second:
        mine = first.scalars(select(Study).where(Study.study_uid == study)).one()
        theirs = second.scalars(select(Study).where(Study.study_uid == study)).one()
        second.commit()  # end the read (SQLite would keep its snapshot); `theirs` stays stale
        assert claim_version(first, mine, StudyState.READY, None, utcnow()) == 1
        first.commit()
        assert claim_version(second, theirs, StudyState.READY, None, utcnow()) is None
        second.rollback()
    with transaction(rig.sessions) as session:
        row = session.scalars(select(Study).where(Study.study_uid == study)).one()
        row.state, row.due_at = StudyState.RECEIVING, utcnow() + timedelta(hours=1)
    with transaction(rig.sessions) as session:  # a timer is not due before its time
        row = session.scalars(select(Study).where(Study.study_uid == study)).one()
        assert (
            claim_version(session, row, StudyState.READY, None, utcnow(), due_by=utcnow()) is None
        )


def test_repeat_exposure_supersedes_the_earlier_one(rig: Rig) -> None:
    study = uid()
    first = rig.store(study, {"SeriesDescription": "HWS seitlich", "ImageComments": "Flexion"})
    second = rig.store(study, {"SeriesDescription": "HWS seitlich", "ImageComments": "Flexion"})
    with rig.sessions() as session:
        flags = dict(session.execute(select(Instance.id, Instance.superseded)).all())
    assert (flags[first], flags[second]) == (True, False)


def test_three_bare_laterals_go_at_once_for_the_images_to_name(rig: Rig) -> None:
    study = uid()
    ids = [rig.store(study, {"SeriesDescription": "C-Spine lat"}) for _ in range(3)]
    assert rig.dispatcher.for_study(study) == [("dispatch", study, 1, False)]
    [dispatch] = rig.dispatches(study)
    assert dispatch.reason == "3 image(s) of unknown view for the model to place"
    with rig.sessions() as session:
        rows = session.execute(
            select(Instance.sop_instance_uid, Instance.superseded).where(Instance.id.in_(ids))
        ).all()
    assert sorted(dispatch.views["unknown"]) == sorted(sop for sop, _ in rows)
    assert not any(superseded for _, superseded in rows)


def test_late_instance_reopens_with_a_new_version(rig: Rig) -> None:
    study = uid()
    for fields in (EXT, NEUT, FLEX):
        rig.store(study, fields)
    with transaction(rig.sessions) as session:
        session.execute(
            select(Study).where(Study.study_uid == study)
        ).scalar_one().state = StudyState.ANALYSED
    rig.store(study, {"SeriesDescription": "HWS Inklination 2"})
    assert rig.dispatcher.for_study(study)[-1] == ("dispatch", study, 2, False)
    assert [d.version for d in rig.dispatches(study)] == [1, 2]


def test_cervi_sr_coming_back_changes_nothing(rig: Rig) -> None:
    study = uid()
    for fields in (EXT, NEUT, FLEX):
        rig.store(study, fields)
    with transaction(rig.sessions) as session:
        session.execute(
            select(Study).where(Study.study_uid == study)
        ).scalar_one().state = StudyState.ANALYSED
    sr = rig.store(study, {"Modality": "SR", "Manufacturer": "Cervi"}, sop_class=SR)
    assert len(rig.dispatcher.for_study(study)) == 1
    assert study_row(rig.sessions, study).state == StudyState.ANALYSED
    with rig.sessions() as session:
        assert session.get(Instance, sr).ignored_reason == "Cervi's own structured report"


def test_non_cervical_study_is_ignored_with_its_reason(rig: Rig) -> None:
    study = uid()
    rig.store(study, {"BodyPartExamined": "CHEST", "SeriesDescription": "Thorax"})
    row = study_row(rig.sessions, study)
    assert row.state == StudyState.IGNORED
    assert "region" in (row.state_reason or "")
    assert rig.dispatcher.for_study(study) == []


def test_restart_dispatches_overdue_and_rearms_pending(engine: Engine) -> None:
    before = make_rig(engine, quiet_seconds=60, min_views=2)
    overdue, pending = uid(), uid()
    for study in (overdue, pending):
        before.store(study, EXT)
        before.store(study, FLEX)
    with transaction(before.sessions) as session:  # as if the process had died an hour ago
        row = session.execute(select(Study).where(Study.study_uid == overdue)).scalar_one()
        row.due_at = utcnow() - timedelta(hours=1)
    after = before.restart(quiet_seconds=60, min_views=2)
    try:
        report = after.assembler.reconcile()
        assert (report.overdue, report.rearmed) == (1, 1)
        assert after.dispatcher.for_study(overdue) == [("dispatch", overdue, 1, True)]
        assert after.dispatcher.for_study(pending) == []
        assert after.scheduler.get_job(f"assembly-quiet-{study_row(after.sessions, pending).id}")
        after.assembler.reconcile()  # a second start dispatches nothing again
        assert len(after.dispatcher.for_study(overdue)) == 1
        # An in-process queue dies with the process: the same version is handed on again.
        assert after.assembler.reconcile(redeliver_ready=True).redispatched == 1
        assert after.dispatcher.for_study(overdue)[-1] == ("dispatch", overdue, 1, True)
        assert len(after.dispatches(overdue)) == 1
    finally:
        after.scheduler.shutdown(wait=False)


def test_restart_hands_on_a_not_analysed_report_that_was_never_made(quick: Rig) -> None:
    """Assembly set ``not_analysed`` and died before the report's result row: a start with an
    in-process queue asks for the report again; once a result exists, it no longer does."""
    study = uid()
    quick.store(study, NEUT)
    wait_for(lambda: quick.dispatcher.for_study(study))
    after = make_rig(quick.engine, quiet_seconds=1, min_views=2)  # as after a restart
    try:
        assert after.assembler.reconcile(redeliver_ready=True).redispatched == 1
        reason = "not analysed: missing extension, flexion"
        assert after.dispatcher.for_study(study) == [("not_analysed", study, 1, reason)]
        with transaction(after.sessions) as session:  # the report made: a result for version 1
            row = session.execute(select(Study).where(Study.study_uid == study)).scalar_one()
            session.add(Result(study_id=row.id, version=1, outcome="not_analysed", reason=reason))
        again = make_rig(quick.engine, quiet_seconds=1, min_views=2)
        try:
            assert again.assembler.reconcile(redeliver_ready=True).redispatched == 0
            assert again.dispatcher.for_study(study) == []
        finally:
            again.scheduler.shutdown(wait=False)
    finally:
        after.scheduler.shutdown(wait=False)


def test_restart_assembles_instances_the_hook_never_saw(engine: Engine) -> None:
    rig = make_rig(engine, quiet_seconds=60)
    try:
        study = uid()
        for fields in (EXT, NEUT, FLEX):
            store_row(rig.sessions, study, header(fields))  # committed, hook lost in a crash
        assert rig.assembler.reconcile().assembled == 1
        assert rig.dispatcher.for_study(study) == [("dispatch", study, 1, False)]
    finally:
        rig.scheduler.shutdown(wait=False)


def test_stale_timer_does_not_dispatch_early(rig: Rig) -> None:
    study = uid()
    rig.store(study, EXT)
    rig.store(study, FLEX)
    with transaction(rig.sessions) as session:
        row = session.execute(select(Study).where(Study.study_uid == study)).scalar_one()
        row.due_at = utcnow() + timedelta(hours=1)
        study_id = row.id
    rig.assembler.quiet_timer_fired(study_id)
    assert rig.dispatcher.for_study(study) == []
    assert rig.scheduler.get_job(f"assembly-quiet-{study_id}").next_run_time > utcnow()


def test_patient_window_groups_one_view_per_study(engine: Engine) -> None:
    rig = make_rig(engine, study_key="patient_window", patient_window_hours=2)
    try:
        studies = [uid(), uid(), uid()]
        times = ["101000", "101500", "102000"]
        for study, fields, time in zip(studies, (EXT, NEUT, FLEX), times, strict=True):
            fields = fields | {"StudyDate": "20261127", "StudyTime": time}
            rig.store(study, fields, patient_id="P-WINDOW")
        assert rig.dispatcher.calls == [("dispatch", studies[0], 1, False)]
        with rig.sessions() as session:
            count = session.scalar(
                select(func.count()).select_from(Study).where(Study.state == StudyState.READY)
            )
        assert count == 3
        chest = uid()
        rig.store(
            chest, {"BodyPartExamined": "CHEST", "StudyDate": "20261127"}, patient_id="P-WINDOW"
        )
        row = study_row(rig.sessions, chest)
        assert (row.state, row.group_id) == (StudyState.IGNORED, None)  # not filed into the group
        assert len(rig.dispatcher.calls) == 1
    finally:
        rig.scheduler.shutdown(wait=False)


def test_cervi_studies_lists_state_views_rules_and_due_time(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    complete, waiting = uid(), uid()
    for fields in (EXT, NEUT, FLEX, FLEX):
        rig.store(complete, fields)
    rig.store(waiting, NEUT)
    url = rig.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "cervi.yaml"
    config.write_text(yaml.safe_dump({"storage": {"database_url": url}}))
    assert cli.main(["studies", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0]
    assert re.split(r"\s{2,}", header)[:3] == ["STUDY UID", "PATIENT ID", "ACCESSION"]
    lines = {line.split()[0]: line for line in out[1:]}

    def cell(line: str, column: str) -> str:
        start = header.index(column)
        following = [header.index(c) for c in HEADER if header.index(c) > start]
        return line[start : min(following, default=len(line))].strip()

    assert cell(lines[complete], "PATIENT ID") == "P1"
    assert (cell(lines[complete], "STATE"), cell(lines[complete], "VER")) == ("ready", "2")
    views = cell(lines[complete], "VIEWS (view:rule; [superseded])")
    assert "extension:series_description_extension" in views
    assert "[flexion:series_description_flexion]" in views  # the superseded repeat
    assert cell(lines[waiting], "STATE") == "receiving"
    assert cell(lines[waiting], "DUE (UTC)").startswith("20")
    assert cli.main(["studies", "--config", str(config), "--json", "--state", "ready"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["study_uid"] == complete


def test_analysis_side_guards_keep_a_reopened_study_open(rig: Rig) -> None:
    study = uid()
    for fields in (EXT, NEUT, FLEX):
        rig.store(study, fields)
    with transaction(rig.sessions) as session:
        assert start_processing(session, study, 1, utcnow())
        assert not start_processing(session, study, 1, utcnow())  # a second worker: no
    rig.store(study, {"SeriesDescription": "HWS Inklination 2"})  # late: version 2 goes out
    with transaction(rig.sessions) as session:
        assert not finish_version(session, study, 1, StudyState.ANALYSED, None, utcnow())
    assert (
        study_row(rig.sessions, study).state,
        study_row(rig.sessions, study).result_version,
    ) == (
        StudyState.READY,
        2,
    )
    with transaction(rig.sessions) as session:
        assert finish_version(session, study, 2, StudyState.ANALYSED, None, utcnow())
    assert study_row(rig.sessions, study).state == StudyState.ANALYSED


def test_sweep_assembles_what_a_failed_hook_left(rig: Rig) -> None:
    study = uid()
    for fields in (EXT, NEUT, FLEX):
        store_row(rig.sessions, study, header(fields))  # committed; the hook raised
    assert rig.assembler.sweep() == 1
    assert rig.dispatcher.for_study(study) == [("dispatch", study, 1, False)]
    assert rig.assembler.sweep() == 0


def test_sweep_fires_a_timer_whose_job_failed(engine: Engine) -> None:
    rig = make_rig(engine, quiet_seconds=60, min_views=2)
    try:
        study = uid()
        rig.store(study, EXT)
        rig.store(study, FLEX)
        with transaction(rig.sessions) as session:
            row = session.scalars(select(Study).where(Study.study_uid == study)).one()
            row.due_at = utcnow() - timedelta(minutes=5)
            study_id = row.id
        rig.scheduler.remove_job(f"assembly-quiet-{study_id}")  # as if the job had raised
        assert rig.assembler.sweep() == 1
        assert rig.dispatcher.for_study(study) == [("dispatch", study, 1, True)]
    finally:
        rig.scheduler.shutdown(wait=False)
