"""The studies repository: locking a study, its instances, the version guard of assembly, and
the analysis side's state writes (start, finish, fail, requeue).

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller. Which state may follow which is :mod:`storage.states`'s; the conditional UPDATEs here
take their source states from it. Assembly work on a study starts with :func:`lock_study`, a
write, so that concurrent associations are serialised per study on PostgreSQL (row lock) and
never meet a stale read snapshot on SQLite (the write lock is taken before anything is read).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from inference.labels import VIEWS, View
from storage import states
from storage.states import StudyState
from storage.tables import UNREPORTED, Dispatch, Instance, Study


def by_uid(session: Session, study_uid: str) -> Study | None:
    return session.scalar(select(Study).where(Study.study_uid == study_uid))


def lock_study(session: Session, study_id: int, now: datetime) -> Study | None:
    """Take the study's row lock (by writing ``updated_at``) and return the fresh row."""
    result = session.execute(update(Study).where(Study.id == study_id).values(updated_at=now))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.expire_all()
    return session.get(Study, study_id)


def study_of_instance(session: Session, instance_id: int) -> int | None:
    return session.scalar(select(Instance.study_id).where(Instance.id == instance_id))


def unassembled(session: Session, study_id: int) -> list[Instance]:
    """Instances of the study that assembly has not looked at yet, in arrival order."""
    query = (
        select(Instance)
        .where(Instance.study_id == study_id, Instance.assembled_at.is_(None))
        .order_by(Instance.received_at, Instance.id)
    )
    return list(session.scalars(query))


def group_studies(session: Session, root_id: int) -> list[Study]:
    """The root study of a group and the studies filed into it."""
    query = select(Study).where(or_(Study.id == root_id, Study.group_id == root_id))
    return list(session.scalars(query.order_by(Study.id)))


def taken_instances(session: Session, study_ids: Sequence[int]) -> list[Instance]:
    """Instances assembly has taken (looked at and not ignored) in the given studies."""
    query = select(Instance).where(
        Instance.study_id.in_(study_ids),
        Instance.assembled_at.is_not(None),
        Instance.ignored_reason.is_(None),
    )
    return list(session.scalars(query.order_by(Instance.id)))


@dataclass(frozen=True)
class GroupRoot:
    """A patient's group root and the header of its first instance (for its study time)."""

    study_id: int
    created_at: datetime
    header: dict[str, Any]


def patient_group_roots(session: Session, patient_id: str, study_id: int) -> list[GroupRoot]:
    """The patient's older group roots that took an instance, for patient-window grouping.

    Only older studies (lower id) can be roots of a younger one: locks are then always taken
    younger before older, so two new studies of one patient never deadlock.
    """
    roots = session.scalars(
        select(Study).where(
            Study.patient_id == patient_id,
            Study.id < study_id,
            Study.group_id.is_(None),
            Study.state != StudyState.IGNORED.value,
        )
    )
    found = []
    for study in roots:
        header = session.scalar(
            select(Instance.header)
            .where(Instance.study_id == study.id, Instance.ignored_reason.is_(None))
            .order_by(Instance.id)
            .limit(1)
        )
        if header is not None:
            found.append(GroupRoot(study.id, study.created_at, header))
    return found


def claim_version(
    session: Session,
    study: Study,
    new_state: StudyState,
    reason: str | None,
    now: datetime,
    due_by: datetime | None = None,
) -> int | None:
    """Move a ``receiving`` study to ``new_state`` with the next result version, or return None.

    The conditional UPDATE is the guard that makes each version leave assembly once: it only
    succeeds on the state and version this session read (and, for a timer, when the due time
    has really come), whoever else is looking at the same study.
    """
    session.flush()
    expected = study.result_version
    conditions = [
        Study.id == study.id,
        Study.state == StudyState.RECEIVING.value,
        Study.result_version == expected,
    ]
    if due_by is not None:
        conditions.append(Study.due_at <= due_by)
    result = session.execute(
        update(Study)
        .where(*conditions)
        .values(
            state=new_state.value,
            result_version=expected + 1,
            state_reason=reason,
            due_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.expire(study)
    return expected + 1


def record_dispatch(
    session: Session,
    study_id: int,
    version: int,
    kind: str,
    partial: bool,
    reason: str | None,
    views: dict[str, Any],
    trigger: str,
    now: datetime,
) -> None:
    """Write the dispatch row; its unique (study, version) index is the second guard."""
    session.add(
        Dispatch(
            study_id=study_id,
            version=version,
            kind=kind,
            partial=partial,
            reason=reason,
            views=views,
            trigger=trigger,
            at=now,
        )
    )
    session.flush()


def mirror_group_state(session: Session, root: Study) -> None:
    """Studies filed into a group show the state of its root."""
    session.flush()
    session.execute(
        update(Study)
        .where(Study.group_id == root.id)
        .values(
            state=root.state,
            state_reason=root.state_reason,
            result_version=root.result_version,
            due_at=root.due_at,
        )
        .execution_options(synchronize_session=False)
    )


def last_dispatch(session: Session, study_id: int, version: int) -> Dispatch | None:
    return session.scalar(
        select(Dispatch).where(Dispatch.study_id == study_id, Dispatch.version == version)
    )


def studies_to_reconcile(session: Session) -> tuple[list[int], list[Study], list[Study]]:
    """At start: studies with unassembled instances, waiting roots, and roots to hand on again:
    those left ``ready``, and those assembly set ``not_analysed`` whose report was never made
    (its ``reported_version`` is below its ``result_version``: the process died between the two).
    Each part is read through an index that holds only what can still be due."""
    pending = list(
        session.scalars(select(Instance.study_id).where(Instance.assembled_at.is_(None)).distinct())
    )
    roots = select(Study).where(Study.group_id.is_(None))
    waiting = list(
        session.scalars(
            roots.where(Study.state == StudyState.RECEIVING.value, Study.due_at.is_not(None))
        )
    )
    ready = list(session.scalars(roots.where(Study.state == StudyState.READY.value)))
    # Through the partial index ix_studies_unreported: only studies still owed a report.
    unreported = list(
        session.scalars(
            select(Study).where(Study.state == StudyState.NOT_ANALYSED.value, text(UNREPORTED))
        )
    )
    return pending, waiting, sorted(ready + unreported, key=lambda s: s.id)


def _move_version(
    session: Session,
    study_uid: str,
    version: int,
    sources: Iterable[StudyState],
    **values: Any,
) -> bool:
    """The conditional UPDATE of the analysis side: write ``values`` only while the study is on
    ``version`` and in one of ``sources``. Returns whether it was written."""
    result = session.execute(
        update(Study)
        .where(
            Study.study_uid == study_uid,
            Study.result_version == version,
            Study.state.in_(sources),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def start_processing(session: Session, study_uid: str, version: int, now: datetime) -> bool:
    """For the analysis side: ``ready`` -> ``processing`` if ``version`` is still the current
    one. False: a late instance re-opened the study meanwhile (or another worker took it)."""
    new = StudyState.PROCESSING
    return _move_version(
        session, study_uid, version, states.sources(new), state=new.value, updated_at=now
    )


def finish_version(
    session: Session,
    study_uid: str,
    version: int,
    state: StudyState,
    reason: str | None,
    now: datetime,
) -> bool:
    """For the analysis side: record the outcome of ``version`` (``analysed``,
    ``not_analysed`` or ``failed``) only if the study is still on that version and in analysis;
    a re-opened study keeps ``receiving`` and its timer. Returns whether the state was written
    (the result row is kept either way)."""
    if state not in states.OUTCOMES:
        raise states.IllegalTransition(f"{state} is not an outcome")
    return _move_version(
        session,
        study_uid,
        version,
        states.IN_ANALYSIS,
        state=state.value,
        state_reason=reason,
        updated_at=now,
    )


def fail_report(session: Session, study_uid: str, version: int, reason: str, now: datetime) -> bool:
    """For the analysis side: the "not analysed" report of ``version`` could not be made, so
    the version ends ``failed`` (only while the study is still on it)."""
    new = StudyState.FAILED
    return _move_version(
        session,
        study_uid,
        version,
        states.sources(new),
        state=new.value,
        state_reason=reason,
        updated_at=now,
    )


def requeue_interrupted(session: Session, now: datetime) -> int:
    """At start: studies left ``processing`` by a process that died are ``ready`` again, so that
    reconciliation hands the same version on (the pipeline finishes from a stored result)."""
    result = session.execute(
        update(Study)
        .where(Study.state == StudyState.PROCESSING.value)
        .values(state=StudyState.READY.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def current_version(session: Session, study_uid: str) -> int | None:
    """The study's current result version (None for an unknown study)."""
    return session.scalar(select(Study.result_version).where(Study.study_uid == study_uid))


def dispatched_files(
    session: Session, study_uid: str, version: int
) -> tuple[dict[str, str], list[str]]:
    """``({view: file}, [files of unknown view])`` that assembly chose for ``version``."""
    study_id = session.execute(select(Study.id).where(Study.study_uid == study_uid)).scalar_one()
    dispatch = last_dispatch(session, study_id, version)
    chosen = dict(dispatch.views) if dispatch else {}
    unknown_uids = list(chosen.pop(View.UNKNOWN.value, []) or [])
    wanted = [uid for view, uid in chosen.items() if view in VIEWS] + unknown_uids
    rows = session.execute(
        select(Instance.sop_instance_uid, Instance.path).where(
            Instance.sop_instance_uid.in_(wanted)
        )
    ).all()
    paths = dict(rows)
    views = {view: paths[uid] for view, uid in chosen.items() if uid in paths}
    return views, [paths[uid] for uid in unknown_uids if uid in paths]


def name_view(session: Session, path: str, view: str, rule: str) -> None:
    """Record the view of the instance stored at ``path`` and the rule that named it."""
    session.execute(update(Instance).where(Instance.path == path).values(view=view, view_rule=rule))
