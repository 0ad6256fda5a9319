"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import bindings
from app.audit.models import ENTRY_SEQ, GENESIS, HEADS, AuditEntry, AuditHead
from app.clock import isoformat, utcnow
from app.db import session
from sync.bulk import insert_rows

#: The chain from before partitioning, which from then on holds only the anchors.
ANCHOR_CHAIN = 0
#: How many chains the entries are spread over (1 … CHAINS). Verification does not depend on
#: it: changing it moves where new transactions append (a new chain's head is created on its
#: first append), nothing else.
CHAINS = HEADS - 1
#: The action of an anchor entry: ``{"heads": [[chain, chain_seq, hash], …]}``.
ANCHOR = "audit.anchor"
#: session.info key: the actor of the transaction's latest entry, who also signs its bindings.
LAST_ACTOR = "audit.actor"
#: session.info key: the entries :func:`record_at_commit` left for the commit, with their actors.
AT_COMMIT = "audit.at_commit"
#: session.info key: set once the session's commits run the audit hooks (app.audit.hooks).
HOOKED = "audit.hooked"
#: session.info key: (root transaction, chain) of the chain the transaction appends to.
CHAIN = "audit.chain"


def _entry_hash(
    seq: int,
    chain: int,
    chain_seq: int,
    at: datetime,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str | None,
    entity_id: str | None,
    data: Any,
    prev_hash: str,
) -> str:
    content: dict[str, Any] = {
        "seq": chain_seq,
        "at": isoformat(at),
        "actor_id": str(actor_id) if actor_id else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    # The entries from before partitioning (chain 0, seq equal to the position) keep their
    # hashes: for them chain and seq are implied by the position. Any other entry hashes both.
    if chain != ANCHOR_CHAIN or seq != chain_seq:
        content["chain"] = chain
        content["entry"] = seq
    canonical = json.dumps(
        content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
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


def chain_for(entity_type: str | None, entity_id: Any) -> int:
    """Return the chain (1 … CHAINS) a transaction whose first entry is about this entity uses."""
    key = f"{entity_type}\x1f{entity_id if entity_id is not None else ''}".encode()
    return 1 + int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % CHAINS


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
    """Append several entries by one actor, chained in order, with one lock of their chain."""
    db = db if db is not None else session
    if not events:
        return []
    head = lock_head(db, chain_for(events[0].entity_type, events[0].entity_id), len(events))
    return [AuditEntry(**values) for values in append_locked(db, head, events, actor=actor)]


def _held_chain(db: Session) -> int | None:
    held = db.info.get(CHAIN)
    if held is not None and held[0] is db.get_transaction():
        return int(held[1])
    return None


@dataclass(frozen=True)
class Head:
    """A chain's head as this transaction locked it: the chain, its last position and hash,
    and the entry numbers taken with the lock for the entries to append (``lock_head``)."""

    id: int
    seq: int
    hash: str
    numbers: tuple[int, ...] = ()


# The appends' statements, built once: an append runs on every write of the application, and
# they go to the session's connection as they are (Core), not through the ORM's unit of work.
_HEADS = cast(Table, AuditHead.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)
_LOCK_HEAD = (
    select(_HEADS.c.id, _HEADS.c.seq, _HEADS.c.hash)
    .where(_HEADS.c.id == bindparam("chain_id"))
    .with_for_update()
)
_CREATE_HEAD = insert(_HEADS).values(id=bindparam("chain_id"), seq=0, hash=GENESIS)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == bindparam("chain_id"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_NEXT_SEQS = select(ENTRY_SEQ.next_value()).select_from(func.generate_series(1, bindparam("n")))
_TOP_SEQ = select(func.max(_ENTRIES.c.seq))
# PostgreSQL: the lock and the entry numbers in one statement. A row of the lock's CTE exists
# only once the head is locked, so each number is taken after the lock, as ``seq`` must be
# (it increases along each chain).
_LOCKED = _LOCK_HEAD.cte("locked")
_LOCK_NUMBERED = (
    select(_LOCKED.c.id, _LOCKED.c.seq, _LOCKED.c.hash, ENTRY_SEQ.next_value().label("entry"))
    .select_from(
        _LOCKED.join(
            func.generate_series(1, bindparam("n")).table_valued("n").alias("numbers"), true()
        )
    )
    .order_by(literal_column("entry"))
)


def lock_head(db: Session, chain: int | None = None, numbers: int = 0) -> Head:
    """Lock the head of the transaction's chain for this transaction and return it as it is now,
    with ``numbers`` entry numbers taken after the lock (for :func:`append_items`).

    A transaction appends to one chain only: the first lock picks it (``chain``, else chain 1)
    and later calls lock the same one whatever they ask, so a transaction holds one head and
    two transactions cannot deadlock on heads. Locking a head serialises that chain's appends,
    so it never forks; on PostgreSQL the lock waits for a concurrent append to the same chain
    to commit and then reads its new hash. Other chains' writers do not wait.
    """
    held = _held_chain(db)
    if held is not None:
        chain = held
    elif chain is None:
        chain = 1
    conn = db.connection()
    numbered = numbers > 0 and conn.dialect.name == "postgresql"
    lock = _LOCK_NUMBERED if numbered else _LOCK_HEAD
    values = {"chain_id": chain, "n": numbers}
    rows = conn.execute(lock, values).all()
    if not rows:
        # The very first appends to a chain race to create its head: the loser's insert
        # fails in its savepoint, and it then waits for and locks the winner's row.
        try:
            with db.begin_nested():
                db.connection().execute(_CREATE_HEAD, {"chain_id": chain})
        except IntegrityError:
            pass
        rows = db.connection().execute(lock, values).all()
    db.info[CHAIN] = (db.get_transaction(), chain)
    row = rows[0]
    if numbered:
        return Head(row.id, row.seq, row.hash, tuple(r.entry for r in rows))
    return Head(row.id, row.seq, row.hash, tuple(_next_seqs(db, numbers)) if numbers else ())


def _next_seqs(db: Session, n: int) -> list[int]:
    """Return ``n`` new entry numbers, increasing, taken without any lock on PostgreSQL."""
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        return sorted(conn.execute(_NEXT_SEQS, {"n": n}).scalars())
    # SQLite's writers take turns from BEGIN (app.db), so the highest number is ours to follow
    # (this transaction's own entries are written as they are appended).
    top = conn.execute(_TOP_SEQ).scalar() or 0
    return list(range(top + 1, top + n + 1))


def append_locked(
    db: Session, head: Head, events: list[Event], *, actor: Any
) -> list[dict[str, Any]]:
    """Append ``events`` after ``head``, which this transaction has locked (:func:`lock_head`)."""
    return append_items(db, head, [(event, actor) for event in events])


def append_items(db: Session, head: Head, items: list[tuple[Event, Any]]) -> list[dict[str, Any]]:
    """Append ``(event, actor)`` pairs after the locked ``head``, each signed by its own actor.

    One INSERT of the entries and one UPDATE of the head, written at once (on PostgreSQL one
    statement, however many the entries); returns the entries' column values as written. The entries
    take the numbers the head was locked with, when it was locked with as many.
    """
    if not items:
        return []
    at = utcnow()
    numbers = head.numbers if len(head.numbers) == len(items) else _next_seqs(db, len(items))
    chain, position, prev = head.id, head.seq, head.hash
    values: list[dict[str, Any]] = []
    for (event, actor), seq in zip(items, numbers, strict=True):
        position += 1
        actor_id = getattr(actor, "id", None)
        payload = _json_safe(event.data or {})
        eid = str(event.entity_id) if event.entity_id is not None else None
        digest = _entry_hash(
            seq, chain, position, at, actor_id, event.action, event.entity_type, eid, payload, prev
        )
        values.append(
            {
                "seq": seq,
                "chain": chain,
                "chain_seq": position,
                "at": at,
                "actor_id": actor_id,
                "actor": getattr(actor, "username", None),
                "action": event.action,
                "entity_type": event.entity_type,
                "entity_id": eid,
                "data": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    # The entries, and the head moved past them: on PostgreSQL one statement, the entries as
    # one JSON document (sync.bulk), however many they are.
    moved = {"chain_id": chain, "new_seq": position, "new_hash": prev}
    insert_rows(db.connection(), _ENTRIES, values, along=[(_MOVE_HEAD, moved)])
    db.info[LAST_ACTOR] = items[-1][1]
    return values


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

    For an entry nobody reads before the commit (a push's summary): its chain's head is then
    locked only while the commit writes, instead of from here until the commit, so concurrent
    writers of that chain queue on it for milliseconds, not for the rest of the request. A
    session whose commits do not run the audit hooks (``app.audit.hooks.install_bindings``),
    or a savepoint that could still be rolled back, records at once instead (:func:`record`).
    """
    db = db if db is not None else session
    if not db.info.get(HOOKED) or db.in_nested_transaction():
        record(action, entity_type, entity_id, data, actor=actor, db=db)
        return
    db.info.setdefault(AT_COMMIT, []).append((Event(action, entity_type, entity_id, data), actor))


def anchor(db: Session, *, actor: Any = None) -> AuditEntry:
    """Append to chain 0 an anchor entry holding every other non-empty chain's head.

    Chain 0 links the anchors, so from then on cutting or rewriting any chain up to the
    position an anchor holds breaks the comparison ``verify_chain`` makes with the anchor.
    Run it in a transaction of its own (``fieldsafe audit anchor``).
    """
    head = lock_head(db, ANCHOR_CHAIN)
    if head.id != ANCHOR_CHAIN:
        raise ValueError("anchor in a transaction of its own: this one appends to another chain")
    heads = db.execute(
        select(AuditHead.id, AuditHead.seq, AuditHead.hash)
        .where(AuditHead.id != ANCHOR_CHAIN, AuditHead.seq > 0)
        .order_by(AuditHead.id)
    ).all()
    data = {"heads": [[chain, seq, digest] for chain, seq, digest in heads]}
    return AuditEntry(**append_locked(db, head, [Event(ANCHOR, data=data)], actor=actor)[0])


@dataclass
class VerifyResult:
    """The outcome of :func:`verify_chain`: intact, or the first entry or row broken."""

    ok: bool
    checked: int
    #: The broken entry's number (None when the entry is missing).
    broken_seq: int | None = None
    reason: str | None = None
    #: The broken entry's chain and position in it (also for a missing entry).
    chain: int | None = None
    chain_seq: int | None = None
    #: Covered rows compared with their bindings (after an intact chain).
    rows_checked: int = 0
    #: The first broken covered row, and how many are broken in all.
    table: str | None = None
    row_id: str | None = None
    rows_broken: int = 0
    #: The first broken rows in chain order (at most ``bindings.SAMPLE``).
    problems: list[bindings.RowProblem] = field(default_factory=list)
    #: How many chains hold entries, and the latest anchor's position and hash in chain 0.
    chains: int = 0
    anchor: tuple[int, str] | None = None


@dataclass(frozen=True)
class _Claim:
    """What an anchor says of one chain: its entry ``chain_seq`` has ``hash``."""

    hash: str
    anchor_seq: int


def _anchor_claims(db: Session) -> dict[tuple[int, int], _Claim]:
    """Read what every anchor says of the chains (the anchors themselves are checked later)."""
    claims: dict[tuple[int, int], _Claim] = {}
    rows = db.execute(
        select(AuditEntry.chain_seq, AuditEntry.data)
        .where(AuditEntry.chain == ANCHOR_CHAIN, AuditEntry.action == ANCHOR)
        .order_by(AuditEntry.chain_seq)
    )
    for anchor_seq, data in rows:
        for chain, chain_seq, digest in data.get("heads", []):
            if int(chain_seq) > 0:
                claims[(int(chain), int(chain_seq))] = _Claim(str(digest), anchor_seq)
    return claims


def verify_chain(db: Session, batch: int = 5000) -> VerifyResult:
    """Walk every chain and its anchors, then the covered rows; report the first one altered.

    Each chain is read in position order, so an append committed while this runs is either
    seen after all that chain's earlier entries or not at all.
    """
    claims = _anchor_claims(db)
    #: chain -> (last position, last hash, last entry number)
    walked: dict[int, tuple[int, str, int]] = {}
    bound: dict[bindings.Key, tuple[str | None, int]] = {}
    latest_anchor: tuple[int, str] | None = None
    checked = 0
    after = (-1, 0)

    def broken(chain: int, position: int, reason: str, seq: int | None = None) -> VerifyResult:
        return VerifyResult(
            False, checked, seq, reason, chain=chain, chain_seq=position, chains=len(walked)
        )

    while True:
        rows = (
            db.execute(
                select(AuditEntry)
                .where(tuple_(AuditEntry.chain, AuditEntry.chain_seq) > tuple_(*after))
                .order_by(AuditEntry.chain, AuditEntry.chain_seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for e in rows:
            position, prev_hash, prev_seq = walked.get(e.chain, (0, GENESIS, 0))
            if e.chain_seq != position + 1:
                return broken(e.chain, position + 1, f"entry {position + 1} is missing")
            if e.prev_hash != prev_hash:
                return broken(
                    e.chain, e.chain_seq, "its prev_hash does not match the entry before", e.seq
                )
            if e.seq <= prev_seq:
                return broken(
                    e.chain, e.chain_seq, "its seq is not after the entry before it", e.seq
                )
            digest = _entry_hash(
                e.seq,
                e.chain,
                e.chain_seq,
                e.at,
                e.actor_id,
                e.action,
                e.entity_type,
                e.entity_id,
                e.data,
                e.prev_hash,
            )
            if digest != e.hash:
                return broken(e.chain, e.chain_seq, "its content does not match its hash", e.seq)
            claim = claims.pop((e.chain, e.chain_seq), None)
            if claim is not None and claim.hash != e.hash:
                return broken(
                    e.chain,
                    e.chain_seq,
                    f"it is not the entry anchor {claim.anchor_seq} holds (rewritten)",
                    e.seq,
                )
            if e.action in bindings.BIND_ACTIONS:
                # The latest binding of a row is the one with the highest number, whatever
                # its chain: a row's writers take turns on the row, and number after it.
                for table, row_id, row_digest in e.data["rows"]:
                    earlier = bound.get((table, row_id))
                    if earlier is None or earlier[1] < e.seq:
                        bound[(table, row_id)] = (row_digest, e.seq)
            if e.chain == ANCHOR_CHAIN and e.action == ANCHOR:
                latest_anchor = (e.chain_seq, e.hash)
            walked[e.chain] = (e.chain_seq, e.hash, e.seq)
            checked += 1
            after = (e.chain, e.chain_seq)
        db.expunge_all()
    if claims:
        (chain, position), claim = min(claims.items())
        return broken(
            chain,
            position,
            f"entry {position}, which anchor {claim.anchor_seq} holds, is missing (cut after it)",
        )
    heads = {
        chain: (seq, digest)
        for chain, seq, digest in db.execute(select(AuditHead.id, AuditHead.seq, AuditHead.hash))
    }
    for chain in sorted(heads.keys() | walked.keys()):
        position, last_hash, _seq = walked.get(chain, (0, GENESIS, 0))
        if chain not in heads:
            return broken(chain, position, "the chain's head row is missing")
        if heads[chain] != (position, last_hash):
            return broken(chain, position + 1, "entries after it were removed (head mismatch)")
    rows_check = bindings.check_rows(db, bound, batch)
    first = rows_check.first
    if first is None:
        return VerifyResult(
            True,
            checked,
            rows_checked=rows_check.checked,
            chains=len(walked),
            anchor=latest_anchor,
        )
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
        chains=len(walked),
        anchor=latest_anchor,
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
