"""Which pipeline made each photo's perceptual hash (media.processing.PHASH_VERSION): the
photos already stored are version 1; their hashes are kept as they are (see PHASH_VERSION for
why copies hashed under version 2 still pair with them).

Revision ID: 070c33fe3f1a
Revises: a0610862bf80
Create Date: 2026-12-01 21:41:36.898711
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '070c33fe3f1a'
down_revision: str | Sequence[str] | None = 'a0610862bf80'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('media_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phash_version', sa.SmallInteger(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('media_objects', schema=None) as batch_op:
        batch_op.drop_column('phash_version')
