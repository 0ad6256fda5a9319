"""Opaque, signed pull cursors.

A cursor tells the server where a device's change feed stands. The device must treat it
as an opaque string; the server trusts it only because it is signed (HMAC-SHA256).

What a cursor carries:

``epoch``
    The random id of this database's change log (the ``state`` table). A restored or
    replaced database, or a log emptied beyond what cursors can survive, gets a new epoch,
    so an old cursor cannot silently skip changes that no longer exist.
``position``
    The last change the device has received. On PostgreSQL the feed is ordered by
    ``(xid, id)`` — the writing transaction's id, then the row id — and only rows whose
    ``xid`` is below ``pg_snapshot_xmin(pg_current_snapshot())`` are ever returned, so every
    row at or before a cursor's position was already committed (or rolled back) when the
    cursor was issued and nothing can appear behind it later. On SQLite writes are
    serialised, commit order is id order, and ``xid`` is ``None``.
``gen``
    The generation of the device's known-entity set (see ``sync.feed``): how many pull
    responses this cursor's lineage has produced.
``issued_at``
    When the cursor was made; a cursor older than the change-log retention is expired.
``last_mutation_id``
    The client's mutation counter as of ``position``: every change of a push with a
    mutation id at or below it lies at or before the position.
``bind``
    What the cursor was issued to (the client id); a cursor presented by another client
    is refused.
``scope``
    The scope's fingerprint as of the last *complete* reconcile of the device's known set
    (``FeedScope.fingerprint``), or ``None``: while the scope presents the same fingerprint,
    the next page need not compare the scope with the known set again (see ``sync.feed``).
    Cursors issued before the field existed carry none, and reconcile.

Forged, foreign-epoch, expired or otherwise unusable cursors raise :class:`CursorError`,
which the application maps to ``409 sync.reset_required``: the device drops its local copy
and cursor, keeps its unpushed outbox, and pulls its scope again from scratch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from sync.models import SyncTables
from sync.text import Text, _l

__all__ = [
    "DEFAULT_KEY_CONTEXT",
    "DEFAULT_RETENTION",
    "Cursor",
    "CursorCodec",
    "CursorError",
    "EpochState",
    "Position",
    "Progress",
    "load_state",
    "raise_floor",
    "rotate_epoch",
    "state_columns",
    "state_of",
]

DEFAULT_RETENTION = timedelta(days=30)
_PREFIX = "c1"
_MAX_TOKEN_LENGTH = 1024
#: default context the cursor key is derived under; an application may name its own
DEFAULT_KEY_CONTEXT = b"sync-cursor/v1"
#: tolerated clock skew between API processes for ``issued_at`` in the future
_SKEW = timedelta(minutes=5)


class CursorError(Exception):
    """A cursor the server cannot honour; the device must reset (409 sync.reset_required)."""

    code = "sync.reset_required"
    status = 409

    def __init__(self, reason: str, message: Text) -> None:
        super().__init__(message)
        #: one of malformed, forged, foreign_epoch, expired, foreign_client
        self.reason = reason
        self.message = message


def _malformed() -> CursorError:
    return CursorError("malformed", _l("The sync cursor is not valid; pull again from scratch."))


@dataclass(frozen=True)
class Position:
    """A point in the change feed: the last change delivered, ``(xid, id)``."""

    xid: int | None
    id: int

    def key(self) -> tuple[int, int]:
        """Return the sort key; ``xid`` is ``None`` on SQLite, where ids alone order the feed."""
        return (-1 if self.xid is None else self.xid, self.id)

    def __lt__(self, other: Position) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Position) -> bool:
        return self.key() <= other.key()


@dataclass(frozen=True)
class Progress:
    """How far a scope reconcile that spans pages has come (see ``sync.feed``).

    ``fingerprint``: the scope's, when the reconcile began; ``part``: the reconcile's part the
    last page ended in; ``after``: the last id that page sent of it.
    """

    fingerprint: str
    part: int
    after: uuid.UUID


@dataclass(frozen=True)
class Cursor:
    """The decoded contents of a cursor."""

    epoch: str
    position: Position
    issued_at: datetime
    gen: int = 0
    bind: str = ""
    last_mutation_id: int = 0
    scope: str | None = None
    #: a scope reconcile under way (``None``: none, or start it again)
    progress: Progress | None = None


@dataclass(frozen=True)
class EpochState:
    """The change log's identity and the highest pruned position."""

    epoch: str
    floor: Position | None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


class CursorCodec:
    """Encode and verify cursors with a server secret."""

    def __init__(
        self,
        secret: bytes | str,
        retention: timedelta = DEFAULT_RETENTION,
        *,
        context: bytes = DEFAULT_KEY_CONTEXT,
    ) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not secret:
            raise ValueError("a cursor secret is required")
        # A derived key, so the application secret is never used directly for cursors.
        self._key = hmac.new(secret, context, hashlib.sha256).digest()
        self.retention = retention

    def _sign(self, message: bytes) -> bytes:
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def encode(self, cursor: Cursor) -> str:
        """Return the opaque, signed string for ``cursor``."""
        payload: dict[str, Any] = {
            "e": cursor.epoch,
            "x": cursor.position.xid,
            "i": cursor.position.id,
            "g": cursor.gen,
            "t": int(cursor.issued_at.timestamp()),
            "b": cursor.bind,
            "m": cursor.last_mutation_id,
        }
        if cursor.scope is not None:
            payload["s"] = cursor.scope
        if cursor.progress is not None:
            p = cursor.progress
            payload["r"] = [p.fingerprint, p.part, p.after.hex]
        body = _b64encode(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        signed = f"{_PREFIX}.{body}"
        return f"{signed}.{_b64encode(self._sign(signed.encode('ascii')))}"

    def decode(
        self,
        token: str,
        *,
        state: EpochState,
        now: datetime,
        bind: str = "",
    ) -> Cursor:
        """Verify ``token`` and return its cursor, or raise :class:`CursorError`."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            raise _malformed()
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise _malformed()
        try:
            signature = _b64decode(parts[2])
            body = _b64decode(parts[1])
        except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
            raise _malformed() from exc
        expected = self._sign(f"{parts[0]}.{parts[1]}".encode("ascii"))
        if not hmac.compare_digest(signature, expected):
            raise CursorError(
                "forged",
                _l("The sync cursor was not issued by this server; pull again from scratch."),
            )
        cursor = self._parse(body)
        if cursor.epoch != state.epoch:
            raise CursorError(
                "foreign_epoch",
                _l(
                    "The sync cursor belongs to another database or an earlier change log; "
                    "pull again from scratch."
                ),
            )
        if cursor.bind != bind:
            raise CursorError(
                "foreign_client",
                _l("The sync cursor was issued to another client; pull again from scratch."),
            )
        if now - cursor.issued_at > self.retention or cursor.issued_at - now > _SKEW:
            raise CursorError(
                "expired",
                _l(
                    "The sync cursor is older than the change-log retention; "
                    "pull again from scratch."
                ),
            )
        if state.floor is not None and cursor.position < state.floor:
            raise CursorError(
                "expired",
                _l(
                    "Changes after this cursor were pruned from the change log; "
                    "pull again from scratch."
                ),
            )
        return cursor

    @staticmethod
    def _parse(body: bytes) -> Cursor:
        # Signed by us, so a parse failure means a codec bug or a key reuse across versions;
        # either way the only safe answer is a reset.
        try:
            data: Any = json.loads(body)
            epoch, xid, id_, gen, issued, bind, lml = (
                data["e"],
                data["x"],
                data["i"],
                data["g"],
                data["t"],
                data["b"],
                data["m"],
            )
            scope = data.get("s")
            progress = data.get("r")
            if progress is not None:
                fingerprint, part, after = progress
                if not (isinstance(fingerprint, str) and type(part) is int and part >= 0):
                    raise TypeError("bad progress")
                if not isinstance(after, str):
                    raise TypeError("bad progress")
                progress = Progress(fingerprint, part, uuid.UUID(hex=after))
            if not (
                isinstance(epoch, str)
                and (xid is None or type(xid) is int)
                and type(id_) is int
                and type(gen) is int
                and type(lml) is int
                and type(issued) is int
                and isinstance(bind, str)
                and (scope is None or isinstance(scope, str))
            ):
                raise TypeError("bad field types")
            issued_at = datetime.fromtimestamp(issued, UTC)
        except (ValueError, TypeError, KeyError, OverflowError, OSError) as exc:
            raise _malformed() from exc
        return Cursor(
            epoch=epoch,
            position=Position(xid, id_),
            issued_at=issued_at,
            gen=gen,
            bind=bind,
            last_mutation_id=lml,
            scope=scope,
            progress=progress,
        )


Executor = Session | Connection


def core(executor: Executor) -> Connection:
    """The connection behind ``executor``: a Core statement runs there without the ORM's layer
    (which neither flushes nor loads anything for it). The session's pending objects are
    not flushed first: run there only statements that do not read what the ORM holds."""
    return executor.connection() if isinstance(executor, Session) else executor


def dialect_name(executor: Executor) -> str:
    """Return the database dialect name ("postgresql", "sqlite") behind ``executor``."""
    if isinstance(executor, Session):
        return executor.get_bind().dialect.name
    return executor.dialect.name


def _new_epoch() -> str:
    return secrets.token_hex(16)


def _insert_ignore(executor: Executor, table: Table, values: dict[str, Any]) -> None:
    """Insert the state row unless a concurrent transaction already did."""
    dialect = dialect_name(executor)
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases are tested
        stmt = table.insert().values(**values)
    executor.execute(stmt)


def load_state(executor: Executor, tables: SyncTables, now: datetime) -> EpochState:
    """Return this database's change-log epoch and floor, creating the epoch on first use."""
    table = tables.state
    row = executor.execute(select(*state_columns(tables)).where(table.c.id == 1)).first()
    if row is None:
        _insert_ignore(
            executor,
            table,
            {"id": 1, "epoch": _new_epoch(), "floor_xid": None, "floor_id": 0, "rotated_at": now},
        )
        row = executor.execute(select(*state_columns(tables)).where(table.c.id == 1)).one()
    return state_of(row)


def state_columns(tables: SyncTables) -> tuple[Any, ...]:
    """The state row's columns :func:`state_of` reads (to select along with something else)."""
    c = tables.state.c
    return (c.epoch, c.floor_xid, c.floor_id)


def state_of(row: Any) -> EpochState:
    """Return the epoch state of a row holding :func:`state_columns`."""
    floor = None
    if row.floor_xid is not None or row.floor_id:
        floor = Position(row.floor_xid, row.floor_id)
    return EpochState(epoch=row.epoch, floor=floor)


def rotate_epoch(executor: Executor, tables: SyncTables, now: datetime) -> str:
    """Give the change log a new epoch, so every outstanding cursor answers reset_required.

    Call it when the log is emptied or truncated beyond retention, or after restoring a
    backup: devices then re-download their scope instead of trusting a stale position.
    """
    load_state(executor, tables, now)
    epoch = _new_epoch()
    table = tables.state
    executor.execute(
        update(table)
        .where(table.c.id == 1)
        .values(epoch=epoch, floor_xid=None, floor_id=0, rotated_at=now)
    )
    return epoch


def raise_floor(executor: Executor, tables: SyncTables, position: Position, now: datetime) -> None:
    """Record that changes up to ``position`` were pruned; older cursors become expired."""
    state = load_state(executor, tables, now)
    if state.floor is not None and position <= state.floor:
        return
    table = tables.state
    executor.execute(
        update(table).where(table.c.id == 1).values(floor_xid=position.xid, floor_id=position.id)
    )
