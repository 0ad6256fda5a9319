"""The enterprise registry (检查对象名录库)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id

RISK_LEVELS = ("high", "medium", "low")


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), index=True)
    #: 统一社会信用代码, 18 characters, check character per GB 32100-2015.
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    #: Industry slug, as in checklists/<industry>.yaml.
    industry: Mapped[str] = mapped_column(String(40), index=True)
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    risk_level: Mapped[str] = mapped_column(String(10), default="medium")
    principal_name: Mapped[str | None] = mapped_column(String(100))
    principal_phone: Mapped[str | None] = mapped_column(String(40))
    last_inspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)
