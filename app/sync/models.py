"""The sync engine's tables, registered in the application's metadata.

The models live in ``sync.models`` (a library that must not import Flask); copying their
tables into ``Base.metadata`` lets Alembic autogenerate and the tests' ``create_all`` see
them like every other table. Both copies describe the same database tables.
"""

from __future__ import annotations

from app.db import Base
from sync.models import SyncBase, SyncChange, SyncClient, SyncKnown, SyncResult, SyncState

for _table in SyncBase.metadata.sorted_tables:
    if _table.name not in Base.metadata.tables:
        _table.to_metadata(Base.metadata)

__all__ = ["SyncChange", "SyncClient", "SyncKnown", "SyncResult", "SyncState"]
