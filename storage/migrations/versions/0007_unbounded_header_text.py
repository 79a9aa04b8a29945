"""header values of any length on PostgreSQL, as on SQLite

A sender's Patient ID, Accession Number or Modality may be longer than its DICOM VR allows
(LO 64, SH 16, CS 16). SQLite stores such a value as it is; PostgreSQL refused it (DataError),
which the listener answered as if it were out of resources. On PostgreSQL these columns become
TEXT; SQLite does not enforce declared lengths, so it keeps its schema. PostgreSQL does not
change the type of a column a view reads, so the reporting views are dropped and made again,
from their own definitions, around the change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("studies", "patient_id", 64),
    ("studies", "accession_number", 16),
    ("instances", "modality", 16),
)
# The schema's views in creation order (which is their dependency order), with definitions.
VIEWS = sa.text(
    """
SELECT c.relname, pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname = current_schema()
ORDER BY c.oid
"""
)


def upgrade() -> None:
    _retype(lambda length: sa.Text())


def downgrade() -> None:
    _retype(lambda length: sa.String(length=length))


def _retype(new_type) -> None:  # type: ignore[no-untyped-def]
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    views = list(bind.execute(VIEWS))
    for name, _ in reversed(views):
        op.execute(f'DROP VIEW "{name}"')
    for table, column, length in COLUMNS:
        op.alter_column(table, column, type_=new_type(length))
    for name, definition in views:
        op.execute(f'CREATE VIEW "{name}" AS {definition}')
