"""sampling draws' large columns compressed with LZ4

Revision ID: 7f302228df2f
Revises: 82d3dbbf2f3c
Create Date: 2026-12-06 21:30:00

On a PostgreSQL that has LZ4 (14 and later, built with lz4), the frozen population, pool and
result of a draw are compressed with it instead of pglz (app.planning.models
.compress_large_columns does the same for a database created from the models). Rows already
stored keep their compression until rewritten; nothing else changes. SQLite: nothing to do.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '7f302228df2f'
down_revision: str | Sequence[str] | None = '82d3dbbf2f3c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("population", "pool", "result")


def _set(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_lz4 = bind.scalar(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
            " WHERE name = 'default_toast_compression'"
        )
    )
    if not has_lz4:
        return
    for column in COLUMNS:
        op.execute(f"ALTER TABLE sampling_draws ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("default")
