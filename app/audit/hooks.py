"""The session hooks that bind each commit's covered rows to the audit chain.

``install_bindings`` is called once per app by ``app.wiring``; from then on every commit of
the app's sessions appends ``audit.bind`` entries with the digests of the covered rows it
wrote (see ``app.audit.bindings``), signed by the actor of the transaction's latest entry.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from app.audit import bindings
from app.audit.models import AuditEntry
from app.audit.services import (
    AT_COMMIT,
    CHAIN,
    HOOKED,
    LAST_ACTOR,
    Event,
    append_items,
    chain_for,
    lock_head,
    record_all,
)


def bind_touched(db: Session) -> list[dict[str, Any]]:
    """Append the entries left for the commit (``record_at_commit``), then record the current
    digest of every covered row written in ``db``'s transaction; one INSERT, one head update."""
    db.flush()
    touched = bindings.take_touched(db)
    later: list[tuple[Event, Any]] = db.info.pop(AT_COMMIT, [])
    if not touched and not later:
        return []
    # The rows first, locked against other writers until the commit (FOR SHARE): a row this
    # transaction touched but did not lock (its write was rolled back to a savepoint) cannot
    # be written and bound by another commit between our read and our entry's number, so the
    # row's latest binding is always the one with the highest number, in whichever chain.
    rows = bindings.current_digests(db, touched) if touched else []
    signer = later[-1][1] if later else db.info.get(LAST_ACTOR)
    items = later + [
        (Event("audit.bind", data=data), signer) for data in bindings.bind_entries_data(rows)
    ]
    # The transaction's chain if an entry of it took one, else the chain of what it is about.
    if later:
        first = later[0][0]
        chain = chain_for(first.entity_type, first.entity_id)
    else:
        chain = chain_for(*min(touched))
    return append_items(db, lock_head(db, chain, len(items)), items)


def bind_existing(db: Session, batch: int = 5000) -> int:
    """Bind the covered rows no entry binds yet (rows from before binding existed); count them.

    Rows already bound are left as they are, so an edited or deleted one still shows in
    ``verify_chain``; the new entries (``audit.bind_existing``) are signed by the system.
    """
    bound: set[bindings.Key] = set()
    last = 0
    while True:
        entries = db.execute(
            select(AuditEntry.seq, AuditEntry.data)
            .where(AuditEntry.seq > last, AuditEntry.action.in_(bindings.BIND_ACTIONS))
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not entries:
            break
        for seq, data in entries:
            bound.update((table, row_id) for table, row_id, _digest in data["rows"])
            last = seq
    count = 0
    for rows in bindings.unbound_rows(db, bound, batch):
        events = [
            Event("audit.bind_existing", data=data) for data in bindings.bind_entries_data(rows)
        ]
        record_all(events, actor=None, db=db)
        count += len(rows)
    return count


def _after_flush(db: Session, _flush_context: Any) -> None:
    bindings.collect_flushed(db)


def _before_commit(db: Session) -> None:
    # A savepoint's release commits nothing yet: the outermost commit binds once for all.
    if not db.in_nested_transaction():
        bind_touched(db)


def _after_begin(db: Session, _transaction: SessionTransaction, _connection: Any) -> None:
    db.info[HOOKED] = True


def _after_soft_rollback(db: Session, _previous: SessionTransaction) -> None:
    # Whatever was rolled back (a savepoint, the whole transaction), what an insert returned
    # may be gone: the commit reads those rows instead.
    bindings.forget_all_written(db)


def _after_transaction_end(db: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        db.info.pop(bindings.TOUCHED, None)
        bindings.forget_all_written(db)
        db.info.pop(LAST_ACTOR, None)
        db.info.pop(AT_COMMIT, None)
        db.info.pop(CHAIN, None)


#: The session factories whose sessions run the hooks. Not ``event.contains``: SQLAlchemy keys
#: its listener registry by ``id()`` of the target, and a factory freed while its session class
#: lives on (until the garbage collector takes it) leaves the key behind, so a new factory at
#: the same address would be taken for hooked and commit without any binding.
_HOOKED_FACTORIES: weakref.WeakSet[sessionmaker[Session]] = weakref.WeakSet()


def install_bindings(factory: sessionmaker[Session]) -> None:
    """Make the sessions of ``factory`` bind the covered rows they write when they commit."""
    if factory in _HOOKED_FACTORIES:
        return
    for name, fn in (
        ("after_flush", _after_flush),
        ("after_begin", _after_begin),
        ("before_commit", _before_commit),
        ("after_soft_rollback", _after_soft_rollback),
        ("after_transaction_end", _after_transaction_end),
    ):
        event.listen(factory, name, fn)
    _HOOKED_FACTORIES.add(factory)
