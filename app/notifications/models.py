"""The notification outbox: events written in the same transaction as the change they announce,
and one delivery row per (event, webhook URL) that `fieldsafe worker` works through."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id

EVENT_TYPES = (
    "hazard.issued",
    "hazard.assigned",
    "hazard.due_soon",
    "hazard.overdue",
    "hazard.escalated",
    "hazard.closed",
)
DELIVERY_STATES = ("pending", "delivered", "dead")


class NotificationEvent(Base):
    __tablename__ = "notification_events"

    #: Also the idempotency key every delivery of this event carries.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(40), index=True)
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(40), index=True)
    #: The JSON body sent, fixed when the event happened (retries send the same bytes).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set once the worker created the deliveries for the configured webhooks.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class NotificationDelivery(Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "url"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notification_events.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    #: pending → delivered, or dead (the dead-letter list) after the last attempt failed.
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A worker that claimed the delivery holds it until then; if it dies, another takes over.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
