"""SQL reporting views for people who query with SQL or BI tools

- ``study_results``: one row per result version, one column per demo label probability.
- ``latest_study_results``: the same, newest version of each study only.
- ``finding_results``: one row per (result version, label), for labels of any model.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The demo model's labels (docs/labels.md); a model with other labels shows in finding_results.
LABELS = (
    "atlantoaxial_instability",
    "atlantoaxial_dislocation",
    "basilar_invagination",
    "os_odontoideum",
    "atlas_assimilation",
    "c2_c3_fusion",
)


def upgrade() -> None:
    columns = ",\n    ".join(
        f"MAX(CASE WHEN f.label = '{label}' THEN f.probability END) AS {label}" for label in LABELS
    )
    op.execute(
        f"""
CREATE VIEW study_results AS
SELECT
    s.study_uid, s.patient_id, s.accession_number, s.study_date, s.state AS study_state,
    r.version, r.outcome, r.reason, r.model_name, r.model_version, r.latency_ms,
    r.created_at, r.sr_sop_instance_uid,
    COUNT(CASE WHEN f.present THEN 1 END) AS findings_present,
    {columns}
FROM results r
JOIN studies s ON s.id = r.study_id
LEFT JOIN findings f ON f.result_id = r.id
GROUP BY s.id, r.id
"""
    )
    op.execute(
        """
CREATE VIEW latest_study_results AS
SELECT v.* FROM study_results v
JOIN studies s ON s.study_uid = v.study_uid
WHERE v.version = (SELECT MAX(r.version) FROM results r WHERE r.study_id = s.id)
"""
    )
    op.execute(
        """
CREATE VIEW finding_results AS
SELECT
    s.study_uid, s.study_date, r.version, r.model_name, r.model_version, r.created_at,
    f.label, f.probability, f.threshold, f.present
FROM findings f
JOIN results r ON r.id = f.result_id
JOIN studies s ON s.id = r.study_id
"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW finding_results")
    op.execute("DROP VIEW latest_study_results")
    op.execute("DROP VIEW study_results")
