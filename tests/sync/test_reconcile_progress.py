"""A scope reconcile that spans pages goes on where the last page ended (sync.feed).

A full download, or the pages after a scope's fingerprint moved, reconciles the whole scope a
page at a time. The cursor carries how far it came (``sync.cursor.Progress``), so each page
reads on from there instead of from each part's start; the device still ends with exactly what
it may see when things enter or leave behind that point meanwhile (by a change row), and the
reconcile starts again when the fingerprint moves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Select, String, Table, Uuid, event, select
from sqlalchemy.orm import Session

from sync.cursor import CursorCodec, EpochState
from sync.feed import ChangeRow, Window, branch, insert_changes, pull_page
from sync.models import ScopeKey, make_sync_tables
from tests.sync.conftest import settle_engine

meta = MetaData()
TABLES = make_sync_tables(meta, [ScopeKey("street", String(40))], prefix="prog")
groups = Table("prog_groups", meta, Column("id", Uuid, primary_key=True))
items = Table(
    "prog_items",
    meta,
    Column("id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("jurisdiction", String(40), nullable=False),
)
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
CODEC = CursorCodec("progress-secret")


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    meta.drop_all(engine)
    meta.create_all(engine)
    yield engine
    meta.drop_all(engine)


class Streets:
    """A FeedScope: every group, and the items of the streets the user works in.

    Which streets is not in the log (as a user's team is not): it is the fingerprint.
    """

    types = ("group", "item")

    def __init__(self, db: Session, streets: tuple[str, ...]) -> None:
        self.db, self.streets = db, streets

    def visible(self, entity_type: str) -> Select[Any]:
        if entity_type == "group":
            return select(groups.c.id)
        return select(items.c.id).where(items.c.jurisdiction.in_(self.streets))

    def branches(self) -> list[Any]:
        return [branch("street", *self.streets)]

    def fingerprint(self) -> str:
        return ",".join(self.streets)

    def load(self, entity_type: str, ids: Any) -> dict[uuid.UUID, tuple[int, Any]]:
        if entity_type == "group":
            rows = self.db.execute(select(groups).where(groups.c.id.in_(list(ids))))
            return {r.id: (1, {}) for r in rows}
        found = self.db.execute(select(items).where(items.c.id.in_(list(ids))))
        return {r.id: (r.version, {"street": r.jurisdiction}) for r in found}


def _id(n: int) -> uuid.UUID:
    """Ids in the order of ``n`` (as the database orders UUIDs)."""
    return uuid.UUID(int=(n + 1) << 64)


def _item(engine: Engine, n: int, street: str, *, logged: bool = True) -> uuid.UUID:
    with engine.begin() as conn:
        conn.execute(items.insert().values(id=_id(n), version=1, jurisdiction=street))
        if logged:
            change = ChangeRow("item", _id(n), "put", 1, {"street": street})
            insert_changes(conn, TABLES, [change], NOW)
    return _id(n)


def _move(engine: Engine, item: uuid.UUID, street: str, was: str) -> None:
    """Move an item to another street: a change row in the street it left and the new one."""
    with engine.begin() as conn:
        conn.execute(items.update().where(items.c.id == item).values(jurisdiction=street))
        rows = [ChangeRow("item", item, "put", 2, {"street": s}) for s in (was, street)]
        insert_changes(conn, TABLES, rows, NOW)


class WindowedStreets(Streets):
    """The same scope, its items read by windows of the items table (a staff scope's kind)."""

    def window(self, entity_type: str) -> Window | None:
        return Window(items.c.id) if entity_type == "item" else None


class Device:
    """A device pulling pages of ``limit``: what it holds, and the reconcile's statements.

    ``window_rows``: the scope reads its items by windows, at most that many rows a page.
    """

    def __init__(
        self,
        engine: Engine,
        streets: tuple[str, ...],
        limit: int = 4,
        window_rows: int | None = None,
    ) -> None:
        self.engine, self.streets, self.limit = engine, streets, limit
        self.window_rows = window_rows
        self.pages = 0
        self.client = uuid.uuid4()
        self.cursor: str | None = None
        self.held: dict[tuple[str, uuid.UUID], Any] = {}
        self.sent: list[tuple[str, uuid.UUID]] = []
        self.reconciles: list[str] = []

    def page(self) -> bool:
        """Pull one page; return whether the feed has more."""
        settle_engine(self.engine)

        def seen(_conn: Any, _cur: Any, statement: str, *_rest: Any) -> None:
            if " AS part" in statement:  # the reconcile
                self.reconciles.append(statement)

        options = {"isolation_level": "REPEATABLE READ"}
        if self.engine.dialect.name != "postgresql":
            options = {}
        event.listen(self.engine, "before_cursor_execute", seen)
        try:
            with Session(self.engine.execution_options(**options)) as db:
                scope = Streets if self.window_rows is None else WindowedStreets
                windows = {} if self.window_rows is None else {"window_rows": self.window_rows}
                page = pull_page(
                    db,
                    TABLES,
                    codec=CODEC,
                    scope=scope(db, self.streets),
                    client_id=self.client,
                    bind="device",
                    token=self.cursor,
                    limit=self.limit,
                    now=NOW,
                    **windows,
                )
                db.commit()
        finally:
            event.remove(self.engine, "before_cursor_execute", seen)
        self.pages += 1
        for change in page.changes:
            key = (change["type"], uuid.UUID(str(change["id"])))
            if change["op"] == "delete":
                self.held.pop(key, None)
            else:
                self.held[key] = change["data"]
                self.sent.append(key)
        self.cursor = page.cursor
        return page.has_more

    def sync(self) -> None:
        while self.page():
            pass

    def progress(self) -> Any:
        with self.engine.connect() as conn:
            epoch = conn.execute(select(TABLES.state.c.epoch)).scalar()
        assert self.cursor is not None
        cursor = CODEC.decode(
            self.cursor, state=EpochState(str(epoch), None), now=NOW, bind="device"
        )
        return cursor.progress


def _visible(engine: Engine, streets: tuple[str, ...]) -> set[tuple[str, uuid.UUID]]:
    with engine.connect() as conn:
        found = {("group", g) for g in conn.execute(select(groups.c.id)).scalars()}
        street = items.c.jurisdiction.in_(streets)
        found |= {("item", i) for i in conn.execute(select(items.c.id).where(street)).scalars()}
    return found


def _fill(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(groups.insert(), [{"id": _id(1000 + n)} for n in range(3)])
    for n in range(0, 60, 2):  # even numbers: room for items to enter behind the progress
        _item(engine, n, "a" if n % 3 else "b")


def test_a_download_in_pages_reads_each_part_on_from_where_the_last_page_ended(
    db: Engine,
) -> None:
    _fill(db)
    device = Device(db, ("a", "b"))
    device.sync()
    assert set(device.held) == _visible(db, ("a", "b"))
    assert len(device.sent) == len(device.held)  # nothing sent twice
    pages = len(device.reconciles)
    assert pages == 9  # 33 entities, 4 a page (the last page's reconcile finds it complete)
    # The groups' part (part 0) is done on the first page; the pages after it go on in the
    # items' part (part 2) only, from the last id the page before sent.
    later = device.reconciles[1:]
    assert later and not any("prog_groups" in s for s in later)
    assert all(".id > " in s for s in later)


def test_what_enters_or_leaves_behind_the_progress_arrives_by_the_log(db: Engine) -> None:
    _fill(db)
    device = Device(db, ("a", "b"))
    for _ in range(4):
        assert device.page()
    progress = device.progress()
    assert progress is not None and progress.part == 2  # in the items' part
    behind = progress.after.int >> 64
    assert behind > 10
    entered = _item(db, 1, "a")  # a new item in the user's street, behind the progress
    left = _id(4)  # an item the device holds, moved out of its streets
    _move(db, left, "c", was="a" if 4 % 3 else "b")
    device.sync()
    assert set(device.held) == _visible(db, ("a", "b"))
    assert ("item", entered) in device.held and ("item", left) not in device.held


def test_a_moved_fingerprint_starts_the_reconcile_again(db: Engine) -> None:
    _fill(db)
    for n in range(1, 30, 2):  # street c: no change row in the user's slices will tell
        _item(db, n, "c", logged=False)
    device = Device(db, ("a", "b"))
    for _ in range(4):
        assert device.page()
    assert device.progress() is not None
    device.streets = ("a", "b", "c")  # the user now works in c too: the fingerprint moves
    device.sync()
    # street c's items lie behind the progress the device had: the reconcile began again
    assert set(device.held) == _visible(db, ("a", "b", "c"))
    assert len(device.sent) == len(device.held)


def test_a_cursor_keeps_the_progress_and_one_without_reads_none() -> None:
    from sync.cursor import Cursor, Position, Progress

    progress = Progress("Zm9vYmFy", 3, uuid.uuid4())
    cursor = Cursor(epoch="e", position=Position(1, 2), issued_at=NOW, bind="d", progress=progress)
    state = EpochState("e", None)
    assert CODEC.decode(CODEC.encode(cursor), state=state, now=NOW, bind="d") == cursor
    without = Cursor(epoch="e", position=Position(1, 2), issued_at=NOW, bind="d")
    assert CODEC.decode(CODEC.encode(without), state=state, now=NOW, bind="d").progress is None


# --------------------------------------------------------------------------- windows


def _up_to(statement: str, column: str) -> bool:
    """Whether the reconcile statement reads ``column`` up to a window's last id."""
    return re.search(rf"{column} <= ", statement) is not None


def test_a_windowed_download_reads_a_window_a_page_and_sends_everything_once(db: Engine) -> None:
    _fill(db)
    for n in range(1, 40, 2):  # street c: items the user does not see, inside the windows
        _item(db, n, "c")
    device = Device(db, ("a", "b"), limit=4, window_rows=5)
    device.sync()
    assert set(device.held) == _visible(db, ("a", "b"))
    assert len(device.sent) == len(device.held)  # nothing sent twice
    # 50 items, 5 rows a page: at least ten pages to walk the items' table, some of them
    # sending nothing (a window of c's items) but saying there is more.
    assert device.pages >= 10
    # The pages' statements read the items up to a window's last id (all but the last window).
    windowed = [s for s in device.reconciles if _up_to(s, r"anon_\d+\.id")]
    assert len(windowed) >= 9


def test_a_moved_scope_is_compared_window_by_window(db: Engine) -> None:
    _fill(db)
    whole = Device(db, ("a", "b"), limit=50)
    whole.sync()
    device = Device(db, ("a", "b"), limit=50, window_rows=6)
    device.client, device.cursor = whole.client, whole.cursor
    device.held = dict(whole.held)
    device.streets = ("a",)  # the fingerprint moves: b's items are to leave the device
    device.sync()
    assert set(device.held) == _visible(db, ("a",))
    # 30 items held and 30 in the table, 6 rows a page: the comparison took several pages,
    # what the device holds read a window at a time too
    assert device.pages >= 5
    assert sum(_up_to(s, "prog_known.entity_id") for s in device.reconciles) >= 4
    entered = _item(db, 59, "a")
    device.sync()
    assert ("item", entered) in device.held


def test_without_a_fingerprint_a_scope_is_compared_whole(db: Engine) -> None:
    class Always(WindowedStreets):
        def fingerprint(self) -> Any:
            return None

    _fill(db)
    with Session(db) as session:
        page = pull_page(
            session,
            TABLES,
            codec=CODEC,
            scope=Always(session, ("a", "b")),
            client_id=uuid.uuid4(),
            bind="device",
            token=None,
            limit=100,
            now=NOW,
            window_rows=3,
        )
        session.commit()
    # no progress to go on from: one page holds the whole scope, read without windows
    assert not page.has_more
    assert {(c["type"], uuid.UUID(c["id"])) for c in page.changes} == _visible(db, ("a", "b"))
