"""header values of any length on PostgreSQL, as on SQLite

A sender's Patient ID, Accession Number or Modality may be longer than its DICOM VR allows
(LO 64, SH 16, CS 16). SQLite stores such a value as it is; PostgreSQL refused it (DataError),
which the listener answered as if it were out of resources. On PostgreSQL these columns become
TEXT; SQLite does not enforce declared lengths, so it keeps its schema. The reporting views
read these columns, so they are dropped and made again around the change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("studies", "patient_id", 64),
    ("studies", "accession_number", 16),
    ("instances", "modality", 16),
)
VIEWS_REVISION = "0003"


def upgrade() -> None:
    _retype(lambda length: sa.Text())


def downgrade() -> None:
    _retype(lambda length: sa.String(length=length))


def _retype(new_type) -> None:  # type: ignore[no-untyped-def]
    if op.get_bind().dialect.name != "postgresql":
        return
    views = context.script.get_revision(VIEWS_REVISION).module
    views.downgrade()
    for table, column, length in COLUMNS:
        op.alter_column(table, column, type_=new_type(length))
    views.upgrade()
