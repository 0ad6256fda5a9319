"""Tables owned by the sync engine.

They live on their own declarative base so that ``sync`` never imports the Flask
application; ``app.sync.models`` copies them into the application's metadata so
Alembic autogenerate and ``create_all`` see them like any other table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, String
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
