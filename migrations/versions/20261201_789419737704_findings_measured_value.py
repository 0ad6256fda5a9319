"""Findings carry the measured value (录入实测值) of items that ask for one.

Revision ID: 789419737704
Revises: 7b7de01e5c6d
Create Date: 2026-12-01 10:53:03.098363
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "789419737704"
down_revision: str | Sequence[str] | None = "7b7de01e5c6d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("value", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("findings", "value")
