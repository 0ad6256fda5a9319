"""Bulk statements: a batch of rows in one round trip, however many rows it holds.

A push writes a few hundred rows to each of three tables (the application's own, stored
results, change rows). An ``executemany`` sends one statement execution per row; on
PostgreSQL that costs more than everything else the push does. :func:`insert_rows` sends the
batch as one JSON document instead, unpacked by PostgreSQL with ``json_to_recordset``::

    INSERT INTO t (a, b) SELECT r.a, r.b
    FROM json_to_recordset(CAST(:rows AS JSON)) AS r(a UUID, b JSON, _n INTEGER)
    ORDER BY r._n

PostgreSQL converts each field to the column's type (``uuid``, ``timestamptz``, ``json``,
``varchar(n)`` with its length check) as an ordinary INSERT would; rows are inserted in the
given order, so serial ids follow it. A JSON ``null`` becomes SQL NULL. SQLite, where an
executemany is a loop in the same process, keeps the executemany. Either may end in
``ON CONFLICT (…) DO UPDATE`` (an upsert: :class:`OnConflict`).

:func:`where_ids` is the matching read: a join against the unnested id array, which
PostgreSQL answers with index probes at any table size (``id = ANY($1)`` in a prepared,
generic plan is a sequential scan comparing each row with every id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Integer,
    Row,
    Select,
    Table,
    Text,
    Uuid,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from sync.cursor import Executor, dialect_name

__all__ = ["OnConflict", "Write", "insert_rows", "insert_write", "to_json", "where_ids"]

_ORDINAL = "_n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a bulk insert")
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot go into a bulk insert")


def to_json(value: Any) -> str:
    """Encode ``value`` as JSON, with UUIDs as strings and aware datetimes in ISO 8601."""
    return json.dumps(value, default=_jsonable, separators=(",", ":"))


@dataclass(frozen=True)
class OnConflict:
    """Upsert: a row whose ``key`` columns match a stored one sets its ``update`` columns to
    the new row's values instead of failing. One statement may not touch a row twice, so the
    rows of one call must differ in ``key``."""

    key: tuple[str, ...]
    update: tuple[str, ...]


def _on_conflict(stmt: Any, on_conflict: OnConflict | None) -> Any:
    if on_conflict is None:
        return stmt
    return stmt.on_conflict_do_update(
        index_elements=list(on_conflict.key),
        set_={name: stmt.excluded[name] for name in on_conflict.update},
    )


#: A write built but not run: a statement and its parameters (a mapping, or a list of them
#: for an executemany), to run together with another (``along``).
Write = tuple[Any, Any]


@lru_cache(maxsize=64)
def _recordset_insert(
    table: Table,
    names: tuple[str, ...],
    shared: tuple[str, ...],
    sql_values: tuple[tuple[str, str], ...],
    on_conflict: OnConflict | None,
    along: tuple[Any, ...] = (),
    returning: tuple[str, ...] = (),
    prefix: str = "",
) -> Insert:
    source = (
        func.json_to_recordset(cast(bindparam(f"{prefix}rows", type_=Text), JSON))
        .table_valued(
            *(column(name, table.c[name].type) for name in names),
            column(_ORDINAL, Integer),
        )
        .render_derived(name="r", with_types=True)
    )
    values: list[Any] = [source.c[name] for name in names]
    values += [bindparam(f"{prefix}shared_{name}", type_=table.c[name].type) for name in shared]
    values += [literal_column(sql) for _, sql in sql_values]
    stmt = (postgresql.insert(table) if on_conflict else insert(table)).from_select(
        [*names, *shared, *(name for name, _ in sql_values)],
        select(*values).order_by(source.c[_ORDINAL]),
    )
    stmt = _on_conflict(stmt, on_conflict)
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning))
    for n, other in enumerate(along):
        stmt = stmt.add_cte(other.cte(f"along_{n}"))
    return stmt  # type: ignore[no-any-return]


def insert_write(
    executor: Executor,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any] | None = None,
    sql_values: Mapping[str, str] | None = None,
    on_conflict: OnConflict | None = None,
    prefix: str = "",
) -> Write | None:
    """The insert :func:`insert_rows` would run, built but not run (None without rows): to go
    ``along`` with another insert. ``prefix`` starts its parameters' names, which must differ
    from those of the statement it goes with."""
    if not rows:
        return None
    shared = dict(shared or {})
    extra = tuple(sorted((sql_values or {}).items()))
    if dialect_name(executor) != "postgresql":
        plain: Any = sqlite.insert(table) if on_conflict else insert(table)
        if extra:
            plain = plain.values({name: literal_column(sql) for name, sql in extra})
        return _on_conflict(plain, on_conflict), [{**shared, **row} for row in rows]
    return _recordset_write(table, rows, shared, extra, on_conflict, prefix=prefix)


def _recordset_write(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any],
    sql_values: tuple[tuple[str, str], ...],
    on_conflict: OnConflict | None,
    along: tuple[Any, ...] = (),
    returning: tuple[str, ...] = (),
    prefix: str = "",
) -> Write:
    """The PostgreSQL insert of ``rows`` as one JSON document, and its parameters."""
    stmt = _recordset_insert(
        table, tuple(rows[0]), tuple(shared), sql_values, on_conflict, along, returning, prefix
    )
    params = {f"{prefix}shared_{name}": value for name, value in shared.items()}
    params[f"{prefix}rows"] = to_json([{**row, _ORDINAL: n} for n, row in enumerate(rows)])
    return stmt, params


def insert_rows(
    executor: Executor,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any] | None = None,
    sql_values: Mapping[str, str] | None = None,
    on_conflict: OnConflict | None = None,
    along: Sequence[Write | None] = (),
    returning: tuple[str, ...] = (),
) -> Sequence[Row[Any]] | None:
    """Insert ``rows`` (mappings with the same keys) into ``table`` in one statement.

    ``shared`` holds the values every row has (the push's time, its client): they are sent
    once. ``sql_values`` sets columns to SQL expressions (as text) evaluated by the
    database, such as the writing transaction's id. Rows are inserted in the given order.
    ``on_conflict`` makes it an upsert. ``along`` are other writes (each a statement built
    once and its parameters, such as the UPDATE of a counter the rows go with, or an
    :func:`insert_write`; a None is skipped): on PostgreSQL they run in the same statement,
    as CTEs; elsewhere, or when there are no rows, just after the insert. ``returning`` names
    columns whose values, as inserted, are returned (on PostgreSQL; elsewhere None).
    """
    others = [w for w in along if w is not None]
    if not rows or dialect_name(executor) != "postgresql":
        if write := insert_write(executor, table, rows, shared, sql_values, on_conflict):
            executor.execute(*write)
        for other in others:
            executor.execute(*other)
        return None
    stmt, params = _recordset_write(
        table,
        rows,
        dict(shared or {}),
        tuple(sorted((sql_values or {}).items())),
        on_conflict,
        along=tuple(other for other, _ in others),
        returning=tuple(returning),
    )
    for _other, other_params in others:
        params.update(other_params)
    result = executor.execute(stmt, params)
    return result.all() if returning else None


def where_ids(
    executor: Executor, stmt: Select[Any], key: Any, ids: Sequence[uuid.UUID] | None = None
) -> Select[Any]:
    """Narrow ``stmt`` to the rows whose ``key`` is one of ``ids``.

    On PostgreSQL, a join against the unnested id array: one array parameter whatever the
    batch size (so one cached statement), answered with index probes. Elsewhere ``IN``.
    Without ``ids``, the statement is built to be kept: the ids are its ``ids`` parameter,
    given when it is run.
    """
    if dialect_name(executor) != "postgresql":
        if ids is None:
            return stmt.where(key.in_(bindparam("ids", expanding=True)))
        return stmt.where(key.in_(list(ids)))
    wanted = (
        func.unnest(bindparam("ids", None if ids is None else list(ids), type_=ARRAY(Uuid)))
        .table_valued("id")
        .render_derived(name="wanted")
    )
    return stmt.join(wanted, key == wanted.c.id)
