"""Stored photos (content-addressed) and tus upload sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id


class MediaObject(Base):
    """A photo stored once per distinct content, keyed by its SHA-256."""

    __tablename__ = "media_objects"

    #: Lower-case hex SHA-256 of the original bytes; also the storage key.
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    #: Sniffed from the bytes, never taken from the client.
    content_type: Mapped[str] = mapped_column(String(40))
    #: Pixel size after EXIF orientation.
    width: Mapped[int]
    height: Mapped[int]
    #: {taken_at, gps: {lat, lon, alt} | null, make, model}; null when the photo had no EXIF.
    exif: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: 64-bit DCT perceptual hash, 16 hex digits (see media.phash).
    phash: Mapped[str] = mapped_column(String(16), index=True)
    #: The pipeline that made ``phash`` (``media.processing.PHASH_VERSION``); 1 for photos
    #: stored before versions were recorded.
    phash_version: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    #: Who first uploaded these bytes; later uploaders are in media_uploaders.
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MediaPhashBand(Base):
    """One band of a photo's perceptual hash: the index that finds near-duplicates.

    Each photo has ``media.phash.BANDS`` rows; a near-duplicate shares, in some band, one of
    the keys ``media.phash.probe_keys`` lists, so finding them reads a few index entries
    instead of every stored hash.
    """

    __tablename__ = "media_phash_bands"

    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(
        ForeignKey("media_objects.sha256", ondelete="CASCADE"), primary_key=True
    )


class MediaNearDuplicate(Base):
    """Two stored photos whose perceptual hashes are within ``NEAR_DUPLICATE_BITS``.

    Written both ways when the later of the two is stored, so the review queue reads a page's
    near-duplicates by primary key, however many photos the district holds.
    """

    __tablename__ = "media_near_duplicates"

    sha256: Mapped[str] = mapped_column(
        ForeignKey("media_objects.sha256", ondelete="CASCADE"), primary_key=True
    )
    other: Mapped[str] = mapped_column(
        ForeignKey("media_objects.sha256", ondelete="CASCADE"), primary_key=True, index=True
    )


class MediaUploader(Base):
    """Everyone who uploaded a photo's bytes (each may see it, as its uploader)."""

    __tablename__ = "media_uploaders"

    sha256: Mapped[str] = mapped_column(
        ForeignKey("media_objects.sha256", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TusUpload(Base):
    """A tus upload session; kept in the database so any API process can continue it."""

    __tablename__ = "tus_uploads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    #: Bytes durably received (the spool file may hold more from a killed request).
    upload_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Decoded Upload-Metadata (sha256, filename, content_type …).
    upload_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: Set when the complete upload was verified and stored.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
