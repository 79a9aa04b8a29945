"""Migrations 0008 and 0009 on SQLite and PostgreSQL: the latest result and reported version on
each study, the metric counters, taken from the rows already there and kept by triggers after."""

from __future__ import annotations

import threading
from collections import Counter

from alembic import command
from sqlalchemy import Engine, func, inspect, select, text

from storage.counts import fold_deltas, metric_values
from storage.db import alembic_config, make_engine, session_factory, transaction, upgrade
from storage.tables import (
    AuditEvent,
    Delivery,
    Instance,
    MetricDelta,
    Result,
    Study,
    utcnow,
)

LATENCY_BOUNDS = ("100", "250", "500", "1000", "2500", "5000", "10000", "+Inf")


def _rows_at_0007(engine: Engine) -> None:
    """Three studies as revision 0007 knew them: one analysed twice, one still receiving,
    one not analysed twice (the first version from before reason codes)."""
    now = utcnow().isoformat()
    with engine.begin() as c:
        for n, state in ((1, "analysed"), (2, "receiving")):
            c.execute(
                text(
                    "INSERT INTO studies (id, study_uid, patient_id, state, result_version, "
                    "last_arrival_at, created_at, updated_at) "
                    "VALUES (:n, :uid, 'P', :state, :v, :t, :t, :t)"
                ),
                {"n": n, "uid": f"1.2.{n}", "state": state, "v": 2 if n == 1 else 0, "t": now},
            )
            c.execute(
                text(
                    "INSERT INTO instances (study_id, sop_instance_uid, sop_class_uid, "
                    "series_uid, transfer_syntax_uid, path, sha256, size, view, superseded, "
                    "header, received_at) VALUES (:n, :sop, '1.2', '1.3', '1.2.840.10008.1.2.1', "
                    "'/x', 'a', 1, 'neutral', false, '{}', :t)"
                ),
                {"n": n, "sop": f"1.2.{n}.1", "t": now},
            )
        for rid, version, latency in ((10, 2, 600.0), (11, 1, 300.0)):
            c.execute(
                text(
                    "INSERT INTO results (id, study_id, version, outcome, views_used, "
                    "latency_ms, created_at) VALUES (:id, 1, :v, 'analysed', '[]', :ms, :t)"
                ),
                {"id": rid, "v": version, "ms": latency, "t": now},
            )
            c.execute(
                text(
                    "INSERT INTO deliveries (result_id, destination, sop_instance_uid, path, "
                    "state, attempts) VALUES (:id, 'pacs', '1.9', '/sr', :s, 1)"
                ),
                {"id": rid, "s": "delivered" if version == 2 else "failed"},
            )
        c.execute(
            text("INSERT INTO audit_events (at, kind) VALUES (:t, 'association_rejected')"),
            {"t": now},
        )
        c.execute(
            text(
                "INSERT INTO studies (id, study_uid, patient_id, state, result_version, "
                "last_arrival_at, created_at, updated_at) "
                "VALUES (3, '1.2.3', 'P', 'not_analysed', 2, :t, :t, :t)"
            ),
            {"t": now},
        )
        for rid, version, code in ((12, 1, None), (13, 2, "outside_domain")):
            c.execute(
                text(
                    "INSERT INTO results (id, study_id, version, outcome, views_used, "
                    "reason_code, created_at) VALUES (:id, 3, :v, 'not_analysed', '[]', :c, :t)"
                ),
                {"id": rid, "v": version, "c": code, "t": now},
            )


def recount(engine: Engine) -> dict[str, dict[str, float]]:
    """What ``/metrics`` counted by scanning the tables before the counters existed."""
    sessions = session_factory(engine)
    with sessions() as s:
        values: dict[str, dict[str, float]] = {
            "instances_received": {"": s.scalar(select(func.count(Instance.id))) or 0},
            "audit_events": dict(
                s.execute(select(AuditEvent.kind, func.count()).group_by(AuditEvent.kind)).all()
            ),
            "studies": dict(
                s.execute(select(Study.state, func.count()).group_by(Study.state)).all()
            ),
            "results": dict(
                s.execute(select(Result.outcome, func.count()).group_by(Result.outcome)).all()
            ),
            "deliveries": dict(
                s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
            ),
            "not_analysed": {
                code or "unspecified": n
                for code, n in s.execute(
                    select(Result.reason_code, func.count())
                    .where(Result.outcome == "not_analysed")
                    .group_by(Result.reason_code)
                ).all()
            },
        }
        latencies = [v for v in s.scalars(select(Result.latency_ms)) if v is not None]
    values["analysis_latency_count"] = {"": len(latencies)}
    values["analysis_latency_sum"] = {"": sum(latencies)}
    buckets: Counter[str] = Counter()
    for value in latencies:
        buckets[next(b for b in LATENCY_BOUNDS if b == "+Inf" or value <= float(b))] += 1
    values["analysis_latency_bucket"] = dict(buckets)
    return values


def _nonzero(values: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        name: {label: float(v) for label, v in labels.items() if v}
        for name, labels in values.items()
    }


def _counters(engine: Engine) -> dict[str, dict[str, float]]:
    with session_factory(engine)() as session:
        return dict(metric_values(session))


def test_upgrade_takes_the_latest_result_and_the_counts_from_existing_rows(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0007")
    _rows_at_0007(engine)
    upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT id, latest_result_id, reported_version FROM studies ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [(1, 10, 2), (2, None, 0), (3, 13, 2)]
    counters = _counters(engine)
    assert _nonzero(counters) == _nonzero(recount(engine))
    assert counters["analysis_latency_bucket"]["500"] == 1
    assert counters["analysis_latency_bucket"]["1000"] == 1
    assert counters["analysis_latency_bucket"]["100"] == 0  # every bound has its row
    assert counters["analysis_latency_sum"][""] == 900
    assert counters["not_analysed"] == {"unspecified": 1, "outside_domain": 1}

    command.downgrade(alembic_config(engine), "0007")
    columns = {c["name"] for c in inspect(engine).get_columns("studies")}
    assert {"latest_result_id", "reported_version"}.isdisjoint(columns)
    assert "metric_counts" not in inspect(engine).get_table_names()
    with engine.begin() as c:  # no trigger is left behind to fail on a write
        c.execute(text("UPDATE studies SET state = 'failed' WHERE id = 2"))
        c.execute(text("UPDATE studies SET state = 'receiving' WHERE id = 2"))
    upgrade(engine)
    assert _nonzero(_counters(engine)) == _nonzero(recount(engine))
    engine.dispose()


def test_triggers_keep_the_latest_result_and_the_counters_exact(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        study = Study(study_uid="1.2.3", patient_id="P", state="receiving")
        s.add(study)
        s.flush()
        s.add(Instance(study_id=study.id, sop_instance_uid="1.2.3.1", sop_class_uid="1.2",
                       series_uid="1.2.3.9", transfer_syntax_uid="1.2", path="/x", sha256="a",
                       size=1))  # fmt: skip
    with transaction(sessions) as s:
        study = s.scalars(select(Study)).one()
        study.state, study.result_version = "processing", 2
        v2 = Result(study_id=study.id, version=2, outcome="analysed", latency_ms=120.0)
        s.add(v2)
        s.flush()
        s.add(  # an older one, later
            Result(
                study_id=study.id, version=1, outcome="not_analysed", reason_code="outside_domain"
            )
        )
        s.add(Delivery(result_id=v2.id, destination="pacs", sop_instance_uid="1.9", path="/sr"))
        s.add(AuditEvent(kind="instance_replaced"))
    with transaction(sessions) as s:
        study = s.scalars(select(Study)).one()
        assert (study.latest_result_id, study.reported_version) == (v2.id, 2)
        study.state = "analysed"
        s.scalars(select(Delivery)).one().state = "delivered"
    assert _nonzero(_counters(engine)) == _nonzero(recount(engine))
    assert _counters(engine)["studies"]["receiving"] == 0  # went, and says so
    assert _counters(engine)["not_analysed"] == {"outside_domain": 1}

    with transaction(sessions) as s:
        assert fold_deltas(s) > 0
    with sessions() as s:
        assert s.scalar(select(func.count(MetricDelta.id))) == 0
    assert _nonzero(_counters(engine)) == _nonzero(recount(engine))
    engine.dispose()


def test_folding_while_others_write_counts_every_change_once(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(first: int) -> None:
        try:
            for n in range(first, first + 40):
                with transaction(sessions) as s:
                    s.add(Study(study_uid=f"1.2.{n}", patient_id="P", state="receiving"))
                with transaction(sessions) as s:
                    s.scalars(
                        select(Study).where(Study.study_uid == f"1.2.{n}")
                    ).one().state = "ignored"
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def fold() -> None:
        try:
            while not stop.is_set():
                with transaction(sessions) as s:
                    fold_deltas(s)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(k * 100,)) for k in range(2)]
    folders = [threading.Thread(target=fold) for _ in range(2)]
    for t in writers + folders:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in folders:
        t.join()
    assert errors == []
    assert _nonzero(_counters(engine))["studies"] == {"ignored": 80.0}
    engine.dispose()
