"""The feed over a change log partitioned by month (PostgreSQL).

At a city's size the change log is partitioned by ``created_at`` (one partition a month), so
that months past the retention are detached and dropped instead of deleted row by row. The
feed must read such a log exactly as it reads one table: every change once, in ``(xid, id)``
order, across partitions, through the same cursors and scope branches, and a month dropped
behind every cursor changes nothing for the devices.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Select, String, Table, Uuid, select, text
from sqlalchemy.orm import Session

from app.changelog import SCOPE_COLUMNS
from sync.cursor import CursorCodec
from sync.feed import ChangeRow, branch, insert_changes, pull_page
from sync.models import make_sync_tables
from tests.conftest import requires_postgres

pytestmark = requires_postgres

meta = MetaData()
TABLES = make_sync_tables(meta, SCOPE_COLUMNS, prefix="part")
items = Table(
    "part_items",
    meta,
    Column("id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("jurisdiction", String(40), nullable=False),
)
MONTHS = [datetime(2026, m, 15, 8, tzinfo=UTC) for m in (1, 2, 3)]


def _partitioned_changes_ddl(engine: Engine) -> list[str]:
    """The change table as ``make_sync_tables`` defines it, partitioned by month."""
    changes = TABLES.changes
    cols = []
    for c in changes.columns:
        kind = "bigserial" if c.name == "id" else c.type.compile(engine.dialect)
        cols.append(f"{c.name} {kind}{'' if c.nullable and c.name != 'id' else ' NOT NULL'}")
    name = changes.name
    ddl = [
        f"CREATE TABLE {name} ({', '.join(cols)}, PRIMARY KEY (id, created_at)) "
        "PARTITION BY RANGE (created_at)"
    ]
    for month in range(1, 5):
        ddl.append(
            f"CREATE TABLE {name}_2026_{month:02d} PARTITION OF {name} "
            f"FOR VALUES FROM ('2026-{month:02d}-01') TO ('2026-{month + 1:02d}-01')"
        )
    # The feed's indexes, declared once on the parent: each partition gets its own.
    for n, index in enumerate(sorted(changes.indexes, key=lambda i: i.name)):
        columns = ", ".join(c.name for c in index.columns)
        ddl.append(f"CREATE INDEX ix_{name}_{n} ON {name} ({columns})")
    return ddl


@pytest.fixture
def log(engine: Engine) -> Iterator[Engine]:
    others = [t for t in meta.sorted_tables if t is not TABLES.changes]
    meta.drop_all(engine, tables=others)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLES.changes.name} CASCADE"))
        for statement in _partitioned_changes_ddl(engine):
            conn.execute(text(statement))
    meta.create_all(engine, tables=others)
    yield engine
    meta.drop_all(engine, tables=others)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLES.changes.name} CASCADE"))


class Street:
    """A FeedScope: the items of one street, read through its ``jurisdiction`` branch."""

    types = ("finding",)

    def __init__(self, db: Session, code: str) -> None:
        self.db = db
        self.code = code

    def visible(self, entity_type: str) -> Select[Any]:
        return select(items.c.id).where(items.c.jurisdiction == self.code)

    def branches(self) -> list[Any]:
        return [branch("jurisdiction", self.code)]

    def fingerprint(self) -> None:
        return None  # reconcile on every page

    def load(self, entity_type: str, ids: Any) -> dict[uuid.UUID, tuple[int, Any]]:
        rows = self.db.execute(select(items).where(items.c.id.in_(list(ids))))
        return {r.id: (r.version, {"version": r.version}) for r in rows}


def _write(engine: Engine, item: uuid.UUID, street: str, version: int, at: datetime) -> None:
    with engine.begin() as conn:
        if version == 1:
            conn.execute(items.insert().values(id=item, version=1, jurisdiction=street))
        else:
            conn.execute(items.update().where(items.c.id == item).values(version=version))
        change = ChangeRow("finding", item, "put", version, {"jurisdiction": street})
        insert_changes(conn, TABLES, [change], at)


def _pull_all(
    engine: Engine, street: str, client: uuid.UUID, cursor: str | None
) -> tuple[list[tuple[uuid.UUID, int]], str]:
    """Pull pages of two changes until the feed says nothing more; (id, version) in order."""
    codec = CursorCodec("partition-secret")
    got: list[tuple[uuid.UUID, int]] = []
    while True:
        with Session(engine.execution_options(isolation_level="REPEATABLE READ")) as db:
            page = pull_page(
                db,
                TABLES,
                codec=codec,
                scope=Street(db, street),
                client_id=client,
                bind="device",
                token=cursor,
                limit=2,
                now=MONTHS[-1],
            )
            db.commit()
        got += [(uuid.UUID(str(c["id"])), c["version"]) for c in page.changes]
        cursor = page.cursor
        if not page.has_more:
            return got, cursor


def test_the_feed_reads_a_log_partitioned_by_month_as_one_table(log: Engine) -> None:
    ours = [uuid.uuid4() for _ in MONTHS]
    theirs = [uuid.uuid4() for _ in MONTHS]
    for at, mine, other in zip(MONTHS, ours, theirs, strict=True):
        _write(log, mine, "huayanglu", 1, at)
        _write(log, other, "xinhualu", 1, at)
    name = TABLES.changes.name
    with log.connect() as conn:
        per_partition = dict(
            conn.execute(
                text(f"SELECT tableoid::regclass::text, count(*) FROM {name} GROUP BY 1")
            ).all()
        )
    assert per_partition == {f"{name}_2026_01": 2, f"{name}_2026_02": 2, f"{name}_2026_03": 2}

    device = uuid.uuid4()
    first, cursor = _pull_all(log, "huayanglu", device, None)
    assert sorted(first) == sorted((i, 1) for i in ours)  # the street's, each once

    # January's item changes in March: the next pull returns it alone, from March's partition.
    _write(log, ours[0], "huayanglu", 2, MONTHS[2])
    again, cursor = _pull_all(log, "huayanglu", device, cursor)
    assert again == [(ours[0], 2)]

    # January is past the retention: detached and dropped, it is behind every cursor and
    # nothing the device holds is lost or sent again.
    with log.begin() as conn:
        conn.execute(text(f"ALTER TABLE {name} DETACH PARTITION {name}_2026_01"))
        conn.execute(text(f"DROP TABLE {name}_2026_01"))
    _write(log, ours[1], "huayanglu", 2, MONTHS[2])
    after, _ = _pull_all(log, "huayanglu", device, cursor)
    assert after == [(ours[1], 2)]
