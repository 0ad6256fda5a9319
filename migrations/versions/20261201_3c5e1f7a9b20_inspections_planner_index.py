"""Inspections are indexed by planner: the visibility rule's union reads a planner's own ones.

The sync scope of review and coordination devices reads the inspections a user may see as a
union of the rule's parts, each through its own index (app.inspections.visibility.visible_ids);
without this index the planner's part scans every inspection of the district.

Revision ID: 3c5e1f7a9b20
Revises: c41a7e0d2b93
Create Date: 2026-12-01 21:58:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3c5e1f7a9b20"
down_revision: str | Sequence[str] | None = "c41a7e0d2b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_inspections_planner_id", "inspections", ["planner_id"])


def downgrade() -> None:
    op.drop_index("ix_inspections_planner_id", table_name="inspections")
