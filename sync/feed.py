"""The change log and the scoped pull feed.

Writing: every write to a synced entity calls :func:`insert_changes` in the same
transaction. On PostgreSQL each row is stamped with ``pg_current_xact_id()``.

Reading (:func:`pull_page`) has two parts, both in one snapshot (the caller runs the pull
in a REPEATABLE READ transaction on PostgreSQL):

1. *Reconcile the scope.* The device's known set (the ``known`` table) is compared with what
   the scope says is visible now. An entity that became visible (assigned, shared, moved
   into the user's area) is sent in full even if it last changed long ago; one that
   became invisible (reassigned, deleted, access revoked) is sent as a ``delete``. This
   needs no change row, so visibility that changes with the clock (an entity visible
   from a given time on) is handled too. A scope that can tell cheaply whether its visible
   sets may have changed gives a fingerprint (:meth:`FeedScope.fingerprint`); the cursor
   keeps the fingerprint of its last complete reconcile, and while the scope presents the
   same one the reconcile is skipped (a caught-up device then costs what its log slice
   costs, not what its whole scope does).
2. *Read the log* after the cursor's position, in ``(xid, id)`` order, only rows with
   ``xid < pg_snapshot_xmin(pg_current_snapshot())``: every transaction below that horizon
   has finished, so no row can later appear behind the new position. A row whose
   entity is visible becomes a ``put`` of the entity's *current* state (so a replayed
   or late row never resurrects an old version); a row whose entity is not visible but
   known to the device becomes a ``delete``; anything else is skipped. On SQLite writers
   are serialised and id order is commit order.

The known set is stamped with pull generations so a retried pull (lost response) sees it
as the device last confirmed it; see :class:`sync.models.SyncTables`.

The log's scope keys are the application's (see :func:`sync.models.make_sync_tables`): a
:class:`ChangeRow` carries their values in ``scope``, and a :class:`FeedScope` names the slice
of the log that may concern its user as :class:`Branch` es over those keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    Table,
    Text,
    Uuid,
    and_,
    bindparam,
    cast,
    column,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.engine import Row

from sync.bulk import OnConflict, Write, insert_rows, insert_write
from sync.cursor import (
    Cursor,
    CursorCodec,
    EpochState,
    Executor,
    Position,
    Progress,
    dialect_name,
    load_state,
    raise_floor,
    state_columns,
    state_of,
)
from sync.models import SyncTables

__all__ = [
    "CLIENT",
    "Branch",
    "ChangeRow",
    "branch",
    "change_write",
    "FeedScope",
    "PullPage",
    "insert_changes",
    "prune_changes",
    "pull_page",
    "read_feed",
    "snapshot_horizon",
]

#: entity type of the change rows that carry a client's mutation counter
CLIENT = "client"
MAX_ID = 2**63 - 1
_XID = "pg_current_xact_id()::text::bigint"
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True)
class ChangeRow:
    """One change to record: which entity, what happened, and its scope-key values.

    ``scope`` maps scope keys of the change table to values; a key left out is NULL.
    """

    entity_type: str
    entity_id: uuid.UUID
    op: str
    version: int
    scope: Mapping[str, Any] = field(default_factory=dict)


def insert_changes(
    executor: Executor, tables: SyncTables, rows: Sequence[ChangeRow], now: datetime
) -> None:
    """Append ``rows``, in order, to the change log in the caller's transaction (one statement)."""
    if write := change_write(executor, tables, rows, now):
        executor.execute(*write)


def change_write(
    executor: Executor,
    tables: SyncTables,
    rows: Sequence[ChangeRow],
    now: datetime,
    prefix: str = "",
) -> Write | None:
    """The statement :func:`insert_changes` runs, built but not run (None without rows), to go
    ``along`` with another insert (:func:`sync.bulk.insert_rows`)."""
    keys = tables.scope_keys
    allowed = set(keys)
    out = []
    for r in rows:
        if not r.scope.keys() <= allowed:
            unknown = sorted(set(r.scope) - allowed)
            raise ValueError(f"{unknown} are not scope keys of {tables.changes.name}")
        values = {
            "entity_type": r.entity_type,
            "entity_id": r.entity_id,
            "op": r.op,
            "version": r.version,
        }
        for key in keys:
            values[key] = r.scope.get(key)
        out.append(values)
    return insert_write(
        executor,
        tables.changes,
        out,
        shared={"created_at": now},
        sql_values={"xid": _XID} if dialect_name(executor) == "postgresql" else None,
        prefix=prefix,
    )


def snapshot_horizon(executor: Executor) -> int | None:
    """Return ``pg_snapshot_xmin`` of the current snapshot on PostgreSQL, None on SQLite."""
    if dialect_name(executor) != "postgresql":
        return None
    return int(executor.execute(select(literal_column(_XMIN))).scalar_one())


def _state_and_horizon(
    executor: Executor, tables: SyncTables, now: datetime
) -> tuple[EpochState, int | None]:
    """Return the log's epoch state and :func:`snapshot_horizon`, in one statement once the
    epoch exists (the pull's first statements run on one snapshot either way)."""
    if dialect_name(executor) != "postgresql":
        return load_state(executor, tables, now), None
    row = executor.execute(
        select(*state_columns(tables), literal_column(_XMIN).label("horizon")).where(
            tables.state.c.id == 1
        )
    ).first()
    if row is None:  # the log's first reader creates the epoch
        return load_state(executor, tables, now), snapshot_horizon(executor)
    return state_of(row), int(row.horizon)


def _ordered(
    changes: Table,
    where: ColumnElement[bool],
    branches: Sequence[ColumnElement[bool]] | None,
    limit: Any,
    merged_limit: Any,
) -> Select[Any]:
    """The feed query's shape: the rows after ``where``'s position, one index scan a branch."""
    c = changes.c
    cols = (c.id, c.xid, c.entity_type, c.entity_id, c.op, c.version)
    if branches is None:
        return select(*cols).where(where).order_by(c.xid, c.id).limit(limit)
    parts = [
        select(*cols).where(where, branch).order_by(c.xid, c.id).limit(limit).subquery()
        for branch in branches
    ]
    merged = union_all(*(select(p) for p in parts)).subquery()
    return select(merged).order_by(merged.c.xid, merged.c.id).limit(merged_limit)


#: A branch's shape in a prebuilt feed query: its key, and whether it is an IN of many values.
_Shape = tuple[tuple[str, bool], ...]


@lru_cache(maxsize=512)
def _feed_template(changes: Table, shape: _Shape | None, postgres: bool) -> Select[Any]:
    """Return the feed query of one shape with bound parameters, built once per shape.

    The change rows after a position in ``(xid, id)`` order. Each branch (a condition on one
    scope key or ``entity_id``) becomes its own ordered, limited index scan on its
    ``(key, xid, id)`` index and the results are merged, so a pull never sorts or filters the
    whole log; no branches (``shape`` None) reads the whole log through the ``(xid, id)``
    index. A row matching two branches appears twice; twice the limit leaves room to drop it.
    Built and cache-keyed once, not on every pull: building the union of a user's branches
    and walking it for SQLAlchemy's compiled cache was most of an empty pull's CPU.
    Parameters: ``xid``, ``id``, ``horizon``, ``limit``, ``merged_limit``, and ``b0``,
    ``b1``… the branches' values.
    """
    c = changes.c
    if postgres:
        where = and_(
            tuple_(c.xid, c.id) > tuple_(bindparam("xid", type_=c.xid.type), bindparam("id")),
            c.xid < bindparam("horizon", type_=c.xid.type),
        )
    else:
        where = c.id > bindparam("id", type_=c.id.type)
    branches = None
    if shape is not None:
        branches = [
            c[key].in_(bindparam(f"b{n}", type_=c[key].type, expanding=True))
            if many
            else c[key] == bindparam(f"b{n}", type_=c[key].type)
            for n, (key, many) in enumerate(shape)
        ]
    return _ordered(
        changes, where, branches, bindparam("limit", type_=Integer), bindparam("merged_limit")
    )


def _check_keys(tables: SyncTables, branches: Sequence[Branch]) -> None:
    allowed = {*tables.scope_keys, "entity_id"}
    for b in branches:
        if b.key not in allowed:
            raise ValueError(f"{b.key!r} is neither a scope key nor entity_id")


def read_feed(
    executor: Executor,
    tables: SyncTables,
    position: Position,
    horizon: int | None,
    branches: Sequence[Branch] | None,
    limit: int,
) -> list[Row[Any]]:
    """Return up to ``limit`` change rows after ``position`` in feed order (no duplicates).

    ``branches`` are the slices of the log to read (None: all of it), as a
    :class:`FeedScope` names them; the query is :func:`_feed_template`'s, prebuilt per shape.
    """
    shape: _Shape | None = None
    params: dict[str, Any] = {"limit": limit, "merged_limit": limit * 2, "id": position.id}
    if horizon is not None:
        params["xid"] = position.xid if position.xid is not None else -1
        params["horizon"] = horizon
    if branches is not None:
        _check_keys(tables, branches)
        used = [b for b in branches if b.values]
        if not used:
            return []
        shape = tuple((b.key, len(b.values) > 1) for b in used)
        for n, b in enumerate(used):
            params[f"b{n}"] = list(b.values) if len(b.values) > 1 else b.values[0]
    stmt = _feed_template(tables.changes, shape, horizon is not None)
    return _distinct(executor.execute(stmt, params).all(), limit)


def _distinct(rows: Sequence[Row[Any]], limit: int) -> list[Row[Any]]:
    seen: set[int] = set()
    out: list[Row[Any]] = []
    for row in rows:
        if row.id not in seen:
            seen.add(row.id)
            out.append(row)
        if len(out) == limit:
            break
    return out


@dataclass(frozen=True)
class Branch:
    """The change rows whose ``key`` is one of ``values``: a scope key, or ``entity_id``."""

    key: str
    values: tuple[Any, ...]


def branch(key: str, *values: Any) -> Branch:
    """Return the branch of the log whose ``key`` column holds one of ``values``.

    One value reads one range of the key's ``(key, xid, id)`` index; several read it
    through one ``IN``, which suits long lists better than one branch per value.
    """
    return Branch(key, values)


@dataclass(frozen=True)
class Window:
    """A type too large to compare whole on one page: its reconcile is read by ``column``.

    ``column`` is the primary key of the table whose rows the type's visible ids are (the
    visible select reads it). A page compares the visible ids and the ids the device holds
    within the next rows of that table (entering) or of the device's known set (leaving), at
    most ``WINDOW_ROWS`` rows of all its windows together, and the next page goes on from
    there: a page's work is bounded however large the scope, and none of it is repeated.
    """

    column: Any


#: How many rows of windowed types' tables (and known sets) a reconcile page reads at most.
WINDOW_ROWS = 5_000


class FeedScope(Protocol):
    """What one user may see, provided by the application.

    A scope may also have ``window(entity_type) -> Window | None``: the types whose visible
    sets are too large to compare on one page (:class:`Window`). A scope without it, or
    whose fingerprint is None, compares every type whole.
    """

    #: entity types in the order a device should receive them (parents first)
    types: Sequence[str]

    def visible(self, entity_type: str) -> Select[Any]:
        """Return a one-column select of the ids of visible entities of this type."""
        ...

    def branches(self) -> Sequence[Branch] | None:
        """Return the slices of the log that may concern the user (None: the whole log)."""
        ...

    def load(self, entity_type: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
        """Return ``{id: (version, data)}`` of these entities as the device receives them."""
        ...

    def fingerprint(self) -> str | None:
        """Return a digest of what decides the visible sets now, or None to reconcile always.

        The contract: while the digest stays the same, no entity enters or leaves the visible
        sets except by a change row of its own in :meth:`branches` (created, deleted, moved).
        An entity that becomes visible or invisible any other way (an assignment, the clock,
        a parent's visibility) must change the digest. Then a page whose cursor carries the
        same digest skips the reconcile: the known set already matches the scope, and the log
        carries the rest. None (the safe answer) reconciles on every page.
        """
        ...


@dataclass
class PullPage:
    """One page of the feed."""

    changes: list[dict[str, Any]]
    cursor: str
    has_more: bool
    last_mutation_id: int
    counts: dict[str, int] = field(default_factory=dict)


def _known_as_of(known: Table, gen: int) -> ColumnElement[bool]:
    k = known.c
    return and_(k.gen_added <= gen, or_(k.gen_removed.is_(None), k.gen_removed > gen))


#: A key known before (perhaps since removed) is known again as of the new generation.
_KNOWN_AGAIN = OnConflict(
    key=("client_id", "entity_type", "entity_id"), update=("gen_added", "gen_removed")
)


def _upsert_known(
    executor: Executor,
    table: Table,
    client_id: uuid.UUID,
    keys: Iterable[tuple[str, uuid.UUID]],
    gen: int,
) -> None:
    """Make ``keys`` known to the device as of ``gen`` (added, or added again if removed), in
    one statement for the page (an executemany of a first sync's 200 rows was a third of its
    database time)."""
    insert_rows(
        executor,
        table,
        # one statement may not touch a row twice
        [{"entity_type": t, "entity_id": i} for t, i in dict.fromkeys(keys)],
        shared={"client_id": client_id, "gen_added": gen, "gen_removed": None},
        on_conflict=_KNOWN_AGAIN,
    )


def _mark_removed(
    executor: Executor,
    table: Table,
    client_id: uuid.UUID,
    keys: Iterable[tuple[str, uuid.UUID]],
    gen: int,
) -> None:
    by_type: dict[str, list[uuid.UUID]] = {}
    for t, i in keys:
        by_type.setdefault(t, []).append(i)
    k = table.c
    for t, ids in by_type.items():
        executor.execute(
            update(table)
            .where(k.client_id == client_id, k.entity_type == t, k.entity_id.in_(ids))
            .values(gen_removed=gen)
        )


def _in_range(column: Any, low: Any, high: Any) -> list[ColumnElement[bool]]:
    """``column`` after ``low`` and up to ``high`` (either None: unbounded on that side)."""
    return [
        *([column > low] if low is not None else []),
        *([column <= high] if high is not None else []),
    ]


def _window(executor: Executor, ids: Select[Any], rows: int) -> tuple[Any, int]:
    """The last of the first ``rows`` ids ``ids`` (one id column, unordered) reads, and how
    many it read of them: ``(None, 0)`` when it reads none."""
    column = ids.selected_columns[0]
    first = ids.order_by(column).limit(rows).subquery()
    last = select(first.c[0], func.count().over()).order_by(first.c[0].desc()).limit(1)
    row = executor.execute(last).first()
    return (None, 0) if row is None else (row[0], int(row[1]))


def _held_window(executor: Executor, held: Select[Any], rows: int) -> list[str]:
    """The first ``rows`` ids ``held`` (a device's known ids of one type) reads, in order, as
    text: a leaving window's ids for :func:`_leaving_held` (PostgreSQL)."""
    column_ = held.selected_columns[0]
    as_text = held.with_only_columns(cast(column_, Text)).order_by(column_).limit(rows)
    return list(executor.execute(as_text).scalars())


def _leaving_held(
    part: int, held_ids: list[str], still: Any, low: Any, high: Any, limit: int
) -> Select[Any]:
    """The leaving part over a window's held ids given as one array (PostgreSQL): those of
    them the visible ids ``still`` (read in the same range) no longer hold.

    Read from the known set inside the statement, PostgreSQL plans for the average device's
    few held rows (42 where a supervisor held 3,253) and probed the visible ids once a row:
    45-70 ms where a hash takes 5 (docs/scaling.md, "A page of tickets, 2026-12-06"). An
    array's length is what a custom plan sees. (As text both ways: up to 5,000 ids, parsed
    and printed by the database.)
    """
    array = cast(bindparam(f"held_{part}", held_ids, type_=ARRAY(Text)), ARRAY(Uuid))
    mine = (
        func.unnest(array)
        .table_valued(column("entity_id", Uuid()))
        .render_derived(name=f"held_{part}")
    )
    return (
        select(literal(part, Integer).label("part"), mine.c.entity_id)
        .where(~exists().where(still.c[0] == mine.c.entity_id, *_in_range(still.c[0], low, high)))
        .order_by(mine.c.entity_id)
        .limit(limit)
    )


def _reconcile(
    executor: Executor,
    scope: FeedScope,
    known: Table,
    client_id: uuid.UUID,
    gen: int,
    limit: int,
    *,
    holds_nothing: bool = False,
    start: tuple[int, uuid.UUID] | None = None,
    windows: bool = False,
    window_rows: int = WINDOW_ROWS,
) -> tuple[list[list[uuid.UUID]], tuple[int, uuid.UUID] | None, tuple[int, Any] | None]:
    """Read the scope's reconcile in one statement: ``[entering, leaving]`` ids of each type,
    where the rows read end, and where the window the statement stopped at ends.

    Part ``2n`` holds the visible ids of ``scope.types[n]`` not known to the device as of
    ``gen``, part ``2n + 1`` the ids known as of ``gen`` no longer visible; each in id order,
    at most ``limit``, and at most ``limit`` in all (the first parts' first). Writing the known
    set for one type changes no other part's answer (its rows are the type's own, and an
    entering id is not known as of ``gen`` before or after).
    ``holds_nothing``: the device's known set is empty (a pull without a cursor), so every
    visible id enters and none leaves: the statement has half the parts and no anti-joins,
    which halves PostgreSQL's planning of it (7 ms of a first page's 15 here).
    ``start``: ``(part, id)`` where the reconcile's last page ended: the parts before it are
    done and that part goes on after that id (``pull_page`` says why that is safe).
    ``windows``: read the types the scope windows (:class:`Window`) by windows of their rows,
    ``window_rows`` rows in all: the statement ends with the window that used the last of
    them, and the third value returned is ``(part, last id of that window)`` (None: every
    part was read to its end).
    The second value returned is the ``(part, id)`` of the last row read, when the database
    returned the rows in part and id order (the order that makes the parts before it done;
    ``None`` otherwise, or when there were none).
    """
    k = known.c
    parts = []
    first, after = start if start is not None else (0, None)
    stopped: tuple[int, Any] | None = None
    window_of = getattr(scope, "window", None) if windows else None
    remaining = window_rows
    postgresql = dialect_name(executor) == "postgresql"

    def used(part: int, high: Any, walked: int) -> Any:
        """Count a window of ``walked`` rows ending at ``high`` against the page's rows: its
        last id when it uses them up (the statement stops there), else None."""
        nonlocal remaining, stopped
        remaining -= walked
        if remaining > 0:
            return None
        stopped = (part, high)
        return high

    def window_end(part: int, ids: Select[Any]) -> Any:
        """The last id of ``part``'s window when it uses up the page's rows (the statement
        stops there), None when the part ends within it."""
        return used(part, *_window(executor, ids, remaining))

    for n, entity_type in enumerate(scope.types):
        if 2 * n + 1 < first:
            continue
        window = window_of(entity_type) if window_of is not None else None
        visible = scope.visible(entity_type)
        vis = visible.subquery()
        entering = select(literal(2 * n, Integer).label("part"), vis.c[0].label("entity_id"))
        # The range of ids this part reads, as (after, up to): both sides of its comparison
        # are read in that range, so that a window reads a window of each (a range of their
        # primary keys) and not the whole of the other side.
        low = after if 2 * n == first else None
        high = None
        if 2 * n >= first and window is not None:
            ids = select(window.column).where(*_in_range(window.column, low, None))
            high = window_end(2 * n, ids)
        entering = entering.where(*_in_range(vis.c[0], low, high))
        if holds_nothing:
            parts.append(entering.order_by(vis.c[0]).limit(limit).subquery())
            if stopped is not None:
                break
            continue
        entering = (
            entering.where(
                ~exists().where(
                    k.client_id == client_id,
                    k.entity_type == entity_type,
                    k.entity_id == vis.c[0],
                    *_in_range(k.entity_id, low, high),
                    _known_as_of(known, gen),
                )
            )
            .order_by(vis.c[0])
            .limit(limit)
        )
        if 2 * n >= first:
            parts.append(entering.subquery())
        if stopped is not None:
            break
        low = after if 2 * n + 1 == first else None
        high = None
        still = visible.subquery()
        holds = [  # the ids the device holds of the type, as of gen, after low
            k.client_id == client_id,
            k.entity_type == entity_type,
            _known_as_of(known, gen),
            *_in_range(k.entity_id, low, None),
        ]
        held = select(k.entity_id).where(*holds)
        if window is not None and postgresql:
            held_ids = _held_window(executor, held, remaining)
            if not held_ids:  # it holds none of the type here: nothing can leave
                continue
            held_last = uuid.UUID(held_ids[-1])
            used(2 * n + 1, held_last, len(held_ids))
            leaving = _leaving_held(2 * n + 1, held_ids, still, low, held_last, limit)
        else:
            if window is not None:
                high = window_end(2 * n + 1, held)
            leaving = (
                select(literal(2 * n + 1, Integer).label("part"), k.entity_id)
                .where(
                    *holds,
                    *_in_range(k.entity_id, None, high),
                    ~exists().where(still.c[0] == k.entity_id, *_in_range(still.c[0], low, high)),
                )
                .order_by(k.entity_id)
                .limit(limit)
            )
        parts.append(leaving.subquery())
        if stopped is not None:
            break
    found: list[list[uuid.UUID]] = [[] for _ in range(2 * len(scope.types))]
    last: tuple[int, uuid.UUID] | None = None
    in_order = True
    if parts:
        # At most ``limit`` rows in all: PostgreSQL runs the union's parts one after another
        # and stops when it has them, so a page that the first types fill (a full download's
        # first pages: checklists, then enterprises) never runs the later parts (a street's
        # findings: a join and a sort of tens of thousands of rows). Whichever rows a
        # database returned, the page is right: it sends what it was given and says
        # ``has_more`` when the page is full, and the reconcile goes on on the next page.
        reconcile = union_all(*(select(p) for p in parts)).limit(limit)
        for part, entity_id in executor.execute(reconcile):
            found[part].append(entity_id)
            if last is not None and (part, entity_id) <= last:
                in_order = False
            last = (part, entity_id)
    # A union keeps no order: each part is sorted again (UUIDs order as the database does).
    return [sorted(ids) for ids in found], last if in_order else None, stopped


def _counter_at(
    executor: Executor, changes: Table, client_id: uuid.UUID, horizon: int | None
) -> int:
    c = changes.c
    stmt = select(func.max(c.version)).where(c.entity_id == client_id, c.entity_type == CLIENT)
    if horizon is not None:
        stmt = stmt.where(c.xid < horizon)
    return int(executor.execute(stmt).scalar() or 0)


def _start_position(executor: Executor, changes: Table, horizon: int | None) -> Position:
    if horizon is not None:
        # Everything below the horizon is reflected in this snapshot's reconcile; rows at
        # or above it may not be, so the log is read from the horizon on.
        return Position(horizon - 1, MAX_ID)
    top = executor.execute(select(func.max(changes.c.id))).scalar()
    return Position(None, int(top or 0))


def pull_page(
    executor: Executor,
    tables: SyncTables,
    *,
    codec: CursorCodec,
    scope: FeedScope,
    client_id: uuid.UUID,
    bind: str,
    token: str | None,
    limit: int,
    now: datetime,
    window_rows: int = WINDOW_ROWS,
) -> PullPage:
    """Return the next page of the caller's feed; raise CursorError for an unusable cursor.

    ``window_rows``: how many rows of the scope's windowed types a page's reconcile reads at
    most (:class:`Window`).
    """
    state, horizon = _state_and_horizon(executor, tables, now)
    changes, known = tables.changes, tables.known
    k = known.c
    if token is None:
        # A device without a cursor holds nothing: forget what it was sent before.
        executor.execute(delete(known).where(k.client_id == client_id))
        gen = 0
        position = _start_position(executor, changes, horizon)
        counter = _counter_at(executor, changes, client_id, horizon)
        held, progress = None, None
    else:
        cursor = codec.decode(token, state=state, now=now, bind=bind)
        gen, position, counter = cursor.gen, cursor.position, cursor.last_mutation_id
        held, progress = cursor.scope, cursor.progress
        # Removals the device has confirmed by presenting a later cursor can be forgotten.
        executor.execute(delete(known).where(k.client_id == client_id, k.gen_removed <= gen))
    new_gen = gen + 1
    out: list[dict[str, Any]] = []
    emitted: set[tuple[str, uuid.UUID]] = set()
    counts = {"entered": 0, "left": 0, "changed": 0, "removed": 0, "skipped": 0}
    budget = limit

    def emit_puts(entity_type: str, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        loaded = scope.load(entity_type, ids)
        sent = []
        for entity_id in ids:
            if entity_id not in loaded:
                continue
            version, data = loaded[entity_id]
            out.append(
                {
                    "type": entity_type,
                    "id": str(entity_id),
                    "op": "put",
                    "version": version,
                    "data": data,
                }
            )
            emitted.add((entity_type, entity_id))
            sent.append(entity_id)
        return sent

    def emit_delete(entity_type: str, entity_id: uuid.UUID) -> None:
        out.append({"type": entity_type, "id": str(entity_id), "op": "delete"})
        emitted.add((entity_type, entity_id))

    # 1. scope reconcile: per type, the visible ids the device does not hold (entering) and
    # the ids it holds that are no longer visible (leaving), all read by one statement; not
    # needed while the scope's fingerprint is the one of the cursor's last complete reconcile
    fingerprint = scope.fingerprint()
    ended = None
    if fingerprint is None or fingerprint != held:
        # A reconcile the last page left under way goes on where it ended while the scope's
        # fingerprint is the one it began under. The parts and ids before that point were
        # all compared then, and what enters or leaves the scope since without changing the
        # fingerprint does so by a change row in the scope's slices (``FeedScope.fingerprint``),
        # which the log read after the reconcile sends: so each part is read once, not from
        # its start on every page (a street's findings, 1,000 pages of a full download).
        start = None
        if progress is not None and progress.fingerprint == fingerprint:
            start = (progress.part, progress.after)
        found, ended, stopped = _reconcile(
            executor,
            scope,
            known,
            client_id,
            gen,
            budget,
            holds_nothing=token is None,
            start=start,
            windows=fingerprint is not None,
            window_rows=window_rows,
        )
    else:
        found, stopped = [[] for _ in range(2 * len(scope.types))], None
    # What the page makes known or removes, written once at its end (one statement each for
    # all types; the log's lookups read the known set as of ``gen``, which they do not change).
    newly_known: list[tuple[str, uuid.UUID]] = []
    removed: list[tuple[str, uuid.UUID]] = []
    for n, entity_type in enumerate(scope.types):
        if budget <= 0:
            break
        # Each part was limited to the whole page; the page's budget left takes its first ids,
        # as a statement per part limited to that budget would.
        entering = found[2 * n][:budget]
        if entering:
            sent = emit_puts(entity_type, entering)
            newly_known.extend((entity_type, i) for i in sent)
            counts["entered"] += len(sent)
            budget -= len(entering)
        if budget <= 0:
            break
        leaving = found[2 * n + 1][:budget]
        for entity_id in leaving:
            emit_delete(entity_type, entity_id)
        removed.extend((entity_type, i) for i in leaving)
        counts["left"] += len(leaving)
        budget -= len(leaving)

    full = budget <= 0
    # The reconcile is complete when every part fit in the page (each was read up to the
    # page's size, so a part cut short used the whole budget) and no window stopped it; if
    # not, the next page goes on from its last row (or starts it again when the rows did not
    # come in order), or from the end of the window.
    has_more = full or stopped is not None
    scope_out = None if has_more else fingerprint
    progress_out = None
    if full and fingerprint is not None and ended is not None:
        progress_out = Progress(fingerprint, *ended)
    elif not full and stopped is not None and fingerprint is not None:
        progress_out = Progress(fingerprint, *stopped)
    if not has_more:
        # 2. the change log after the cursor
        slices = scope.branches()
        if slices is not None:
            slices = [*slices, branch("entity_id", client_id)]
        rows = read_feed(executor, tables, position, horizon, slices, budget + 1)
        has_more = len(rows) > budget
        rows = rows[:budget]
        if rows:
            last = rows[-1]
            position = Position(last.xid, last.id)
        by_type: dict[str, set[uuid.UUID]] = {}
        for row in rows:
            if row.entity_type == CLIENT:
                if row.entity_id == client_id:
                    counter = max(counter, int(row.version))
                continue
            by_type.setdefault(row.entity_type, set()).add(row.entity_id)
        visible_now: dict[str, set[uuid.UUID]] = {}
        loaded: dict[str, dict[uuid.UUID, tuple[int, Any]]] = {}
        for entity_type, ids in by_type.items():
            if entity_type not in scope.types:
                continue
            sub = scope.visible(entity_type).subquery()
            vis = set(executor.execute(select(sub.c[0]).where(sub.c[0].in_(list(ids)))).scalars())
            visible_now[entity_type] = vis
            loaded[entity_type] = scope.load(entity_type, sorted(vis)) if vis else {}
        known_rows: set[tuple[str, uuid.UUID]] = set()
        if by_type:
            # Each type's ids under its type: the known set's key, (client, type, id), looked
            # up directly. By id alone the planner read all the device holds (a district
            # device's every finding: 38 ms at 10,000,000 change rows).
            keys = or_(
                *(
                    and_(k.entity_type == entity_type, k.entity_id.in_(sorted(ids)))
                    for entity_type, ids in sorted(by_type.items())
                )
            )
            known_rows = {
                (r.entity_type, r.entity_id)
                for r in executor.execute(
                    select(k.entity_type, k.entity_id).where(
                        k.client_id == client_id, keys, _known_as_of(known, gen)
                    )
                )
            }
        for row in rows:
            key = (row.entity_type, row.entity_id)
            if row.entity_type == CLIENT or key in emitted:
                continue
            entity = loaded.get(row.entity_type, {}).get(row.entity_id)
            if entity is not None and row.entity_id in visible_now.get(row.entity_type, ()):
                version, data = entity
                out.append(
                    {
                        "type": row.entity_type,
                        "id": str(row.entity_id),
                        "op": "put",
                        "version": version,
                        "data": data,
                    }
                )
                emitted.add(key)
                counts["changed"] += 1
                if key not in known_rows:
                    newly_known.append(key)
            elif key in known_rows:
                emit_delete(*key)
                removed.append(key)
                counts["removed"] += 1
            else:
                counts["skipped"] += 1
    _upsert_known(executor, known, client_id, newly_known, new_gen)
    _mark_removed(executor, known, client_id, removed, new_gen)

    token_out = codec.encode(
        Cursor(
            epoch=state.epoch,
            position=position,
            issued_at=now,
            gen=new_gen,
            bind=bind,
            last_mutation_id=counter,
            scope=scope_out,
            progress=progress_out,
        )
    )
    return PullPage(
        changes=out, cursor=token_out, has_more=has_more, last_mutation_id=counter, counts=counts
    )


def prune_changes(executor: Executor, tables: SyncTables, before: datetime, now: datetime) -> int:
    """Delete change rows and stored push results older than ``before``; return rows deleted.

    The newest pruned position becomes the floor: cursors below it answer reset_required.
    """
    c = tables.changes.c
    newest = executor.execute(
        select(c.xid, c.id)
        .where(c.created_at < before)
        .order_by(c.xid.desc(), c.id.desc())
        .limit(1)
    ).first()
    if newest is None:
        return 0
    raise_floor(executor, tables, Position(newest.xid, newest.id), now)
    result = executor.execute(delete(tables.changes).where(c.created_at < before))
    r = tables.results.c
    executor.execute(delete(tables.results).where(r.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
