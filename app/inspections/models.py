"""Inspections, their assigned inspectors, and findings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id, photos_index
from app.registry.models import Enterprise

INSPECTION_TYPES = ("unannounced", "routine", "complaint", "recheck", "double_random")
INSPECTION_STATES = (
    "planned",
    "dispatched",
    "in_progress",
    "submitted",
    "reviewed",
    "closed",
    "cancelled",
)
FINDING_RESULTS = ("pass", "fail", "na")
REVIEW_STATES = ("pending", "confirmed", "rejected", "needs_info")


class Inspection(Base):
    __tablename__ = "inspections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="planned", index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprises.id"), index=True)
    #: Copied from the enterprise at creation: scoping does not change if the enterprise moves.
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    industry: Mapped[str] = mapped_column(String(40))
    #: The checklist version the findings answer (fixed at check-in, or at creation).
    checklist_version: Mapped[int | None]
    #: Indexed: the planner's own inspections are one part of the visibility rule's union.
    planner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The sampling plan that drew this inspection (double_random only).
    sampling_plan_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Assigned inspectors see the inspection from this moment on.
    dispatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Check-in evidence (四不两直: arrival is evidenced).
    check_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # device time
    check_in_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # server time
    check_in_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    check_in_lat: Mapped[float | None]
    check_in_lon: Mapped[float | None]
    check_in_accuracy: Mapped[float | None]
    check_in_distance_m: Mapped[float | None]
    check_in_far: Mapped[bool | None]
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    assignments: Mapped[list[InspectionInspector]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", lazy="selectin"
    )

    #: The inspected enterprise (lists load it with ``selectinload``).
    enterprise: Mapped[Enterprise] = relationship()

    @property
    def inspector_ids(self) -> list[uuid.UUID]:
        """Return the assigned inspectors' ids."""
        return [a.user_id for a in self.assignments]

    def effective_status(self, now: datetime) -> str:
        """Return the status, reading a planned inspection past its dispatch time as dispatched."""
        if self.status == "planned" and (self.dispatch_at is None or self.dispatch_at <= now):
            return "dispatched"
        return self.status


class InspectionInspector(Base):
    __tablename__ = "inspection_inspectors"

    inspection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)

    inspection: Mapped[Inspection] = relationship(back_populates="assignments")


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (
        # Only the few findings still waiting for a photo: each upload looks them up.
        Index(
            "ix_findings_media_pending",
            "id",
            postgresql_where=text("media_pending"),
            sqlite_where=text("media_pending = 1"),
        ),
        photos_index("findings"),
    )
    #: Client-generated on the device.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(20))
    #: The checklist version whose item text this finding answered.
    checklist_version: Mapped[int | None]
    result: Mapped[str] = mapped_column(String(4))
    note: Mapped[str] = mapped_column(String(4000), default="")
    grade: Mapped[str] = mapped_column(String(10))
    #: SHA-256 hex digests of the evidence photos.
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The measured value, in the checklist item's ``unit`` (items that ask for one).
    value: Mapped[float | None]
    #: Measures ordered on the spot ``[{"code", "note"}]`` (现场处理措施; app.sync.mutations).
    measures: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    review_status: Mapped[str] = mapped_column(String(12), default="pending")
    #: The supervisor's latest review comment (what to fix when sent back with needs_info).
    review_comment: Mapped[str] = mapped_column(String(2000), default="")
    media_pending: Mapped[bool] = mapped_column(default=False)
    deleted: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    #: The inspection this finding belongs to (its scope in the sync feed).
    inspection: Mapped[Inspection] = relationship()
