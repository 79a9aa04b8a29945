"""Filling the results database directly, for bench/growth.py: N studies as a year of service
would leave them, written with bulk inserts (the triggers of the schema run as for any writer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine, insert, text

from inference.labels import LABELS
from storage.tables import AuditEvent, Delivery, Finding, Instance, Region, Result, Study

CHUNK = 2000
VIEWS = ("extension", "neutral", "flexion")
# Share of studies by final state; the newest few are still receiving.
STATES = {"analysed": 0.90, "not_analysed": 0.05, "failed": 0.01, "ignored": 0.04}
RECEIVING = 20
TABLES = ("studies", "instances", "results", "findings", "regions", "deliveries", "audit_events")
# Share of studies with each label present.
PREVALENCE = (0.12, 0.04, 0.08, 0.03, 0.05, 0.06)


@dataclass(frozen=True)
class Facts:
    """What the benchmark asks for: a label, a month (YYYYMMDD, inclusive), a patient, a study."""

    label: str
    month: tuple[str, str]
    patient_id: str
    study_uid: str | None


def fill(engine: Engine, studies: int, seed: int = 0) -> Facts:
    """Insert ``studies`` studies with instances, results, findings, regions and deliveries."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    ids = {"result": 0, "finding": 0, "region": 0, "delivery": 0, "audit": 0}
    patients = max(studies // 2, 1)
    for first in range(0, studies, CHUNK):
        rows: dict[str, list[dict]] = {t: [] for t in ("s", "i", "r", "f", "g", "d", "a")}
        for n in range(first, min(first + CHUNK, studies)):
            _study(rows, rng, n, studies, start, now, patients, ids)
        with engine.begin() as connection:
            for table, key in (
                (Study, "s"),
                (Instance, "i"),
                (Result, "r"),
                (Finding, "f"),
                (Region, "g"),
                (Delivery, "d"),
                (AuditEvent, "a"),
            ):
                if rows[key]:
                    connection.execute(insert(table.__table__), rows[key])
    if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        with engine.begin() as connection:
            for table in TABLES:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )
                )
    middle = start + timedelta(days=180)
    month = (middle.strftime("%Y%m01"), (middle + timedelta(days=31)).strftime("%Y%m01"))
    return Facts(
        LABELS[0],
        (month[0], str(int(month[1]) - 1)),
        f"P{int(rng.integers(patients)):07d}",
        _uid(studies // 2) if studies else None,
    )


def _uid(n: int) -> str:
    return f"1.2.826.0.1.3680043.10.1.{n + 1}"


def _study(
    rows: dict[str, list[dict]],
    rng: np.random.Generator,
    n: int,
    studies: int,
    start: datetime,
    now: datetime,
    patients: int,
    ids: dict[str, int],
) -> None:
    arrival = start + timedelta(seconds=(365 * 86400 - 600) * n / max(studies, 1))
    arrival += timedelta(seconds=float(rng.uniform(0, 30)))
    if n >= studies - RECEIVING:
        state = "receiving"
    else:
        state = str(rng.choice(list(STATES), p=list(STATES.values())))
    study_id = n + 1
    uid = _uid(n)
    rows["s"].append(
        {
            "id": study_id,
            "study_uid": uid,
            "patient_id": f"P{int(rng.integers(patients)):07d}",
            "accession_number": f"A{n:09d}",
            "study_date": arrival.strftime("%Y%m%d"),
            "state": state,
            "state_reason": "not a cervical spine radiograph" if state == "ignored" else None,
            "result_version": 0 if state in ("receiving", "ignored") else 1,
            "last_arrival_at": arrival,
            "due_at": now + timedelta(hours=1) if state == "receiving" else None,
            "created_at": arrival,
            "updated_at": arrival + timedelta(seconds=5),
            "group_id": None,
        }
    )
    # Retention has run: files of instances past their time (with an hour to spare) are gone.
    keep = timedelta(hours=23) if state == "ignored" else timedelta(days=30) - timedelta(hours=1)
    for k, view in enumerate(VIEWS):
        received = arrival - timedelta(seconds=2 - k)
        rows["i"].append(
            {
                "id": 3 * n + k + 1,
                "study_id": study_id,
                "sop_instance_uid": f"{uid}.1.{k + 1}",
                "sop_class_uid": "1.2.840.10008.5.1.4.1.1.1.1",
                "series_uid": f"{uid}.1",
                "transfer_syntax_uid": "1.2.840.10008.1.2.1",
                "modality": "DX",
                "path": f"/var/cervi/instances/{uid}/{k}.dcm",
                "sha256": f"{3 * n + k:064x}",
                "size": 2_000_000,
                "view": "unknown" if state == "ignored" else view,
                "view_rule": None if state == "ignored" else "series_description",
                "superseded": False,
                "assembled_at": received,
                "ignored_reason": "not a cervical spine radiograph" if state == "ignored" else None,
                "header": {"SeriesDescription": f"C-spine lateral {view}"},
                "calling_ae": "PACS",
                "received_at": received,
                "files_removed_at": received + keep if received + keep < now else None,
            }
        )
    if n % 200 == 0:
        ids["audit"] += 1
        rows["a"].append(
            {"id": ids["audit"], "at": arrival, "kind": "association_rejected", "detail": "x"}
        )
    if state not in ("analysed", "not_analysed"):
        return
    ids["result"] += 1
    result_id = ids["result"]
    analysed = state == "analysed"
    rows["r"].append(
        {
            "id": result_id,
            "study_id": study_id,
            "version": 1,
            "outcome": state,
            "reason": None if analysed else "insufficient views",
            "model_name": "CerviHFENet",
            "model_version": "0.4.0",
            "model_sha256": "ab" * 32,
            "views_used": list(VIEWS) if analysed else [],
            "latency_ms": float(rng.lognormal(6.5, 0.4)) if analysed else None,
            "sr_sop_instance_uid": f"{uid}.9.1",
            "sr_path": f"/var/cervi/instances/{uid}/sr.dcm",
            "created_at": arrival + timedelta(seconds=2),
        }
    )
    ids["delivery"] += 1
    rows["d"].append(
        {
            "id": ids["delivery"],
            "result_id": result_id,
            "destination": "pacs",
            "sop_instance_uid": f"{uid}.9.1",
            "path": f"/var/cervi/instances/{uid}/sr.dcm",
            "state": "delivered",
            "attempts": 1,
            "next_attempt_at": None,
            "last_error": None,
            "delivered_at": arrival + timedelta(seconds=3),
        }
    )
    if not analysed:
        return
    for label, prevalence in zip(LABELS, PREVALENCE, strict=True):
        present = bool(rng.random() < prevalence)
        probability = float(rng.beta(8, 2) if present else rng.beta(1, 12))
        ids["finding"] += 1
        rows["f"].append(
            {
                "id": ids["finding"],
                "result_id": result_id,
                "label": label,
                "probability": probability,
                "threshold": 0.5,
                "present": probability >= 0.5,
            }
        )
    for k, view in enumerate(VIEWS):
        ids["region"] += 1
        rows["g"].append(
            {
                "id": ids["region"],
                "result_id": result_id,
                "sop_instance_uid": f"{uid}.1.{k + 1}",
                "view": view,
                "x0": 100.0,
                "y0": 120.0,
                "x1": 400.0,
                "y1": 480.0,
                "landmarks": {"dens_tip": [250.0, 200.0], "c2_base": [260.0, 330.0]},
            }
        )
