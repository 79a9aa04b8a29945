"""study assembly: per-instance decisions, study groups, dispatched versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("assembled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ignored_reason", sa.Text(), nullable=True))
        batch.create_index("ix_instances_assembled_at", ["assembled_at"], unique=False)

    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_index("ix_studies_group_id", ["group_id"], unique=False)
        batch.create_foreign_key("fk_studies_group_id_studies", "studies", ["group_id"], ["id"])

    op.create_table(
        "dispatches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("views", sa.JSON(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_dispatches_study_version", "dispatches", ["study_id", "version"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_dispatches_study_version", table_name="dispatches")
    op.drop_table("dispatches")
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint("fk_studies_group_id_studies", type_="foreignkey")
        batch.drop_index("ix_studies_group_id")
        batch.drop_column("group_id")
    with op.batch_alter_table("instances") as batch:
        batch.drop_index("ix_instances_assembled_at")
        batch.drop_column("ignored_reason")
        batch.drop_column("assembled_at")
