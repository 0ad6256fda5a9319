"""Published checklist versions: immutable once stored."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id


class ChecklistVersion(Base):
    __tablename__ = "checklist_versions"
    __table_args__ = (UniqueConstraint("industry", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    industry: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 hex of the canonical JSON of `content`; the ETag.
    digest: Mapped[str] = mapped_column(String(64))
    #: The whole checklist file as loaded (industry, name, description, items …).
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: First day (China date) inspections pin this version: the file's `effective_from`, else the
    #: day it was published. NULL on versions published before editions had dates: in force from
    #: their publication.
    effective_from: Mapped[date | None] = mapped_column(Date)
