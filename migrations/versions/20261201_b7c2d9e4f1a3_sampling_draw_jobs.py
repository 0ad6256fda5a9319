"""sampling draw jobs: large draws handed to the worker, with progress

Revision ID: b7c2d9e4f1a3
Revises: 3c5e1f7a9b20
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "b7c2d9e4f1a3"
down_revision: str | Sequence[str] | None = "3c5e1f7a9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sampling_draws", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_state", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("job_requested_at", app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("job_requested_by", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("job_done", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("job_total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("job_error", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("job_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("job_heartbeat_at", app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_sampling_draws_job_state"), ["job_state"])
        batch_op.create_foreign_key(
            batch_op.f("fk_sampling_draws_job_requested_by_users"),
            "users",
            ["job_requested_by"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("sampling_draws", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_sampling_draws_job_requested_by_users"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_sampling_draws_job_state"))
        for name in (
            "job_heartbeat_at", "job_attempts", "job_error", "job_total", "job_done",
            "job_requested_by", "job_requested_at", "job_state",
        ):
            batch_op.drop_column(name)
