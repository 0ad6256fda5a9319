"""Times with time zone: every time column is timestamptz, as the sync engine's already were.

Until now the application's columns were `timestamp` (naive, holding UTC) while the sync engine's
were `timestamptz`: one schema, two kinds of time. Stored values are UTC, so the conversion reads
each as UTC. SQLite stores both kinds alike: nothing to do there.

Revision ID: 7b7de01e5c6d
Revises: 8f02a6aa677d
Create Date: 2026-12-01 10:36:17.987537
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b7de01e5c6d"
down_revision: str | Sequence[str] | None = "8f02a6aa677d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) of every application time column, as of this revision.
COLUMNS = (
    ("audit_entries", "at"),
    ("checklist_versions", "published_at"),
    ("devices", "created_at"),
    ("devices", "last_seen_at"),
    ("devices", "revoked_at"),
    ("enterprises", "last_inspected_at"),
    ("enterprises", "created_at"),
    ("enterprises", "updated_at"),
    ("finding_reviews", "at"),
    ("findings", "recorded_at"),
    ("findings", "received_at"),
    ("findings", "updated_at"),
    ("hazard_events", "at"),
    ("hazard_events", "device_at"),
    ("hazards", "found_at"),
    ("hazards", "deadline"),
    ("hazards", "escalated_at"),
    ("hazards", "next_escalation_at"),
    ("hazards", "due_soon_notified_for"),
    ("hazards", "overdue_notified_for"),
    ("hazards", "created_at"),
    ("hazards", "updated_at"),
    ("hazards", "closed_at"),
    ("inspections", "window_start"),
    ("inspections", "window_end"),
    ("inspections", "dispatch_at"),
    ("inspections", "check_in_at"),
    ("inspections", "check_in_received_at"),
    ("inspections", "submitted_at"),
    ("inspections", "submitted_received_at"),
    ("inspections", "created_at"),
    ("inspections", "updated_at"),
    ("media_objects", "created_at"),
    ("media_uploaders", "created_at"),
    ("notification_deliveries", "next_attempt_at"),
    ("notification_deliveries", "lease_until"),
    ("notification_deliveries", "created_at"),
    ("notification_deliveries", "delivered_at"),
    ("notification_events", "created_at"),
    ("notification_events", "fanned_out_at"),
    ("public_reports", "received_at"),
    ("public_reports", "decided_at"),
    ("sampling_draws", "committed_at"),
    ("sampling_draws", "drawn_at"),
    ("sampling_draws", "superseded_at"),
    ("sampling_plans", "window_start"),
    ("sampling_plans", "window_end"),
    ("sampling_plans", "dispatch_at"),
    ("sampling_plans", "created_at"),
    ("sampling_plans", "updated_at"),
    ("tokens", "issued_at"),
    ("tokens", "expires_at"),
    ("tokens", "rotated_at"),
    ("tokens", "revoked_at"),
    ("tus_uploads", "created_at"),
    ("tus_uploads", "expires_at"),
    ("tus_uploads", "completed_at"),
    ("users", "created_at"),
)


def _convert(to_zone: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name in COLUMNS:
        op.alter_column(
            table,
            name,
            existing_type=sa.DateTime(timezone=not to_zone),
            type_=sa.DateTime(timezone=to_zone),
            postgresql_using=f"{name} AT TIME ZONE 'UTC'",
        )


def upgrade() -> None:
    _convert(to_zone=True)


def downgrade() -> None:
    _convert(to_zone=False)
