"""Users choose the language they read the API in (users.locale; null follows the browser).

Revision ID: 7dcee558dd7f
Revises: 574dfb52dec3
Create Date: 2026-12-01 12:19:00.553529
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7dcee558dd7f"
down_revision: str | Sequence[str] | None = "574dfb52dec3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "locale")
