"""Helpers of the study assembly integration tests: databases, rows as ingest writes them, a
dispatcher that records what it is handed, polling."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine, session_factory, transaction, upgrade
from storage.tables import Instance, Study, utcnow
from tests.support.service import ServeProcess

__all__ = ["ServeProcess"]

DX = "1.2.840.10008.5.1.4.1.1.1.1"
SR = "1.2.840.10008.5.1.4.1.1.88.34"


def migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


_counter = iter(range(1, 10**9))


def uid(prefix: str = "2.25") -> str:
    return f"{prefix}.{uuid.uuid4().int % 10**30}{next(_counter)}"


def header(text_fields: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A header dict as ``dicom_node.instance.header_fields`` writes it, of a cervical DX."""
    return {"Modality": "DX", "BodyPartExamined": "CSPINE"} | (text_fields or {}) | fields


def store_row(
    sessions: sessionmaker[Session],
    study_uid: str,
    fields: dict[str, Any],
    patient_id: str = "P1",
    sop_class: str = DX,
    series_uid: str | None = None,
) -> int:
    """Commit a study (if new) and an instance row the way ingest does; return the instance id."""
    now = utcnow()
    with transaction(sessions) as session:
        study = session.query(Study).filter_by(study_uid=study_uid).one_or_none()
        if study is None:
            study = Study(study_uid=study_uid, patient_id=patient_id, last_arrival_at=now)
            session.add(study)
            session.flush()
        sop = uid()
        instance = Instance(
            study_id=study.id,
            sop_instance_uid=sop,
            sop_class_uid=sop_class,
            series_uid=series_uid or uid(),
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            modality=fields.get("Modality"),
            path=f"/nowhere/{sop}.dcm",
            sha256="0" * 64,
            size=1,
            header=fields,
            received_at=now,
        )
        session.add(instance)
        session.flush()
        return instance.id


@dataclass
class RecordingDispatcher:
    """:class:`cervi.dispatch.Dispatcher` that remembers every hand-off."""

    calls: list[tuple[str, str, int, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def dispatch(self, study_uid: str, version: int, partial: bool) -> None:
        with self.lock:
            self.calls.append(("dispatch", study_uid, version, partial))

    def not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        with self.lock:
            self.calls.append(("not_analysed", study_uid, version, reason))

    def for_study(self, study_uid: str) -> list[tuple[str, str, int, Any]]:
        with self.lock:
            return [c for c in self.calls if c[1] == study_uid]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def study_row(sessions: sessionmaker[Session], study_uid: str) -> Study:
    with sessions() as session:
        return session.query(Study).filter_by(study_uid=study_uid).one()


def new_sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
