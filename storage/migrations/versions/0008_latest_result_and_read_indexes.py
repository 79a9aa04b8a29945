"""the results database at scale: the latest result on each study, indexes for the common reads

- ``studies.latest_result_id`` / ``studies.reported_version``: the newest result of a study and
  its version, kept by a trigger on ``results`` so that every writer keeps them exact. Lists join
  the latest result through the id; the sweep finds studies owed a report through the version.
  No foreign key: results already point at studies, and a cycle would break table ordering.
- Indexes for the list orders and filters (arrival, state, patient, date, accession, changes),
  the finding filter ``(label, probability)``, and partial indexes that hold only what retention
  and the sweep can still have to do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in storage.tables (a migration is a snapshot: it does not import the current code).
UNREPORTED = "reported_version < result_version AND group_id IS NULL"
FILES_KEPT = "files_removed_at IS NULL"

_SET_LATEST = """
    UPDATE studies SET latest_result_id = NEW.id, reported_version = NEW.version
    WHERE id = NEW.study_id AND reported_version < NEW.version;
"""


def upgrade() -> None:
    op.add_column("studies", sa.Column("latest_result_id", sa.Integer(), nullable=True))
    op.add_column(
        "studies", sa.Column("reported_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute(
        """
UPDATE studies SET
    reported_version = (SELECT MAX(r.version) FROM results r WHERE r.study_id = studies.id),
    latest_result_id = (
        SELECT r.id FROM results r WHERE r.study_id = studies.id ORDER BY r.version DESC LIMIT 1
    )
WHERE EXISTS (SELECT 1 FROM results r WHERE r.study_id = studies.id)
"""
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
CREATE FUNCTION cervi_set_latest_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_SET_LATEST} RETURN NULL; END $$
"""
        )
        op.execute(
            "CREATE TRIGGER results_set_latest AFTER INSERT ON results "
            "FOR EACH ROW EXECUTE FUNCTION cervi_set_latest_result()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER results_set_latest AFTER INSERT ON results BEGIN {_SET_LATEST} END"
        )

    op.create_index("ix_studies_arrival", "studies", ["last_arrival_at", "id"])
    op.create_index("ix_studies_state_arrival", "studies", ["state", "last_arrival_at", "id"])
    op.drop_index("ix_studies_state", table_name="studies")  # the one above begins with state
    # With the arrival: a filtered page sorts what the index holds, without reading rows.
    op.create_index("ix_studies_patient_id", "studies", ["patient_id", "last_arrival_at"])
    op.create_index("ix_studies_study_date", "studies", ["study_date", "last_arrival_at"])
    op.create_index("ix_studies_accession_number", "studies", ["accession_number"])
    op.create_index("ix_studies_updated_at", "studies", ["updated_at", "id"])
    op.create_index(
        "ix_studies_latest_result_id", "studies", ["latest_result_id", "last_arrival_at"]
    )
    op.create_index(
        "ix_studies_unreported",
        "studies",
        ["state"],
        sqlite_where=sa.text(UNREPORTED),
        postgresql_where=sa.text(UNREPORTED),
    )
    op.create_index(
        "ix_findings_label_probability", "findings", ["label", "probability", "result_id"]
    )
    op.create_index(
        "ix_instances_files_kept",
        "instances",
        ["received_at"],
        sqlite_where=sa.text(FILES_KEPT),
        postgresql_where=sa.text(FILES_KEPT),
    )
    op.create_index(
        "ix_instances_files_kept_by_study",
        "instances",
        ["study_id", "received_at"],
        sqlite_where=sa.text(FILES_KEPT),
        postgresql_where=sa.text(FILES_KEPT),
    )


def downgrade() -> None:
    op.drop_index("ix_instances_files_kept_by_study", table_name="instances")
    op.drop_index("ix_instances_files_kept", table_name="instances")
    op.drop_index("ix_findings_label_probability", table_name="findings")
    for name in (
        "ix_studies_unreported",
        "ix_studies_latest_result_id",
        "ix_studies_updated_at",
        "ix_studies_accession_number",
        "ix_studies_study_date",
        "ix_studies_patient_id",
        "ix_studies_state_arrival",
        "ix_studies_arrival",
    ):
        op.drop_index(name, table_name="studies")
    op.create_index("ix_studies_state", "studies", ["state"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER results_set_latest ON results")
        op.execute("DROP FUNCTION cervi_set_latest_result()")
    else:
        op.execute("DROP TRIGGER results_set_latest")
    # In place (SQLite 3.35+ too): a copied table would break the reporting views over it.
    op.execute("ALTER TABLE studies DROP COLUMN reported_version")
    op.execute("ALTER TABLE studies DROP COLUMN latest_result_id")
