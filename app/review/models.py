"""Supervisors' decisions on findings (each decision kept; the finding holds the latest)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id

DECISIONS = ("confirm", "reject", "needs_info")
#: finding.review_status after each decision.
DECISION_STATUS = {"confirm": "confirmed", "reject": "rejected", "needs_info": "needs_info"}


class FindingReview(Base):
    __tablename__ = "finding_reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"), index=True)
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), index=True)
    decision: Mapped[str] = mapped_column(String(12))
    comment: Mapped[str] = mapped_column(String(4000), default="")
    #: A grade override: the finding's grade before, the grade decided, and why.
    grade_from: Mapped[str | None] = mapped_column(String(10))
    grade_to: Mapped[str | None] = mapped_column(String(10))
    grade_reason: Mapped[str | None] = mapped_column(String(2000))
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    #: The finding's version this decision produced: a later version is the inspector's
    #: amendment (what a resubmission after needs_info checks for).
    finding_version: Mapped[int | None]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
