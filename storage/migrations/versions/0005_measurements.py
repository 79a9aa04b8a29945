"""measurements: the values a reader uses, per view and per study, with reporting views

- table ``measurements``: one row per measurement of a result version.
- view ``measurement_results``: one row per (result version, measurement), with the study.
- views ``study_measurements`` and ``latest_study_measurements``: one row per result version
  (newest only), one column per demo measurement (``adi_mm_flexion``, ``adi_change_mm``, ...).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The demo model's measurements as they were when this revision was written (a migration never
# follows later code): (column, name, view or None).
_VIEWS = ("extension", "neutral", "flexion")
COLUMNS = [
    (f"{name}_{view}", name, view)
    for name in ("adi_mm", "occiput_c1_angle_deg", "c2_c3_angle_deg")
    for view in _VIEWS
] + [
    (name, name, None)
    for name in (
        "adi_change_mm",
        "dens_above_chamberlain_mm",
        "basion_dens_interval_mm",
        "occiput_c1_motion_deg",
        "c2_c3_motion_deg",
        "c2_c3_disc_height_mm",
        "ossicle_gap_mm",
    )
]


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("view", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_measurements_result_id", "measurements", ["result_id"], unique=False)
    op.execute(
        """
CREATE VIEW measurement_results AS
SELECT
    s.study_uid, s.study_date, r.version, r.model_name, r.model_version, r.created_at,
    m.name, m.scope, m.view, m.value, m.unit
FROM measurements m
JOIN results r ON r.id = m.result_id
JOIN studies s ON s.id = r.study_id
"""
    )
    columns = ",\n    ".join(
        f"MAX(CASE WHEN m.name = '{name}' AND "
        + (f"m.view = '{view}'" if view else "m.scope = 'study'")
        + f" THEN m.value END) AS {column}"
        for column, name, view in COLUMNS
    )
    op.execute(
        f"""
CREATE VIEW study_measurements AS
SELECT
    s.study_uid, s.patient_id, s.accession_number, s.study_date,
    r.version, r.outcome, r.model_name, r.model_version, r.created_at,
    {columns}
FROM results r
JOIN studies s ON s.id = r.study_id
LEFT JOIN measurements m ON m.result_id = r.id
GROUP BY s.id, r.id
"""
    )
    op.execute(
        """
CREATE VIEW latest_study_measurements AS
SELECT v.* FROM study_measurements v
JOIN studies s ON s.study_uid = v.study_uid
WHERE v.version = (SELECT MAX(r.version) FROM results r WHERE r.study_id = s.id)
"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW latest_study_measurements")
    op.execute("DROP VIEW study_measurements")
    op.execute("DROP VIEW measurement_results")
    op.drop_index("ix_measurements_result_id", table_name="measurements")
    op.drop_table("measurements")
