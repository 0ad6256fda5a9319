"""Jurisdictions, departments and users (staff, inspectors and enterprise accounts)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id
from app.i18n import _l

ROLES = ("inspector", "supervisor", "coordinator", "planner", "enterprise", "admin")
#: Every role but the enterprise account: the district's own staff.
STAFF_ROLES = ("inspector", "supervisor", "coordinator", "planner", "admin")
#: What a message calls each role (docs/api.md, "Who uses it").
ROLE_NAMES = {
    "inspector": _l("inspector"),
    "supervisor": _l("supervisor"),
    "coordinator": _l("coordinator"),
    "planner": _l("planner"),
    "enterprise": _l("enterprise account"),
    "admin": _l("administrator"),
}


class Jurisdiction(Base):
    __tablename__ = "jurisdictions"

    #: Short stable code, e.g. "changning" (the district) or "huayanglu" (a street).
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: "district" or "street" (街道 and 镇 alike).
    level: Mapped[str] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code"))
    lat: Mapped[float | None]
    lon: Mapped[float | None]


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprises.id"))
    phone: Mapped[str | None] = mapped_column(String(40))
    #: 执法证号 of an inspector, and when it expires.
    certificate_no: Mapped[str | None] = mapped_column(String(60))
    certificate_expires: Mapped[date | None] = mapped_column(Date)
    #: Enterprise ids (strings) this inspector declared a conflict of interest with (回避).
    conflicts: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    #: The language the user reads the API in (app.i18n.LANGUAGES); null follows the browser's
    #: Accept-Language.
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    @property
    def is_district_level(self) -> bool:
        """District-level staff see the whole district."""
        from flask import current_app

        return self.jurisdiction_code == current_app.config["DISTRICT_CODE"]
