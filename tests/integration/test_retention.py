"""Retention removes instance files after their time and keeps every row and result."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from cervi.bootstrap import build_service
from cervi.retention import apply_retention
from storage.db import transaction
from storage.instances import InstanceRecord, record_instance
from storage.tables import Instance, Result, Study, StudyState, utcnow
from tests.integration.conftest import make_settings


def test_retention_removes_old_files_and_keeps_results(database_url: str, tmp_path: Path) -> None:
    service = build_service(make_settings(database_url, tmp_path))
    now = utcnow()
    ages = {
        "1.2.3.1": (timedelta(days=40), "old"),
        "1.2.3.2": (timedelta(days=1), "recent"),
        "1.2.4.1": (timedelta(hours=30), "ignored"),
    }
    paths = {}
    for sop, (age, kind) in ages.items():
        study_uid = "1.2.4" if kind == "ignored" else "1.2.3"
        stored = service.files.put(study_uid, study_uid + ".9", sop, sop.encode())
        paths[sop] = stored.path
        record = InstanceRecord(
            study_uid=study_uid,
            series_uid=study_uid + ".9",
            sop_instance_uid=sop,
            sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            patient_id="P",
            path=str(stored.path),
            sha256=stored.sha256,
            size=stored.size,
        )
        with transaction(service.sessions) as session:
            outcome = record_instance(session, record, now=now - age)
            if kind == "ignored":
                session.get(Study, outcome.study_id).state = StudyState.IGNORED.value
    with transaction(service.sessions) as session:
        study_id = session.execute(select(Study.id).where(Study.study_uid == "1.2.3")).scalar_one()
        session.add(Result(study_id=study_id, version=1, outcome="analysed"))

    removed = apply_retention(
        service.sessions, service.files, retention_days=30, ignored_retention_hours=24, now=now
    )

    assert removed == 2
    assert not paths["1.2.3.1"].exists() and not paths["1.2.4.1"].exists()
    assert paths["1.2.3.2"].exists()
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 3
        assert session.scalar(select(func.count()).select_from(Result)) == 1
        gone = (
            session.execute(
                select(Instance.sop_instance_uid).where(Instance.files_removed_at.is_not(None))
            )
            .scalars()
            .all()
        )
    assert sorted(gone) == ["1.2.3.1", "1.2.4.1"]
    assert apply_retention(service.sessions, service.files, 30, 24, now=now) == 0
    service.stop()
