"""security: storage commitment on deliveries, the API client in the audit

- ``deliveries.transaction_uid``: the Storage Commitment transaction of the last request.
- ``deliveries.committed_at``: when the destination confirmed it keeps the instance.
- ``audit_events.actor``: who did it (the API token's name) for actions taken over the API.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("transaction_uid", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_deliveries_transaction_uid", ["transaction_uid"], unique=False)
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_transaction_uid")
        batch.drop_column("committed_at")
        batch.drop_column("transaction_uid")
