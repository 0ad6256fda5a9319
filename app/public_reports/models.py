"""Public reports (群众举报): anonymous reports waiting for staff to verify or reject them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id
from app.hazards.models import Hazard

PUBLIC_REPORT_STATES = ("pending", "verified", "rejected")


class PublicReport(Base):
    """An anonymous 群众举报; it becomes a ticket only when staff verify it."""

    __tablename__ = "public_reports"
    __table_args__ = (Index("ix_public_reports_status_received", "status", "received_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    description: Mapped[str] = mapped_column(String(4000))
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    #: The street the reporter chose, if any (null: district-level staff triage it).
    jurisdiction_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code"))
    #: The unit the reporter named, as free text.
    enterprise_name: Mapped[str] = mapped_column(String(200), default="")
    #: Optional way to reach the reporter; shown to staff only.
    contact: Mapped[str | None] = mapped_column(String(100))
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(String(2000), default="")
    version: Mapped[int] = mapped_column(default=1)

    #: The ticket a verified report became (hazards.public_report_id is unique).
    hazard: Mapped[Hazard | None] = relationship(
        primaryjoin=lambda: Hazard.public_report_id == PublicReport.id,
        foreign_keys=lambda: [Hazard.public_report_id],
        uselist=False,
        viewonly=True,
    )
