"""A small results database: three studies, two analysed with two result versions each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cervi.bootstrap import Service
from storage.db import transaction
from storage.tables import (
    Delivery,
    Finding,
    Instance,
    MeasurementRow,
    Region,
    Result,
    Study,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def seed(service: Service, tmp_path: Path) -> None:
    """Three studies: two analysed (one with instability), one still receiving."""
    sr = tmp_path / "sr.dcm"
    sr.write_bytes(b"\0" * 128 + b"DICM" + b"fake SR bytes")
    with transaction(service.sessions) as session:
        for n, (patient, date, state, p_inst) in enumerate(
            [
                ("P1", "20260101", "analysed", 0.91),
                ("P2", "20260301", "analysed", 0.12),
                ("P3", "20260501", "receiving", None),
            ]
        ):
            study = Study(
                study_uid=f"1.2.3.{n}",
                patient_id=patient,
                accession_number=f"ACC{n}",
                study_date=date,
                state=state,
                last_arrival_at=T0 + timedelta(hours=n),
            )
            session.add(study)
            session.flush()
            session.add(
                Instance(
                    study_id=study.id,
                    sop_instance_uid=f"1.2.3.{n}.1",
                    sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
                    series_uid=f"1.2.3.{n}.9",
                    transfer_syntax_uid="1.2.840.10008.1.2.1",
                    path="/x",
                    sha256="0" * 64,
                    size=1,
                    view="flexion",
                    view_rule="series_description_flexion",
                )
            )
            if p_inst is None:
                continue
            for version, model in ((1, "0.1.0"), (2, "0.2.0")):
                result = Result(
                    study_id=study.id,
                    version=version,
                    outcome="analysed",
                    model_name="CerviHFENet",
                    model_version=model,
                    views_used=["extension", "neutral", "flexion"],
                    latency_ms=300.0 * version,
                    sr_path=str(sr) if version == 2 else None,
                    sr_sop_instance_uid=f"1.2.3.{n}.{version}.7",
                )
                session.add(result)
                session.flush()
                session.add_all(
                    [
                        Finding(
                            result_id=result.id,
                            label="atlantoaxial_instability",
                            probability=p_inst,
                            threshold=0.5,
                            present=p_inst >= 0.5,
                        ),
                        Finding(
                            result_id=result.id,
                            label="c2_c3_fusion",
                            probability=0.3,
                            threshold=0.5,
                            present=False,
                        ),
                        Region(
                            result_id=result.id,
                            sop_instance_uid=f"1.2.3.{n}.1",
                            view="flexion",
                            x0=10,
                            y0=20,
                            x1=110,
                            y1=220,
                            landmarks={"dens_tip": [50.0, 60.0]},
                        ),
                        MeasurementRow(
                            result_id=result.id,
                            name="adi_mm",
                            scope="view",
                            view="flexion",
                            value=4.0 if p_inst >= 0.5 else 1.5,
                            unit="mm",
                            sop_instance_uid=f"1.2.3.{n}.1",
                            lines=[[[40.0, 60.0], [60.0, 60.0]]],
                        ),
                        MeasurementRow(
                            result_id=result.id,
                            name="occiput_c1_motion_deg",
                            scope="study",
                            value=7.5 * version,
                            unit="deg",
                            lines=[],
                        ),
                        Delivery(
                            result_id=result.id,
                            destination="pacs",
                            sop_instance_uid=f"1.2.3.{n}.{version}.7",
                            path=str(sr),
                            state="failed",
                            attempts=3,
                            last_error="C-STORE status 0xA900",
                        ),
                    ]
                )
