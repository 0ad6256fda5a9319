"""checklist versions effective_from

Revision ID: 8f02a6aa677d
Revises: c0ba56eaa990
Create Date: 2026-12-01 09:27:53.741335
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '8f02a6aa677d'
down_revision: str | Sequence[str] | None = 'c0ba56eaa990'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Versions published before this column existed stay NULL: in force from their publication.
def upgrade() -> None:
    with op.batch_alter_table('checklist_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_from', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('checklist_versions', schema=None) as batch_op:
        batch_op.drop_column('effective_from')
