"""The append-only, hash-chained audit log: several chains, each with its own head."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Sequence,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    event,
    insert,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime

#: Numbers the entries of all chains (PostgreSQL; SQLite, whose writers take turns, counts on
#: from the highest). Taken without any head's lock, so it has gaps where an append rolled back.
ENTRY_SEQ = Sequence("audit_entry_seq", metadata=Base.metadata)
#: Chains 0 (the anchors) … HEADS - 1 are created with the table (and by the migration), so an
#: append never has to create its chain's head (``services.lock_head`` still can).
HEADS = 17
GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("chain", "chain_seq"),)

    #: The entry's number across all chains: unique and increasing in the order entries were
    #: appended (a later binding of a row has a higher one), with gaps; a row keeps it
    #: (``hazard_events.audit_seq``).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: The chain the entry belongs to: 0 is the chain from before partitioning, then the anchors;
    #: 1 … ``services.CHAINS`` hold everything else.
    chain: Mapped[int] = mapped_column(SmallInteger)
    #: Position in its chain: 1, 2, 3 … with no gap; a missing number is a removed entry.
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80))
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(80), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: SHA-256 hex of the previous entry of the same chain ("0"*64 for the first).
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row per chain: its last position and hash. Locking it serialises that chain's appends."""

    __tablename__ = "audit_head"

    #: The chain (``AuditEntry.chain``).
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: The chain's last ``chain_seq``.
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


def create_heads(connection: Connection) -> None:
    """Insert the empty heads of chains 0 … HEADS - 1 (into a new or emptied ``audit_head``)."""
    connection.execute(
        insert(AuditHead),
        [{"id": chain, "seq": 0, "hash": GENESIS} for chain in range(HEADS)],
    )


@event.listens_for(AuditHead.__table__, "after_create")
def _create_heads(_table: Table, connection: Connection, **_kw: object) -> None:
    create_heads(connection)
