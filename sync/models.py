"""Tables owned by the sync engine.

They live on their own declarative base so that ``sync`` never imports the Flask
application; ``app.sync.models`` copies them into the application's metadata so
Alembic autogenerate and ``create_all`` see them like any other table.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Index, Integer, MetaData, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in and out, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SyncBase(DeclarativeBase):
    """Declarative base for the sync engine's own tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SyncState(SyncBase):
    """The one row describing this database's change log.

    ``epoch`` is a random id minted when the log is first used and again whenever
    the log is emptied beyond what cursors can survive (a restore, a truncation),
    so cursors from another database or another life of this one are refused.
    ``floor_*`` is the highest position pruned away: a cursor below it has missed
    changes that no longer exist.
    """

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    #: position (xid, id) of the newest pruned change; NULL xid on SQLite
    floor_xid: Mapped[int | None] = mapped_column(BigInteger)
    floor_id: Mapped[int] = mapped_column(BigInteger, default=0)
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: BIGINT on PostgreSQL; INTEGER on SQLite, where only an INTEGER PRIMARY KEY autoincrements
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: the ``jurisdiction`` scope key of changes everyone in the district may receive (checklists)
EVERYWHERE = "*"


class SyncChange(SyncBase):
    """One write to a synced entity, recorded in the writing transaction.

    The feed reads these in ``(xid, id)`` order. ``xid`` is the writing transaction's id
    (``pg_current_xact_id()``) on PostgreSQL and NULL on SQLite. The scope keys let a pull
    read only the slice of the log that can concern the caller, each through its index.
    """

    __tablename__ = "sync_changes"
    __table_args__ = (
        Index("ix_sync_changes_feed", "xid", "id"),
        Index("ix_sync_changes_jurisdiction_feed", "jurisdiction", "xid", "id"),
        Index("ix_sync_changes_enterprise_feed", "enterprise_id", "xid", "id"),
        Index("ix_sync_changes_inspection_feed", "inspection_id", "xid", "id"),
        Index("ix_sync_changes_entity_feed", "entity_id", "xid", "id"),
        Index("ix_sync_changes_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    xid: Mapped[int | None] = mapped_column(BigInteger)
    #: checklist, enterprise, inspection, finding, hazard; "client" rows carry a client's
    #: mutation counter so a pull reports last_mutation_id consistent with its changes
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    op: Mapped[str] = mapped_column(String(6))
    version: Mapped[int] = mapped_column(BigInteger)
    #: jurisdiction code of the entity, or "*" for district-wide entities (checklists)
    jurisdiction: Mapped[str | None] = mapped_column(String(40))
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncClient(SyncBase):
    """A device install and how far its mutations have been applied."""

    __tablename__ = "sync_clients"

    client_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    last_mutation_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncResult(SyncBase):
    """The stored result of one applied or rejected mutation, returned again on replay.

    One row per mutation rather than a JSON list on the client row, so a push appends
    with one bulk insert instead of rewriting an ever-growing document.
    """

    __tablename__ = "sync_results"

    client_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    mutation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SyncKnown(SyncBase):
    """What a device holds: the entities sent to it and not since deleted.

    Rows are stamped with the pull generation that sent (``gen_added``) or removed
    (``gen_removed``) them, so a pull retried with an older cursor (its response was
    lost) sees the set as the device last confirmed it, and resends.
    """

    __tablename__ = "sync_known"

    client_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    gen_added: Mapped[int] = mapped_column(BigInteger)
    gen_removed: Mapped[int | None] = mapped_column(BigInteger)
