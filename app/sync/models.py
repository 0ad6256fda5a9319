"""The sync engine's tables, mapped for the ORM.

The tables are made by ``sync.models.make_sync_tables`` in the application's metadata, with
Fieldsafe's scope keys, in :mod:`app.changelog` (:data:`app.changelog.SYNC_TABLES`), which
writes the change log and sits below every domain. These classes map them, so app code and
tests can query them like any other model; the engine itself works on the tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped

from app.changelog import SCOPE_COLUMNS, SYNC_TABLES
from app.db import Base


class SyncState(Base):
    """The one row describing this database's change log (epoch and floor)."""

    __table__ = SYNC_TABLES.state

    id: Mapped[int]
    epoch: Mapped[str]
    floor_xid: Mapped[int | None]
    floor_id: Mapped[int]
    rotated_at: Mapped[datetime]


class SyncChange(Base):
    """One write to a synced entity, recorded in the writing transaction."""

    __table__ = SYNC_TABLES.changes

    id: Mapped[int]
    xid: Mapped[int | None]
    entity_type: Mapped[str]
    entity_id: Mapped[uuid.UUID]
    op: Mapped[str]
    version: Mapped[int]
    jurisdiction: Mapped[str | None]
    enterprise_id: Mapped[uuid.UUID | None]
    inspection_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]


class SyncClient(Base):
    """A device install and how far its mutations have been applied."""

    __table__ = SYNC_TABLES.clients

    client_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    last_mutation_id: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SyncResult(Base):
    """The stored result of one applied or rejected mutation, returned again on replay."""

    __table__ = SYNC_TABLES.results

    client_id: Mapped[uuid.UUID]
    mutation_id: Mapped[int]
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class SyncKnown(Base):
    """What a device holds: the entities sent to it and not since deleted."""

    __table__ = SYNC_TABLES.known

    client_id: Mapped[uuid.UUID]
    entity_type: Mapped[str]
    entity_id: Mapped[uuid.UUID]
    gen_added: Mapped[int]
    gen_removed: Mapped[int | None]


__all__ = [
    "SCOPE_COLUMNS",
    "SYNC_TABLES",
    "SyncChange",
    "SyncClient",
    "SyncKnown",
    "SyncResult",
    "SyncState",
]
