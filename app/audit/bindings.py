"""Rows bound to the audit chain by their digests: which tables, which columns, how checked.

A row of a covered table tells part of a case's story (a ticket's timeline, a finding and its
versions, a review, an inspection's status and check-in, a 双随机 draw, a device's revocation,
a ticket's status and deadline). Every transaction that writes one records the row's new
digest, SHA-256 of the canonical JSON of the columns below, in an ``audit.bind`` entry of the
chain (``app.audit.hooks.bind_touched``); ``fieldsafe audit verify`` keeps the latest digest
of each row while it walks the chain and then compares the rows themselves.

Writes through the ORM are noticed by the session (``collect_flushed``); a writer that goes
around it with a Core statement names the rows it wrote with :func:`touch`.

Tables are looked up by name in the shared metadata, so this core module imports no domain.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, inspect, select
from sqlalchemy.orm import Session

from app.clock import isoformat
from app.db import Base

#: The audit actions whose data carry ``{"rows": [[table, id, digest or null], …]}``.
BIND_ACTIONS = ("audit.bind", "audit.bind_existing")
#: Rows per ``audit.bind`` entry (a draw's thousands of inspections take several entries).
ROWS_PER_ENTRY = 1000

#: Each covered table and the columns whose values its digest binds, in digest order (``id`` first).
COVERED: dict[str, tuple[str, ...]] = {
    "hazard_events": (
        "id",
        "hazard_id",
        "seq",
        "action",
        "actor_id",
        "actor_name",
        "actor_role",
        "at",
        "device_at",
        "note",
        "photos",
        "from_status",
        "to_status",
        "data",
        "audit_seq",
    ),
    "findings": (
        "id",
        "inspection_id",
        "item_code",
        "checklist_version",
        "result",
        "note",
        "grade",
        "photos",
        "location",
        "value",
        "recorded_at",
        "recorded_by",
        "review_status",
        "review_comment",
        "deleted",
        "version",
    ),
    "finding_reviews": (
        "id",
        "finding_id",
        "inspection_id",
        "decision",
        "comment",
        "grade_from",
        "grade_to",
        "grade_reason",
        "reviewer_id",
        "at",
    ),
    "inspections": (
        "id",
        "type",
        "enterprise_id",
        "status",
        "version",
        "check_in_at",
        "check_in_received_at",
        "check_in_by",
        "check_in_lat",
        "check_in_lon",
        "check_in_accuracy",
        "check_in_distance_m",
        "check_in_far",
        "submitted_at",
        "submitted_received_at",
        "cancel_reason",
    ),
    "sampling_draws": (
        "id",
        "plan_id",
        "number",
        "status",
        "reason",
        "algorithm_version",
        "as_of",
        "params",
        "population_digest",
        "pool_digest",
        "population_count",
        "pool_count",
        "seed_commitment",
        "committed_at",
        "committed_by",
        "drawn_at",
        "drawn_by",
        "summary",
        "result_digest",
        "superseded_at",
    ),
    "devices": ("id", "user_id", "revoked_at"),
    "hazards": (
        "id",
        "number",
        "finding_id",
        "public_report_id",
        "enterprise_id",
        "grade",
        "status",
        "deadline",
        "assignee_id",
        "escalation_level",
        "listed",
        "closed_at",
        "version",
    ),
}

#: session.info key: the (table, id) pairs written in the session's transaction.
TOUCHED = "audit.touched"
#: session.info key: digests of touched rows as the statement that wrote them returned them
#: (:func:`wrote`); dropped for a row written again, and all of them on any rollback.
WRITTEN = "audit.written"

Key = tuple[str, str]


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"cannot digest {type(value).__name__}")


def row_digest(table: str, row: Sequence[Any]) -> str:
    """Return the SHA-256 hex of a covered row's bound values, given in ``COVERED`` order.

    The canonical form is the JSON array ``[table, value, …]`` (UTF-8, no spaces, object
    keys sorted, times as RFC 3339 UTC, UUIDs and dates as strings).
    """
    canonical = json.dumps(
        [table, *row], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key(table: str, row_id: Any) -> Key:
    return table, str(row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id)))


def _check_covered(table: str) -> None:
    if table not in COVERED:
        raise ValueError(f"{table} is not a table bound to the audit chain")


def touch(db: Session, table: str, ids: Iterable[Any]) -> None:
    """Note rows of ``table`` written around the ORM (Core statements), to bind at commit."""
    _check_covered(table)
    keys = {_key(table, i) for i in ids}
    db.info.setdefault(TOUCHED, set()).update(keys)
    _forget_written(db, keys)


def wrote(db: Session, table: str, rows: Iterable[Sequence[Any]]) -> None:
    """Note rows of ``table`` as the statement that wrote them returned them (``RETURNING``
    the columns of ``COVERED[table]``, in that order), to bind at commit without reading
    them again.

    Only for rows this transaction inserted: no other writer can reach them before it commits,
    so what the insert returned is what the commit binds. A later write of one of them
    (:func:`touch`, a flush) or any rollback makes the commit read it after all.
    """
    _check_covered(table)
    digests = {_key(table, row[0]): row_digest(table, row) for row in rows}
    db.info.setdefault(TOUCHED, set()).update(digests)
    db.info.setdefault(WRITTEN, {}).update(digests)


def _forget_written(db: Session, keys: Iterable[Key]) -> None:
    written: dict[Key, str] | None = db.info.get(WRITTEN)
    if written:
        for key in keys:
            written.pop(key, None)


def forget_all_written(db: Session) -> None:
    """Drop every digest :func:`wrote` noted: the commit reads those rows (after a rollback)."""
    db.info.pop(WRITTEN, None)


def collect_flushed(db: Session) -> None:
    """Note the covered rows this flush inserted, deleted, or changed in a bound column."""
    flushed: set[Key] = set()
    for obj in (*db.new, *db.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in COVERED:
            flushed.add(_key(table, obj.id))
    for obj in db.dirty:
        table = getattr(obj, "__tablename__", None)
        if table not in COVERED:
            continue
        state = inspect(obj)
        if any(state.attrs[name].history.has_changes() for name in COVERED[table]):
            flushed.add(_key(table, obj.id))
    if flushed:
        db.info.setdefault(TOUCHED, set()).update(flushed)
        _forget_written(db, flushed)


def take_touched(db: Session) -> set[Key]:
    """Remove and return the rows noted in this session since the last binding."""
    return db.info.pop(TOUCHED, None) or set()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@functools.cache
def _current_rows(table: str) -> Select[Any]:
    """The statement reading and share-locking ``table``'s bound columns of rows ``ids``."""
    t = _table(table)
    return (
        select(*(t.c[n] for n in COVERED[table]))
        .where(t.c.id.in_(bindparam("ids", expanding=True)))
        .with_for_update(read=True)
    )


def current_digests(db: Session, keys: Iterable[Key]) -> list[list[str | None]]:
    """Return ``[table, id, digest]`` for each key as its row is now (digest None: no row),
    in table and id order.

    The rows are read, and stay locked against other writers (FOR SHARE) until the
    transaction ends, except those whose digest their insert returned (:func:`wrote`).
    """
    written: dict[Key, str] = db.info.pop(WRITTEN, None) or {}
    by_table: dict[str, list[str]] = {}
    out: list[list[str | None]] = []
    for key in keys:
        if key in written:
            out.append([key[0], key[1], written[key]])
        else:
            by_table.setdefault(key[0], []).append(key[1])
    conn = db.connection()
    for table in sorted(by_table):
        stmt = _current_rows(table)
        for ids in _chunks(sorted(by_table[table]), 500):
            rows = conn.execute(stmt, {"ids": [uuid.UUID(i) for i in ids]})
            found = {str(r[0]): row_digest(table, r) for r in rows}
            out.extend([table, i, found.get(i)] for i in ids)
    if written:
        out.sort(key=lambda row: (row[0] or "", row[1] or ""))
    return out


def bind_entries_data(rows: list[list[str | None]]) -> list[dict[str, Any]]:
    """Split ``[table, id, digest]`` rows into the data of one or more ``audit.bind`` entries."""
    return [{"rows": chunk} for chunk in _chunks(rows, ROWS_PER_ENTRY)]


@dataclass(frozen=True)
class RowProblem:
    """A covered row that does not match the chain."""

    table: str
    row_id: str
    #: The entry that bound the row last (None: the row was never bound).
    seq: int | None
    reason: str


#: How many broken rows a check names (the first ones in chain order).
SAMPLE = 10


def _order(problem: RowProblem) -> tuple[bool, int, str, str]:
    # Chain order; rows never bound come last; ties (one entry binds many rows) by table and id.
    return problem.seq is None, problem.seq or 0, problem.table, problem.row_id


@dataclass
class RowCheck:
    """The outcome of comparing the covered rows with their latest bindings."""

    checked: int = 0
    broken: int = 0
    #: The first broken rows in chain order (at most SAMPLE).
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def first(self) -> RowProblem | None:
        """Return the first broken row in chain order, if any."""
        return self.problems[0] if self.problems else None

    def add(self, problem: RowProblem) -> None:
        """Count a problem, keeping the first SAMPLE in chain order."""
        self.broken += 1
        self.problems.append(problem)
        self.problems.sort(key=_order)
        del self.problems[SAMPLE:]


def _covered_rows(db: Session, batch: int) -> Iterator[tuple[str, Sequence[Row[Any]]]]:
    """Yield ``(table, rows)`` of every covered table's bound columns, in id order, by batch."""
    for table, columns in COVERED.items():
        t = _table(table)
        last: Any = None
        while True:
            stmt = select(*(t.c[n] for n in columns)).order_by(t.c.id).limit(batch)
            if last is not None:
                stmt = stmt.where(t.c.id > last)
            rows = db.execute(stmt).all()
            if not rows:
                break
            yield table, rows
            last = rows[-1][0]


def unbound_rows(db: Session, bound: set[Key], batch: int) -> Iterator[list[list[str | None]]]:
    """Yield, in batches, ``[table, id, digest]`` of the covered rows not in ``bound``."""
    for table, rows in _covered_rows(db, batch):
        found: list[list[str | None]] = [
            [table, str(r[0]), row_digest(table, r)]
            for r in rows
            if (table, str(r[0])) not in bound
        ]
        if found:
            yield found


def check_rows(db: Session, bound: dict[Key, tuple[str | None, int]], batch: int) -> RowCheck:
    """Compare every covered row with its latest binding (``bound`` is consumed)."""
    out = RowCheck()
    for table, rows in _covered_rows(db, batch):
        for row in rows:
            out.checked += 1
            key = (table, str(row[0]))
            digest, seq = bound.pop(key, (None, None))
            if seq is None:
                out.add(RowProblem(table, key[1], None, "bound to no audit entry (inserted)"))
            elif digest is None:
                out.add(RowProblem(table, key[1], seq, f"deleted at entry seq={seq}, yet present"))
            elif row_digest(table, row) != digest:
                out.add(
                    RowProblem(
                        table,
                        key[1],
                        seq,
                        f"edited: does not match the digest bound at entry seq={seq}",
                    )
                )
    for (table, row_id), (digest, seq) in bound.items():
        if digest is not None:
            out.add(RowProblem(table, row_id, seq, f"deleted: bound at entry seq={seq}, now gone"))
    return out
