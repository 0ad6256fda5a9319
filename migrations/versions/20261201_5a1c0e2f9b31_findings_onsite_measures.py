"""Findings carry the measures ordered on the spot (现场处理措施).

Revision ID: 5a1c0e2f9b31
Revises: 789419737704
Create Date: 2026-12-01 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a1c0e2f9b31"
down_revision: str | Sequence[str] | None = "789419737704"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("measures", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("findings") as batch:
        batch.alter_column("measures", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("measures")
