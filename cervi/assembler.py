"""The study assembler: applies ``dicom_node.assembly``'s decisions to the database and timers.

After an instance's row is committed the listener calls :meth:`StudyAssembler.instance_stored`.
The assembler locks the study row, looks at every instance of the study it has not seen yet
(so a hook that runs late finds its instance already handled by a neighbour's), records each
view decision, updates the study state, and then either dispatches a complete study at once or
(re)arms the quiet timer, whose due time is kept in ``studies.due_at``. Dispatch and timer
calls happen only after the transaction has committed.

Each result version leaves assembly exactly once: the move out of ``receiving`` is a
conditional UPDATE on state and version (``storage.studies.claim_version``), and the
``dispatches`` row it writes has a unique (study, version) index.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.orm import Session, sessionmaker

from cervi.dispatch import Dispatcher
from cervi.settings import AssemblySettings
from dicom_node import assembly
from dicom_node.assembly import AssemblyConfig, Assessment, Member, Plan, Step
from dicom_node.assembly_rules import DEFAULT_ACCEPT_RULES, DEFAULT_VIEW_RULES
from dicom_node.instance import InstanceMeta
from inference.labels import View
from storage import states, studies
from storage.db import transaction
from storage.tables import Instance, Study, StudyState, utcnow

logger = logging.getLogger("cervi.assembler")


@dataclass(frozen=True)
class _Effect:
    """Something to do once the transaction has committed."""

    kind: str  # dispatch | not_analysed | arm | cancel
    study_id: int
    study_uid: str = ""
    version: int = 0
    partial: bool = False
    reason: str = ""
    due_at: datetime | None = None


@dataclass(frozen=True)
class Reconciled:
    """What :meth:`StudyAssembler.reconcile` did at start."""

    assembled: int = 0
    overdue: int = 0
    rearmed: int = 0
    redispatched: int = 0


class StudyAssembler:
    """Study assembly over the results database; one per service, shared by all associations."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: AssemblyConfig,
        dispatcher: Dispatcher,
        scheduler: BaseScheduler,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.dispatcher = dispatcher
        self.scheduler = scheduler
        self.clock = clock

    # --- entry points ---------------------------------------------------------------------

    def instance_stored(self, instance_id: int) -> None:
        """After-commit hook of the listener: assemble the study of a durable instance."""
        with self.sessions() as session:
            study_id = studies.study_of_instance(session, instance_id)
        if study_id is not None:
            self.assemble_study(study_id)

    def assemble_study(self, study_id: int) -> None:
        """Decide every instance of the study not yet seen and act on the study's new state."""
        effects: list[_Effect] = []
        with transaction(self.sessions) as session:
            now = self.clock()
            study = studies.lock_study(session, study_id, now)
            pending = studies.unassembled(session, study_id) if study else []
            if study is None or not pending:
                return
            first_look = study.group_id is None and not _has_taken(session, study)
            taken, ignored = self._decide(study, pending, now)
            root = study
            if study.group_id is not None or (first_look and taken):
                root = self._root_for(session, study, pending, now)
            effects = self._after_arrival(session, root, taken, ignored, now)
        self._apply(effects)

    def quiet_timer_fired(self, study_id: int) -> None:
        """The quiet period of a study ended: dispatch it (maybe partial) or report it."""
        effects: list[_Effect] = []
        with transaction(self.sessions) as session:
            now = self.clock()
            root = studies.lock_study(session, study_id, now)
            if root is None or root.state != StudyState.RECEIVING or root.due_at is None:
                return
            if root.due_at > now:  # moved by a later arrival whose own arm was overtaken
                effects = [_Effect("arm", root.id, due_at=root.due_at)]
            else:
                assessment = self._assess(session, root)
                plan = assembly.on_quiet_timer(assessment, self.config)
                effects = self._carry_out(session, root, assessment, plan, now, "quiet_timer")
        self._apply(effects)

    def reprocess(self, study_uid: str) -> bool:
        """A new result version on request (``POST .../reprocess``): the study is handled as if
        its quiet period had just ended. False when there is no such study."""
        with transaction(self.sessions) as session:
            now = self.clock()
            study = studies.by_uid(session, study_uid)
            if study is None:
                return False
            root = studies.lock_study(session, study.group_id or study.id, now)
            if root is None:
                return False
            if root.state in states.IN_ANALYSIS:
                return True  # a version is already on its way
            states.move(root, StudyState.RECEIVING, root.state_reason)
            root.due_at = now
            root_id = root.id
        self.quiet_timer_fired(root_id)
        return True

    def reconcile(self, redeliver_ready: bool = False) -> Reconciled:
        """On start: assemble instances no hook saw, fire overdue timers, re-arm the others.

        With ``redeliver_ready`` (for a dispatcher whose queue does not survive the process,
        such as :class:`cervi.dispatch.InProcessDispatcher`), studies left ``ready``, and studies
        set ``not_analysed`` whose report was never made, are handed on again with the same
        version; no new version is made.
        """
        with self.sessions() as session:
            pending, waiting, ready = studies.studies_to_reconcile(session)
            ready_jobs = [
                (
                    s.study_uid,
                    s.result_version,
                    studies.last_dispatch(session, s.id, s.result_version),
                )
                for s in ready
            ]
        for study_id in pending:
            self.assemble_study(study_id)
        now, overdue, rearmed = self.clock(), 0, 0
        for study in waiting:
            if study.due_at is not None and study.due_at <= now:
                self.quiet_timer_fired(study.id)
                overdue += 1
            elif study.due_at is not None:
                self._arm(study.id, study.due_at)
                rearmed += 1
        if redeliver_ready:
            for study_uid, version, dispatch in ready_jobs:
                if dispatch is not None and dispatch.kind == "not_analysed":
                    self.dispatcher.not_analysed(study_uid, version, dispatch.reason or "")
                else:
                    partial = bool(dispatch and dispatch.partial)
                    self.dispatcher.dispatch(study_uid, version, partial)
        result = Reconciled(
            len(pending), overdue, rearmed, len(ready_jobs) if redeliver_ready else 0
        )
        logger.info("assembly reconciled", extra={"reconciled": result.__dict__})
        return result

    def sweep(self, grace: timedelta = timedelta(seconds=30)) -> int:
        """Self-repair, run periodically by bootstrap: assemble studies whose instances no hook
        handled, and fire quiet timers more than ``grace`` overdue (a timer job that failed on
        a database error is gone). Returns how many studies it acted on."""
        with self.sessions() as session:
            pending, waiting, _ = studies.studies_to_reconcile(session)
        for study_id in pending:
            self.assemble_study(study_id)
        late = self.clock() - grace
        overdue = [s.id for s in waiting if s.due_at is not None and s.due_at <= late]
        for study_id in overdue:
            self.quiet_timer_fired(study_id)
        return len(pending) + len(overdue)

    # --- steps ----------------------------------------------------------------------------

    def _root_for(
        self, session: Session, study: Study, pending: list[Instance], now: datetime
    ) -> Study:
        """The study whose row carries the group's state (itself unless patient-window).

        A study is filed into a group once, at the first instance of it that was taken.
        """
        if study.group_id is not None:
            root = studies.lock_study(session, study.group_id, now)
            return root if root is not None else study
        if self.config.study_key != "patient_window":
            return study
        first_taken = next(i for i in pending if i.ignored_reason is None)
        anchor = assembly.study_datetime(first_taken.header)
        candidates = []
        for other in studies.patient_group_roots(session, study.patient_id, study.id):
            other_anchor = assembly.study_datetime(other.header)
            if (anchor is None) == (other_anchor is None):
                candidates.append(
                    assembly.GroupCandidate(other.study_id, other_anchor or other.created_at)
                )
        group_id = assembly.choose_group(anchor or study.created_at, candidates, self.config)
        root = studies.lock_study(session, group_id, now) if group_id is not None else None
        if root is None:
            return study
        study.group_id = root.id
        logger.info(
            "study filed into group", extra={"study_uid": study.study_uid, "group": root.study_uid}
        )
        return root

    def _decide(
        self, study: Study, pending: list[Instance], now: datetime
    ) -> tuple[int, list[str]]:
        """Record each pending instance's decision; return how many were taken, why others not."""
        taken, ignored = 0, []
        for instance in pending:
            meta = _meta(instance, study)
            decision = assembly.decide_instance(meta, self.config)
            reason = decision.reason
            instance.assembled_at = now
            instance.view = decision.view.value
            instance.view_rule = decision.rule
            instance.ignored_reason = reason
            if reason is None:
                taken += 1
            else:
                ignored.append(reason)
            logger.info(
                "instance assembled",
                extra={
                    "study_uid": study.study_uid,
                    "sop_instance_uid": instance.sop_instance_uid,
                    "view": instance.view,
                    "view_rule": instance.view_rule,
                    "ignored": reason,
                },
            )
        return taken, ignored

    def _after_arrival(
        self, session: Session, root: Study, taken: int, ignored: list[str], now: datetime
    ) -> list[_Effect]:
        assessment = self._assess(session, root)
        if taken == 0:
            # Only ignored instances (e.g. our own SR coming back): the study's course is unchanged.
            if assessment.empty and root.state in (StudyState.RECEIVING, StudyState.IGNORED):
                states.move(root, StudyState.IGNORED, ignored[-1])
                root.due_at = None
                studies.mirror_group_state(session, root)
                return [_Effect("cancel", root.id)]
            return []
        if root.state == StudyState.IGNORED or states.reopens(root.state):
            if root.state != StudyState.IGNORED:
                logger.info(
                    "study re-opened by a late instance", extra={"study_uid": root.study_uid}
                )
            states.move(root, StudyState.RECEIVING)
        root.last_arrival_at = now
        plan = assembly.after_arrival(assessment, now, self.config)
        return self._carry_out(session, root, assessment, plan, now, "arrival")

    def _carry_out(
        self,
        session: Session,
        root: Study,
        assessment: Assessment,
        plan: Plan,
        now: datetime,
        trigger: str,
    ) -> list[_Effect]:
        effects: list[_Effect] = []
        if plan.step == Step.WAIT:
            root.due_at = plan.due_at
            effects.append(_Effect("arm", root.id, due_at=plan.due_at))
        elif plan.step == Step.IGNORE:
            states.move(root, StudyState.IGNORED, plan.reason)
            root.due_at = None
            effects.append(_Effect("cancel", root.id))
        else:
            analyse = plan.step == Step.DISPATCH
            new_state = StudyState.READY if analyse else StudyState.NOT_ANALYSED
            due_by = now if trigger == "quiet_timer" else None
            version = studies.claim_version(session, root, new_state, plan.reason, now, due_by)
            effects.append(_Effect("cancel", root.id))
            if version is not None:
                views = {v.value: uid for v, uid in assessment.chosen.items()}
                views[View.UNKNOWN.value] = list(assessment.unknown)
                kind = "analyse" if analyse else "not_analysed"
                studies.record_dispatch(
                    session, root.id, version, kind, plan.partial, plan.reason, views, trigger, now
                )
                effects.append(
                    _Effect(
                        kind if kind == "not_analysed" else "dispatch",
                        root.id,
                        root.study_uid,
                        version,
                        plan.partial,
                        plan.reason or "",
                    )
                )
        studies.mirror_group_state(session, root)
        return effects

    def _assess(self, session: Session, root: Study) -> Assessment:
        """Assess the group's taken instances and store which of them are superseded."""
        ids = [s.id for s in studies.group_studies(session, root.id)]
        instances = studies.taken_instances(session, ids)
        tentative = {r.name for r in self.config.view_rules if r.tentative}
        assessment = assembly.assess(_member(i, tentative) for i in instances)
        for instance in instances:
            instance.superseded = instance.sop_instance_uid in assessment.superseded
        return assessment

    # --- after commit ---------------------------------------------------------------------

    def _apply(self, effects: list[_Effect]) -> None:
        for effect in effects:
            if effect.kind == "arm" and effect.due_at is not None:
                self._arm(effect.study_id, effect.due_at)
            elif effect.kind == "cancel":
                self._cancel(effect.study_id)
            elif effect.kind == "dispatch":
                logger.info(
                    "study dispatched",
                    extra={"study_uid": effect.study_uid, "version": effect.version,
                           "partial": effect.partial},
                )  # fmt: skip
                self.dispatcher.dispatch(effect.study_uid, effect.version, effect.partial)
            elif effect.kind == "not_analysed":
                logger.info(
                    "study not analysed",
                    extra={"study_uid": effect.study_uid, "reason": effect.reason},
                )
                self.dispatcher.not_analysed(effect.study_uid, effect.version, effect.reason)

    def _arm(self, study_id: int, due_at: datetime) -> None:
        self.scheduler.add_job(
            self._fire,
            trigger="date",
            run_date=due_at,
            args=(study_id,),
            id=_job_id(study_id),
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def _cancel(self, study_id: int) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(_job_id(study_id))

    def _fire(self, study_id: int) -> None:
        try:
            self.quiet_timer_fired(study_id)
        except Exception:
            logger.exception(
                "quiet timer failed; reconciliation will retry it", extra={"study_id": study_id}
            )


def _job_id(study_id: int) -> str:
    return f"assembly-quiet-{study_id}"


def _has_taken(session: Session, study: Study) -> bool:
    return bool(studies.taken_instances(session, [study.id]))


def _meta(instance: Instance, study: Study) -> InstanceMeta:
    header: dict[str, Any] = instance.header or {}
    return InstanceMeta(
        study_uid=study.study_uid,
        series_uid=instance.series_uid,
        sop_instance_uid=instance.sop_instance_uid,
        sop_class_uid=instance.sop_class_uid,
        patient_id=study.patient_id,
        modality=instance.modality,
        header=header,
    )


def _member(instance: Instance, tentative_rules: set[str]) -> Member:
    return Member(
        sop_instance_uid=instance.sop_instance_uid,
        view=View(instance.view),
        received_at=instance.received_at,
        sequence=instance.id,
        acquired=assembly.acquired_at(instance.header or {}),
        tentative=instance.view_rule in tentative_rules,
    )


def assembly_config(settings: AssemblySettings) -> AssemblyConfig:
    """The pure module's configuration from the validated settings: a site's rules first."""
    view_rules = tuple(rule.to_rule() for rule in settings.view_rules)
    accept_rules = tuple(rule.to_rule() for rule in settings.accept)
    if settings.default_view_rules:
        view_rules += DEFAULT_VIEW_RULES
    if settings.default_accept:
        accept_rules += DEFAULT_ACCEPT_RULES
    return AssemblyConfig(
        quiet_seconds=settings.quiet_seconds,
        min_views=settings.min_views,
        on_timeout=settings.on_timeout,
        study_key=settings.study_key,
        patient_window=timedelta(hours=settings.patient_window_hours),
        view_rules=view_rules,
        accept_rules=accept_rules,
        own_manufacturer=settings.own_manufacturer,
    )
