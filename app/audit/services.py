"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import bindings
from app.audit.models import AuditEntry, AuditHead
from app.clock import isoformat, utcnow
from app.db import session

GENESIS = "0" * 64
#: session.info key: the actor of the transaction's latest entry, who also signs its bindings.
LAST_ACTOR = "audit.actor"
#: session.info key: the entries :func:`record_at_commit` left for the commit, with their actors.
AT_COMMIT = "audit.at_commit"
#: session.info key: set once the session's commits run the audit hooks (app.audit.hooks).
HOOKED = "audit.hooked"


def _entry_hash(
    seq: int,
    at: datetime,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str | None,
    entity_id: str | None,
    data: Any,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "at": isoformat(at),
            "actor_id": str(actor_id) if actor_id else None,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "data": data,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_safe(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


@dataclass(frozen=True)
class Event:
    """One thing to write on the audit log (see :func:`record_all`)."""

    action: str
    entity_type: str | None = None
    entity_id: Any = None
    data: dict[str, Any] | None = None


def record(
    action: str,
    entity_type: str | None = None,
    entity_id: Any = None,
    data: dict[str, Any] | None = None,
    *,
    actor: Any,
    db: Session | None = None,
) -> AuditEntry:
    """Append an audit entry chained to the previous one; ``actor`` is None for the system."""
    return record_all([Event(action, entity_type, entity_id, data)], actor=actor, db=db)[0]


def record_all(events: list[Event], *, actor: Any, db: Session | None = None) -> list[AuditEntry]:
    """Append several entries by one actor, chained in order, with one lock of the head."""
    db = db if db is not None else session
    if not events:
        return []
    return append_locked(db, lock_head(db), events, actor=actor)


def lock_head(db: Session) -> AuditHead:
    """Lock the chain's head row for this transaction and return it as it is now.

    Locking the head serialises appends, so the chain never forks; on PostgreSQL the lock
    waits for a concurrent append to commit and then reads its new hash.
    """
    lock = (
        select(AuditHead)
        .where(AuditHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = db.execute(lock).scalar_one_or_none()
    if head is None:
        # The very first appends of a new database race to create the head: the loser's insert
        # fails in its savepoint, and it then waits for and locks the winner's row.
        try:
            with db.begin_nested():
                db.add(AuditHead(id=1, seq=0, hash=GENESIS))
                db.flush()
        except IntegrityError:
            pass
        head = db.execute(lock).scalar_one()
    return head


def append_locked(
    db: Session, head: AuditHead, events: list[Event], *, actor: Any, flush: bool = True
) -> list[AuditEntry]:
    """Append ``events`` after ``head``, which this transaction has locked (:func:`lock_head`).

    ``flush=False`` leaves the new rows to the next flush, so that several appends of one commit
    go to the database as one INSERT and one UPDATE of the head.
    """
    if not events:
        return []
    at = utcnow()
    actor_id = getattr(actor, "id", None)
    actor_name = getattr(actor, "username", None)
    seq, prev = head.seq, head.hash
    entries = []
    for event in events:
        seq += 1
        payload = _json_safe(event.data or {})
        eid = str(event.entity_id) if event.entity_id is not None else None
        digest = _entry_hash(seq, at, actor_id, event.action, event.entity_type, eid, payload, prev)
        entries.append(
            AuditEntry(
                seq=seq,
                at=at,
                actor_id=actor_id,
                actor=actor_name,
                action=event.action,
                entity_type=event.entity_type,
                entity_id=eid,
                data=payload,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    db.add_all(entries)
    head.seq, head.hash = seq, prev
    db.info[LAST_ACTOR] = actor
    if flush:
        db.flush()
    return entries


def record_at_commit(
    action: str,
    entity_type: str | None = None,
    entity_id: Any = None,
    data: dict[str, Any] | None = None,
    *,
    actor: Any,
    db: Session | None = None,
) -> None:
    """Append an entry when the transaction commits, just before its bindings.

    For an entry nobody reads before the commit (a push's summary): the chain's head is then
    locked only while the commit writes, instead of from here until the commit, so concurrent
    writers queue on it for milliseconds, not for the rest of the request. A session whose
    commits do not run the audit hooks (``app.audit.hooks.install_bindings``), or a savepoint
    that could still be rolled back, records at once instead (:func:`record`).
    """
    db = db if db is not None else session
    if not db.info.get(HOOKED) or db.in_nested_transaction():
        record(action, entity_type, entity_id, data, actor=actor, db=db)
        return
    db.info.setdefault(AT_COMMIT, []).append((Event(action, entity_type, entity_id, data), actor))


@dataclass
class VerifyResult:
    """The outcome of :func:`verify_chain`: intact, or the first entry or row broken."""

    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None
    #: Covered rows compared with their bindings (after an intact chain).
    rows_checked: int = 0
    #: The first broken covered row, and how many are broken in all.
    table: str | None = None
    row_id: str | None = None
    rows_broken: int = 0
    #: The first broken rows in chain order (at most ``bindings.SAMPLE``).
    problems: list[bindings.RowProblem] = field(default_factory=list)


def verify_chain(db: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain, then the covered rows; report the first entry or row altered."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    last_seq = 0
    bound: dict[bindings.Key, tuple[str | None, int]] = {}
    while True:
        rows = (
            db.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > last_seq)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for e in rows:
            if e.seq != expected_seq:
                return VerifyResult(
                    False, checked, expected_seq, f"entry {expected_seq} is missing"
                )
            if e.prev_hash != prev_hash:
                return VerifyResult(
                    False, checked, e.seq, "its prev_hash does not match the entry before"
                )
            if (
                _entry_hash(
                    e.seq,
                    e.at,
                    e.actor_id,
                    e.action,
                    e.entity_type,
                    e.entity_id,
                    e.data,
                    e.prev_hash,
                )
                != e.hash
            ):
                return VerifyResult(False, checked, e.seq, "its content does not match its hash")
            if e.action in bindings.BIND_ACTIONS:
                for table, row_id, digest in e.data["rows"]:
                    bound[(table, row_id)] = (digest, e.seq)
            prev_hash, expected_seq, checked = e.hash, e.seq + 1, checked + 1
            last_seq = e.seq
        db.expunge_all()
    head = db.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        return VerifyResult(
            False, checked, expected_seq, "entries after it were removed (head mismatch)"
        )
    rows_check = bindings.check_rows(db, bound, batch)
    first = rows_check.first
    if first is None:
        return VerifyResult(True, checked, rows_checked=rows_check.checked)
    return VerifyResult(
        False,
        checked,
        first.seq,
        first.reason,
        rows_checked=rows_check.checked,
        table=first.table,
        row_id=first.row_id,
        rows_broken=rows_check.broken,
        problems=rows_check.problems,
    )


def list_entries(filters: dict[str, Any]) -> Select[AuditEntry]:
    """Build the admin's filtered audit query, newest first."""
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc())
    for name in ("entity_type", "entity_id", "action"):
        if filters.get(name):
            stmt = stmt.where(getattr(AuditEntry, name) == filters[name])
    if filters.get("actor"):
        stmt = stmt.where(AuditEntry.actor == filters["actor"])
    if filters.get("since"):
        stmt = stmt.where(AuditEntry.at >= filters["since"])
    if filters.get("until"):
        stmt = stmt.where(AuditEntry.at < filters["until"])
    return stmt
