"""Hazard tickets (隐患), their append-only timeline, the yearly number counter."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id, photos_index
from app.org.models import User
from app.registry.models import Enterprise

HAZARD_SOURCES = ("inspection", "self_report", "public_report", "supervision")
HAZARD_GRADES = ("general", "major")
HAZARD_STATES = ("open", "rectifying", "rectified", "verified", "closed")
HAZARD_ACTIONS = (
    "assign",
    "start",
    "submit_rectification",
    "recheck",
    "close",
    "escalate",
    "request_extension",
    "decide_extension",
    "comment",
)
#: Escalation ladder for overdue tickets (督办).
ESCALATION_LEVELS = {1: "函告", 2: "通报", 3: "约谈", 4: "曝光"}
MAX_ESCALATION = max(ESCALATION_LEVELS)
#: States in which the enterprise still has to act: deadlines run, the sweep escalates.
ACTIVE_STATES = ("open", "rectifying")


class Hazard(Base):
    __tablename__ = "hazards"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: 文号, e.g. 长宁隐〔2026〕0001号: unique, gapless per year (see HazardCounter).
    number: Mapped[str] = mapped_column(String(40), unique=True)
    year: Mapped[int]
    seq: Mapped[int]
    source: Mapped[str] = mapped_column(String(20), index=True)
    #: The confirmed finding this ticket came from; unique, so a finding yields one ticket.
    finding_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("findings.id"), unique=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("inspections.id"), index=True
    )
    #: The verified 群众举报 this ticket came from; unique for the same reason.
    public_report_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("public_reports.id"), unique=True
    )
    grade: Mapped[str] = mapped_column(String(10))
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprises.id"), index=True)
    #: Copied from the enterprise at issue, like inspections: scoping never moves.
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    industry: Mapped[str] = mapped_column(String(40), index=True)
    item_code: Mapped[str | None] = mapped_column(String(20))
    #: The clause enforced: {document, number, article, text}.
    basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(4000), default="")
    #: SHA-256 of the photos that evidence the hazard.
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    #: 0 (none) … 4 (曝光), see ESCALATION_LEVELS.
    escalation_level: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the sweep may next raise the level: max(deadline, escalated_at + interval).
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: 挂牌督办: every major hazard is listed.
    listed: Mapped[bool] = mapped_column(default=False)
    #: 治理方案 of a major hazard, given with `start`.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The open extension request {until, reason, by, at}, cleared by the decision.
    extension_request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The deadline a "due soon" / "overdue" notice was sent for (a new deadline re-arms them).
    due_soon_notified_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_notified_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (UniqueConstraint("year", "seq"), photos_index("hazards"))

    enterprise: Mapped[Enterprise] = relationship()
    #: Who the work team assigned the ticket to (lists load it with ``selectinload``).
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    #: The timeline, oldest first (read-only here: entries are appended by app.hazards.timeline).
    events: Mapped[list[HazardEvent]] = relationship(order_by="HazardEvent.seq", viewonly=True)

    def is_overdue(self, now: datetime) -> bool:
        """Tell whether the enterprise is late: still to act and past the deadline."""
        return self.status in ACTIVE_STATES and self.deadline <= now


class HazardEvent(Base):
    """One entry of a ticket's timeline; rows are only ever appended (and audit-logged)."""

    __tablename__ = "hazard_events"
    __table_args__ = (UniqueConstraint("hazard_id", "seq"), photos_index("hazard_events"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    hazard_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hazards.id"), index=True)
    #: 1, 2, 3 … within the ticket.
    seq: Mapped[int]
    #: "issue", an action name, or a sweep step ("overdue", "escalate").
    action: Mapped[str] = mapped_column(String(30))
    #: Null for the system (the sweep).
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(80), default="system")
    actor_role: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The device's time, for actions that came through sync.
    device_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(4000), default="")
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str | None] = mapped_column(String(12))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The hash-chained audit entry written with this event.
    audit_seq: Mapped[int | None]


@event.listens_for(HazardEvent, "before_update")
@event.listens_for(HazardEvent, "before_delete")
def _append_only(_mapper: Any, _connection: Any, target: HazardEvent) -> None:
    raise RuntimeError(f"timeline entry {target.hazard_id}#{target.seq} is append-only")


class HazardCounter(Base):
    """The last number issued in a year; locked FOR UPDATE while a ticket is numbered."""

    __tablename__ = "hazard_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class RecheckItem(Base):
    """A ticket a recheck inspection (复查) covers, and the result the visit recorded for it."""

    __tablename__ = "recheck_items"

    inspection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), primary_key=True
    )
    hazard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hazards.id"), primary_key=True, index=True
    )
    #: pass or fail once rechecked; None while waiting for the visit
    result: Mapped[str | None] = mapped_column(String(4))
    rechecked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rechecked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
