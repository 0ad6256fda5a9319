"""Bulk statements: one statement per batch, the same rows an executemany would write."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.changelog import SYNC_TABLES
from app.sync.models import SyncChange, SyncResult
from sync.bulk import insert_rows, to_json, where_ids
from sync.feed import ChangeRow, insert_changes
from tests import conftest
from tests.conftest import is_postgres


@pytest.fixture
def db(test_db: conftest.TestDatabase) -> Iterator[Session]:
    """A session whose writes are rolled back at the end."""
    sess = test_db.sessionmaker()
    yield sess
    sess.rollback()
    sess.close()


def results_table() -> Table:
    return cast(Table, SyncResult.__table__)


def test_rows_round_trip_with_their_types(db: Session) -> None:
    client = uuid.uuid4()
    at = datetime(2026, 3, 1, 2, 3, 4, 567891, tzinfo=UTC)
    payloads: list[dict[str, Any]] = [
        {"id": 1, "status": "applied", "note": '引号 " 反斜杠 \\ 换行 \n 表情 🚒'},
        {"id": 2, "nested": {"list": [1, 2.5, None, True]}, "empty": {}},
        {"id": 3, "ids": [str(uuid.uuid4())]},
    ]
    rows = [
        {"client_id": client, "mutation_id": n + 1, "result": p, "created_at": at}
        for n, p in enumerate(payloads)
    ]
    insert_rows(db, results_table(), rows)
    r = results_table().c
    stored = db.execute(
        select(r.mutation_id, r.result, r.created_at, r.client_id)
        .where(r.client_id == client)
        .order_by(r.mutation_id)
    ).all()
    assert [s.result for s in stored] == payloads
    assert {s.created_at for s in stored} == {at}
    assert {s.client_id for s in stored} == {client}


def test_change_rows_keep_their_order_and_the_transaction_id(db: Session) -> None:
    now = datetime.now(UTC)
    entities = [uuid.uuid4() for _ in range(50)]
    rows = [ChangeRow("finding", e, "put", n) for n, e in enumerate(entities)]
    insert_changes(db, SYNC_TABLES, rows, now)
    c = cast(Table, SyncChange.__table__).c
    stored = db.execute(
        select(c.id, c.entity_id, c.version, c.xid, c.jurisdiction).where(c.entity_id.in_(entities))
    ).all()
    by_id = sorted(stored, key=lambda s: s.id)
    assert [s.entity_id for s in by_id] == entities  # serial ids follow the given order
    assert [s.version for s in by_id] == list(range(50))
    assert {s.jurisdiction for s in stored} == {None}  # JSON null is SQL NULL
    if is_postgres():
        xid = db.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar()
        assert {s.xid for s in stored} == {xid}
    else:
        assert {s.xid for s in stored} == {None}


def test_a_refused_value_refuses_the_whole_batch(db: Session) -> None:
    client = uuid.uuid4()
    row = {"client_id": client, "mutation_id": 1, "result": {}, "created_at": datetime.now(UTC)}
    insert_rows(db, results_table(), [row])
    with pytest.raises(IntegrityError), db.begin_nested():
        insert_rows(db, results_table(), [{**row, "mutation_id": 2}, row])
    r = results_table().c
    assert db.execute(select(r.mutation_id).where(r.client_id == client)).scalars().all() == [1]


def test_naive_times_and_unknown_types_are_refused_before_sending() -> None:
    with pytest.raises(ValueError):
        to_json({"at": datetime(2026, 1, 1)})
    with pytest.raises(TypeError):
        to_json({"delta": timedelta(1)})
    assert to_json({"photos": ("a", "b")}) == '{"photos":["a","b"]}'


def test_where_ids_finds_exactly_the_rows_asked_for(db: Session) -> None:
    client = uuid.uuid4()
    now = datetime.now(UTC)
    insert_rows(
        db,
        results_table(),
        [
            {"client_id": c, "mutation_id": 1, "result": {}, "created_at": now}
            for c in (client, uuid.uuid4())
        ],
    )
    r = results_table().c
    stmt = where_ids(db, select(r.client_id), r.client_id, [client, uuid.uuid4()])
    assert db.execute(stmt).scalars().all() == [client]
    assert db.execute(where_ids(db, select(r.client_id), r.client_id, [])).all() == []
