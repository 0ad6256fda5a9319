"""Enforcement documents (执法文书): every issued version, their counters, their signatures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id
from app.registry.models import Enterprise

#: The four documents, in the order an inspection produces them.
DOCUMENT_KINDS = ("inspection_record", "rectification_order", "onsite_measures", "recheck_opinion")


class Document(Base):
    """One issued version of a document; a reissue adds a version and keeps this one."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("inspection_id", "kind", "version"),
        UniqueConstraint("department_code", "kind", "year", "seq", "version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: inspection_record (现场检查记录), rectification_order (责令限期整改指令书),
    #: onsite_measures (现场处理措施决定书), recheck_opinion (整改复查意见书)
    kind: Mapped[str] = mapped_column(String(20))
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprises.id"), index=True)
    #: Copied from the inspection, like tickets: the scope of the document never moves.
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    #: The issuing department; numbers run per department, kind and year (China time).
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    year: Mapped[int]
    seq: Mapped[int]
    #: 文号, fixed at the first issue and kept by every later version.
    number: Mapped[str] = mapped_column(String(60), index=True)
    #: 1 for the first issue, +1 for each reissue (a correction or a new signature).
    version: Mapped[int] = mapped_column(default=1)
    #: False once a later version replaced this one (the old one stays verifiable).
    current: Mapped[bool] = mapped_column(default=True)
    #: The tickets this document names (orders, decisions, recheck opinions).
    hazard_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: What the document says, as built by app.documents.content (the PDF is drawn from it).
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Short code printed under the QR code; opens /public/documents/<code>.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    #: SHA-256 of the PDF bytes, also on the audit chain (document.issue).
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int]
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: The inspected enterprise (the verification page names it).
    enterprise: Mapped[Enterprise] = relationship()


class DocumentCounter(Base):
    """The last number of a department's documents of one kind in a year (locked FOR UPDATE)."""

    __tablename__ = "document_counters"

    department_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class DocumentSignature(Base):
    """A handwritten signature captured on the device, or a representative's recorded refusal."""

    __tablename__ = "document_signatures"
    __table_args__ = (UniqueConstraint("inspection_id", "kind", "role", "signer_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: inspector or representative (the enterprise's person on site)
    role: Mapped[str] = mapped_column(String(20))
    #: The inspector's user id, or "representative": one signature per signer.
    signer_key: Mapped[str] = mapped_column(String(40))
    signer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    signer_name: Mapped[str] = mapped_column(String(100))
    #: The PNG of the signature, as drawn on the device (None for a refusal).
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    refused: Mapped[bool] = mapped_column(default=False)
    #: Who witnessed a refusal (required with ``refused``).
    witness_name: Mapped[str | None] = mapped_column(String(100))
    #: When and where it was signed, as the device recorded it.
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Who captured it (the inspector holding the device).
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
