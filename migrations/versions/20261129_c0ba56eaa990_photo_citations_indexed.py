"""photo citations indexed

Revision ID: c0ba56eaa990
Revises: 986e295004d6
Create Date: 2026-11-29 13:32:30.701621
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db
import sync.models


revision: str = 'c0ba56eaa990'
down_revision: str | Sequence[str] | None = '986e295004d6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# GIN indexes over the JSON photo lists, PostgreSQL only (the models declare them with
# ddl_if(dialect="postgresql"); SQLite searches the lists as text).
TABLES = ("findings", "hazard_events", "hazards")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.create_index(
            f"ix_{table}_photos",
            table,
            [sa.literal_column("(CAST(photos AS JSONB))")],
            unique=False,
            postgresql_using="gin",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.drop_index(f"ix_{table}_photos", table_name=table, postgresql_using="gin")
