"""domain gate: the model's domain score per view of a result, and a reason code per result

- ``domain_scores``: one row per (result version, view) the model's domain gate measured.
- ``results.reason_code``: why a version was not analysed (``storage.states.NotAnalysedReason``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite has ADD and DROP COLUMN): a batch copy of "results" would break
    # the reporting views that read it (0003)
    op.add_column("results", sa.Column("reason_code", sa.String(length=32), nullable=True))
    op.create_table(
        "domain_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("view", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("in_domain", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_domain_scores_result_id", "domain_scores", ["result_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_domain_scores_result_id", table_name="domain_scores")
    op.drop_table("domain_scores")
    op.drop_column("results", "reason_code")
