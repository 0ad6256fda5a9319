"""Tables owned by the sync engine, made in the application's metadata.

The application calls :func:`make_sync_tables` once, with its own ``MetaData`` and the scope
keys of its change log, and hands the resulting :class:`SyncTables` to every engine function.
The engine never imports the application, and the application's Alembic autogenerate and
``create_all`` see the tables like any other::

    from sqlalchemy import MetaData, Uuid
    from sync.models import ScopeKey, make_sync_tables

    metadata = MetaData()
    SYNC = make_sync_tables(metadata, scope=[ScopeKey("list_id", Uuid())])

A *scope key* is a column of the change log naming what a change concerns (a list, a team, a
region), each with its ``(key, xid, id)`` index, so a pull reads only the slice of the log that
can concern its caller (see ``sync.feed.FeedScope.branches``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["BigId", "ScopeKey", "SyncTables", "UTCDateTime", "make_sync_tables"]


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


#: BIGINT on PostgreSQL; INTEGER on SQLite, where only an INTEGER PRIMARY KEY autoincrements
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: the change-log columns every application has; a scope key may not reuse these names
_CHANGE_COLUMNS = ("id", "xid", "entity_type", "entity_id", "op", "version", "created_at")


@dataclass(frozen=True)
class ScopeKey:
    """A nullable column of the change log that a pull can select its slice of the log by."""

    name: str
    type: TypeEngine[Any]
    #: name of its ``(key, xid, id)`` index; default ``ix_<changes table>_<name>_feed``
    index: str | None = None


@dataclass(frozen=True)
class SyncTables:
    """The engine's tables as one application made them (see :func:`make_sync_tables`).

    ``state``
        The one row describing this database's change log. ``epoch`` is a random id minted
        when the log is first used and again whenever the log is emptied beyond what
        cursors can survive (a restore, a truncation), so cursors from another database or
        another life of this one are refused. ``floor_*`` is the highest position pruned
        away: a cursor below it has missed changes that no longer exist.
    ``changes``
        One row per write to a synced entity, recorded in the writing transaction. The feed
        reads them in ``(xid, id)`` order. ``xid`` is the writing transaction's id
        (``pg_current_xact_id()``) on PostgreSQL and NULL on SQLite. Rows of entity type
        ``"client"`` carry a client's mutation counter, so a pull reports a
        ``last_mutation_id`` consistent with its changes. The scope-key columns follow.
    ``clients``
        A device install and how far its mutations have been applied.
    ``results``
        The stored result of one applied or rejected mutation, returned again on replay;
        one row per mutation, so a push appends with one bulk insert.
    ``known``
        What a device holds: the entities sent to it and not since deleted, stamped with
        the pull generation that sent (``gen_added``) or removed (``gen_removed``) them, so
        a pull retried with an older cursor (its response was lost) sees the set as the
        device last confirmed it, and resends.
    """

    state: Table
    changes: Table
    clients: Table
    results: Table
    known: Table
    #: names of the scope-key columns of ``changes``, in declaration order
    scope_keys: tuple[str, ...]


def make_sync_tables(
    metadata: MetaData,
    scope: Sequence[ScopeKey] = (),
    *,
    prefix: str = "sync",
    type_length: int = 20,
) -> SyncTables:
    """Define the engine's tables in ``metadata``, the change log with the ``scope`` columns.

    Tables are named ``<prefix>_state``, ``<prefix>_changes``, ``<prefix>_clients``,
    ``<prefix>_results`` and ``<prefix>_known``; every index has an explicit name, so the
    schema does not depend on the metadata's naming convention. ``type_length`` bounds the
    entity type names.
    """
    names = [key.name for key in scope]
    clash = sorted({n for n in names if n in _CHANGE_COLUMNS or names.count(n) > 1})
    if clash:
        raise ValueError(f"scope keys {clash} clash with each other or the change-log columns")
    changes_name = f"{prefix}_changes"
    state = Table(
        f"{prefix}_state",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("epoch", String(32), nullable=False),
        #: position (xid, id) of the newest pruned change; NULL xid on SQLite
        Column("floor_xid", BigInteger),
        Column("floor_id", BigInteger, nullable=False, default=0),
        Column("rotated_at", UTCDateTime(), nullable=False),
    )
    changes = Table(
        changes_name,
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("xid", BigInteger),
        Column("entity_type", String(type_length), nullable=False),
        Column("entity_id", Uuid, nullable=False),
        Column("op", String(6), nullable=False),
        Column("version", BigInteger, nullable=False),
        *(Column(key.name, key.type, nullable=True) for key in scope),
        Column("created_at", UTCDateTime(), nullable=False),
        Index(f"ix_{changes_name}_feed", "xid", "id"),
        *(
            Index(key.index or f"ix_{changes_name}_{key.name}_feed", key.name, "xid", "id")
            for key in scope
        ),
        Index(f"ix_{changes_name}_entity_feed", "entity_id", "xid", "id"),
        Index(f"ix_{changes_name}_created_at", "created_at"),
    )
    clients = Table(
        f"{prefix}_clients",
        metadata,
        Column("client_id", Uuid, primary_key=True),
        Column("user_id", Uuid, nullable=False),
        Column("last_mutation_id", BigInteger, nullable=False, default=0),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Index(f"ix_{prefix}_clients_user_id", "user_id"),
    )
    results = Table(
        f"{prefix}_results",
        metadata,
        Column("client_id", Uuid, primary_key=True),
        Column("mutation_id", BigInteger, primary_key=True),
        Column("result", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Index(f"ix_{prefix}_results_created_at", "created_at"),
    )
    known = Table(
        f"{prefix}_known",
        metadata,
        Column("client_id", Uuid, primary_key=True),
        Column("entity_type", String(type_length), primary_key=True),
        Column("entity_id", Uuid, primary_key=True),
        Column("gen_added", BigInteger, nullable=False),
        Column("gen_removed", BigInteger),
        # The removals a device has yet to confirm, which each of its pulls forgets once it
        # has (``DELETE … WHERE client_id = … AND gen_removed <= …``): a few rows, found here
        # instead of among everything the device holds (a district device: the district).
        Index(
            f"ix_{prefix}_known_removed",
            "client_id",
            "gen_removed",
            postgresql_where=text("gen_removed IS NOT NULL"),
            sqlite_where=text("gen_removed IS NOT NULL"),
        ),
    )
    return SyncTables(state, changes, clients, results, known, tuple(names))
