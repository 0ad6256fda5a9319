"""``sync/`` on its own: a shared to-do list with two devices, built without Fieldsafe.

The application below has its own metadata and tables, its own mutations (``todo.add``,
``todo.done``), its own scope key (``list_id``), its own endpoint paths and its own server
loop, and imports nothing from ``app``. It runs the protocol's exactly-once checks (a replay
answers the stored results, a gap is refused, a rejected mutation advances the counter and
leaves no effect), two devices converging through pull, and on PostgreSQL the late-commit
check: a change committed late by a long transaction is not skipped by a pull.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)

from sync.bulk import insert_rows
from sync.client import HttpResponse, Paths, SyncClient
from sync.cursor import CursorCodec, CursorError, Position
from sync.feed import Branch, ChangeRow, branch, insert_changes, pull_page, read_feed
from sync.models import ScopeKey, make_sync_tables
from sync.protocol import (
    Field,
    Mutation,
    ProtocolError,
    parse_push,
    uuid_value,
)
from sync.protocol import (
    text as free_text,
)
from sync.push import (
    ApplyContext,
    ClientTaken,
    Item,
    MutationGap,
    MutationRejected,
    applied,
    apply_push,
    mutation_specs,
    rejected,
)

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = URL.startswith("postgresql")

# --- the to-do application: schema -----------------------------------------------------------

metadata = MetaData()
SYNC = make_sync_tables(metadata, [ScopeKey("list_id", Uuid())], prefix="todo_sync")
items = Table(
    "todo_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("list_id", Uuid, nullable=False),
    Column("title", String(200), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("list_id", "title", name="uq_todo_items_list_title"),
)
members = Table(
    "todo_members",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("list_id", Uuid, primary_key=True),
)

# --- its mutations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Add:
    """``todo.add``: a new item on a list."""

    id: uuid.UUID
    list_id: uuid.UUID
    title: str


@dataclass(frozen=True)
class Done:
    """``todo.done``: an item ticked off."""

    id: uuid.UUID


MUTATIONS = {
    "todo.add": Mutation(
        {
            "id": Field(uuid_value, required=True),
            "list_id": Field(uuid_value, required=True),
            "title": Field(free_text(1, 200), required=True),
        },
        lambda d: Add(d["id"], d["list_id"], d["title"]),
    ),
    "todo.done": Mutation({"id": Field(uuid_value, required=True)}, lambda d: Done(d["id"])),
}


def _lists_of(conn: Connection, user_id: uuid.UUID) -> set[uuid.UUID]:
    mine = select(members.c.list_id).where(members.c.user_id == user_id)
    return set(conn.execute(mine).scalars())


def add_items(conn: Connection, ctx: ApplyContext, run: Sequence[Item]) -> list[dict[str, Any]]:
    """Insert the run's new items in one statement; refuse lists the user is not on."""
    mine = _lists_of(conn, ctx.actor)
    existing = {
        r.id: r for r in conn.execute(select(items).where(items.c.id.in_([i.args.id for i in run])))
    }
    results, rows = [], []
    for item in run:
        add: Add = item.args
        if add.list_id not in mine:
            results.append(rejected(item, "todo.not_a_member", "Join this list first."))
        elif add.id in existing:  # the same add recorded twice on a device: nothing new
            results.append(applied(item, "todo", add.id, existing[add.id].version))
        else:
            rows.append({"id": add.id, "list_id": add.list_id, "title": add.title})
            ctx.changes.append(ChangeRow("todo", add.id, "put", 1, {"list_id": add.list_id}))
            results.append(applied(item, "todo", add.id, 1))
    # A title already on the list violates the unique constraint: the engine then retries
    # this run one mutation at a time and rejects only the offending one.
    insert_rows(conn, items, rows, shared={"done": False, "version": 1})
    return results


def mark_done(conn: Connection, ctx: ApplyContext, run: Sequence[Item]) -> list[dict[str, Any]]:
    """Tick items off, one version each; an item off the user's lists is not found."""
    mine = _lists_of(conn, ctx.actor)
    results = []
    for item in run:
        row = conn.execute(select(items).where(items.c.id == item.args.id)).first()
        if row is None or row.list_id not in mine:
            raise MutationRejected("todo.not_found", "No such item on your lists.")
        if not row.done:
            conn.execute(
                update(items).where(items.c.id == row.id).values(done=True, version=row.version + 1)
            )
            ctx.changes.append(
                ChangeRow("todo", row.id, "put", row.version + 1, {"list_id": row.list_id})
            )
        results.append(applied(item, "todo", row.id, row.version + (0 if row.done else 1)))
    return results


SPECS = mutation_specs(MUTATIONS, {"todo.add": add_items, "todo.done": mark_done})

# --- what a user sees -------------------------------------------------------------------------


class ListScope:
    """A member sees the items of the lists they are on (a ``sync.feed.FeedScope``)."""

    types = ("todo",)

    def __init__(self, conn: Connection, user_id: uuid.UUID) -> None:
        self.conn = conn
        self.lists = sorted(_lists_of(conn, user_id))

    def visible(self, entity_type: str) -> Select[Any]:
        """Return the ids of the items on the user's lists."""
        return select(items.c.id).where(items.c.list_id.in_(self.lists))

    def branches(self) -> list[Branch]:
        """Read the log of the user's lists only."""
        return [branch("list_id", *self.lists)] if self.lists else []

    def fingerprint(self) -> None:
        """Reconcile on every page (a list shared later is found by the reconcile)."""
        return None

    def load(self, entity_type: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
        """Return the items as devices receive them."""
        rows = self.conn.execute(select(items).where(items.c.id.in_(list(ids))))
        return {
            r.id: (r.version, {"list_id": str(r.list_id), "title": r.title, "done": r.done})
            for r in rows
        }


# --- its server -------------------------------------------------------------------------------

PATHS = Paths(push="/todo/v2/push", pull="/todo/v2/pull", media="/todo/v2/files")
CODEC = CursorCodec("todo-secret", context=b"todo/cursor/v1")


def push(conn: Connection, user_id: uuid.UUID, body: Any) -> Any:
    """Apply one push in the caller's transaction."""
    return apply_push(
        conn, SYNC, parse_push(body), actor=user_id, user_id=user_id, mutations=SPECS, now=NOW
    )


@dataclass
class TodoServer:
    """The to-do app's HTTP face, called in process (a ``sync.client.Transport``)."""

    engine: Engine

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Route a request of the device client."""
        user_id = uuid.UUID((headers or {})["Authorization"].removeprefix("Bearer "))
        try:
            if (method, path) == ("POST", PATHS.push):
                with self.engine.begin() as conn:
                    out = push(conn, user_id, json)
                body = {"last_mutation_id": out.last_mutation_id, "results": out.results}
                return HttpResponse(200, {**body, "missing_media": out.missing_media})
            if (method, path) == ("GET", PATHS.pull):
                return HttpResponse(200, self.pull(user_id, dict(params or {})))
        except MutationGap as gap:
            return HttpResponse(409, {"code": gap.code, "expected_id": gap.expected_id})
        except (ProtocolError, ClientTaken, CursorError) as exc:
            return HttpResponse(409, {"code": exc.code})
        return HttpResponse(404, {"code": "not_found"})

    def pull(self, user_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
        """Return one page of the user's feed, read in one snapshot."""
        engine = self.engine
        if ON_POSTGRES:
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        client_id = uuid.UUID(params["client_id"])
        with engine.begin() as conn:
            page = pull_page(
                conn,
                SYNC,
                codec=CODEC,
                scope=ListScope(conn, user_id),
                client_id=client_id,
                bind=f"{client_id}:{user_id}",
                token=params.get("cursor"),
                limit=int(params.get("limit", 100)),
                now=NOW,
            )
        return {
            "cursor": page.cursor,
            "has_more": page.has_more,
            "last_mutation_id": page.last_mutation_id,
            "changes": page.changes,
        }


# --- fixtures ---------------------------------------------------------------------------------


def _serialise_sqlite_writers(engine: Engine) -> None:
    """Let SQLite take SAVEPOINTs and serialise writers at BEGIN (id order is commit order)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@pytest.fixture
def todo_db(tmp_path: Path) -> Iterator[Engine]:
    """The to-do app's database: its own tables in the test PostgreSQL, or a SQLite file."""
    if ON_POSTGRES:
        engine = create_engine(URL)
    else:
        engine = create_engine(f"sqlite:///{tmp_path / 'todo.db'}", connect_args={"timeout": 30})
        _serialise_sqlite_writers(engine)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


@dataclass
class World:
    engine: Engine
    alice: uuid.UUID
    bob: uuid.UUID
    groceries: uuid.UUID  # alice and bob
    secret: uuid.UUID  # alice only


@pytest.fixture
def world(todo_db: Engine) -> World:
    w = World(todo_db, uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    with todo_db.begin() as conn:
        conn.execute(
            members.insert(),
            [
                {"user_id": w.alice, "list_id": w.groceries},
                {"user_id": w.bob, "list_id": w.groceries},
                {"user_id": w.alice, "list_id": w.secret},
            ],
        )
    return w


def device(world: World, user_id: uuid.UUID, tmp_path: Path, name: str) -> SyncClient:
    """Return a device of ``user_id`` talking to the to-do server on its own paths."""
    return SyncClient(
        str(tmp_path / f"{name}.sqlite"),
        TodoServer(world.engine),
        token=lambda: str(user_id),
        paths=PATHS,
        mutations=MUTATIONS,
        sleep=lambda s: None,
    )


def settle(engine: Engine, timeout: float = 60.0) -> None:
    """Wait until every committed change lies below the feed's horizon (PostgreSQL).

    The horizon is cluster-wide: another session's open transaction holds it back, and the
    feed rightly waits for it.
    """
    if not ON_POSTGRES:
        return
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            newest = conn.execute(select(func.coalesce(func.max(SYNC.changes.c.xid), 0))).scalar()
            horizon = conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar()
        if horizon is not None and newest is not None and horizon > newest:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the feed horizon {horizon} stayed at or below xid {newest}")
        time.sleep(0.02)


def body(client_id: uuid.UUID, *mutations: tuple[int, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "client_id": str(client_id),
        "mutations": [{"id": i, "name": n, "args": a} for i, n, a in mutations],
    }


def add(list_id: uuid.UUID, title: str, item_id: uuid.UUID | None = None) -> tuple[str, Any]:
    return "todo.add", {"id": str(item_id or uuid.uuid4()), "list_id": str(list_id), "title": title}


def titles(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(items.c.title)).scalars())


def counter(engine: Engine, client_id: uuid.UUID) -> int | None:
    c = SYNC.clients.c
    with engine.connect() as conn:
        return conn.execute(
            select(c.last_mutation_id).where(c.client_id == client_id)
        ).scalar_one_or_none()


# --- the checks -------------------------------------------------------------------------------


def test_the_library_builds_the_apps_own_tables() -> None:
    assert {t.name for t in metadata.sorted_tables} == {
        "todo_items",
        "todo_members",
        "todo_sync_state",
        "todo_sync_changes",
        "todo_sync_clients",
        "todo_sync_results",
        "todo_sync_known",
    }
    assert "list_id" in SYNC.changes.c and SYNC.scope_keys == ("list_id",)
    assert "ix_todo_sync_changes_list_id_feed" in {i.name for i in SYNC.changes.indexes}


def test_this_app_and_the_library_load_without_fieldsafe_or_flask() -> None:
    probe = (
        "import sys, tests.sync.test_library_todo; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'flask')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_the_library_refuses_what_its_tables_cannot_hold(world: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clash"):
        make_sync_tables(MetaData(), [ScopeKey("entity_id", Uuid())])
    with pytest.raises(ValueError, match="not scope keys"), world.engine.begin() as conn:
        insert_changes(conn, SYNC, [ChangeRow("todo", uuid.uuid4(), "put", 1, {"team": 1})], NOW)
    with pytest.raises(ValueError, match="neither a scope key"), world.engine.begin() as conn:
        read_feed(conn, SYNC, Position(None, 0), None, [branch("title", "milk")], 10)
    with pytest.raises(ValueError, match="do not pair up"):
        mutation_specs(MUTATIONS, {"todo.add": add_items})
    offline = SyncClient(str(tmp_path / "bare.sqlite"), TodoServer(world.engine))
    with pytest.raises(ValueError, match="mutations"):
        offline.enqueue("todo.done", {"id": str(uuid.uuid4())}, validate=True)
    assert offline.enqueue("todo.anything", {}) == 1  # no table: queued unchecked
    offline.close()


def test_a_replayed_push_returns_the_stored_results(world: World) -> None:
    client = uuid.uuid4()
    request = body(client, (1, *add(world.groceries, "milk")), (2, *add(world.groceries, "eggs")))
    with world.engine.begin() as conn:
        first = push(conn, world.alice, request)
    with world.engine.begin() as conn:
        again = push(conn, world.alice, request)
    assert (first.applied, first.replayed) == (2, 0)
    assert (again.applied, again.replayed) == (0, 2)
    assert again.results == first.results
    assert titles(world.engine) == ["eggs", "milk"]
    with world.engine.connect() as conn:
        rows = conn.execute(select(SYNC.changes.c.entity_type)).scalars().all()
    assert sorted(rows) == ["client", "todo", "todo"]  # the replay wrote no change row


def test_a_gap_is_refused_before_anything_is_written(world: World) -> None:
    client = uuid.uuid4()
    with world.engine.begin() as conn:
        push(conn, world.alice, body(client, (1, *add(world.groceries, "milk"))))
    with pytest.raises(MutationGap) as gap, world.engine.begin() as conn:
        push(conn, world.alice, body(client, (3, *add(world.groceries, "bread"))))
    assert gap.value.expected_id == 2
    assert counter(world.engine, client) == 1
    assert titles(world.engine) == ["milk"]


def test_a_rejected_mutation_advances_the_counter_and_leaves_no_effect(world: World) -> None:
    client = uuid.uuid4()
    outsider = uuid.uuid4()
    with world.engine.begin() as conn:
        push(conn, world.bob, body(client, (1, *add(world.groceries, "milk"))))
    with world.engine.begin() as conn:
        out = push(
            conn,
            world.bob,
            body(
                client,
                (2, *add(world.secret, "a present for alice")),  # not bob's list
                (3, *add(world.groceries, "milk")),  # already on the list: the constraint
                (4, *add(world.groceries, "bread")),
                (5, "todo.done", {"id": str(outsider)}),
                (6, "todo.rename", {}),
            ),
        )
    codes = [r.get("code") for r in out.results]
    assert codes == [
        "todo.not_a_member",
        "sync.write_conflict",
        None,
        "todo.not_found",
        "sync.unknown_mutation",
    ]
    assert out.last_mutation_id == 6 and counter(world.engine, client) == 6
    assert titles(world.engine) == ["bread", "milk"]
    with world.engine.connect() as conn:
        logged = conn.execute(
            select(SYNC.changes.c.entity_type, func.count()).group_by(SYNC.changes.c.entity_type)
        ).all()
    assert dict(logged) == {"todo": 2, "client": 2}  # milk (push 1) and bread only


def test_two_devices_converge_through_pull(world: World, tmp_path: Path) -> None:
    phone = device(world, world.alice, tmp_path, "alice-phone")
    tablet = device(world, world.bob, tmp_path, "bob-tablet")
    milk, present = uuid.uuid4(), uuid.uuid4()
    phone.enqueue(*add(world.groceries, "milk", milk))
    phone.enqueue(*add(world.secret, "a present for bob", present))
    with pytest.raises(ProtocolError):
        phone.enqueue("todo.add", {"id": "not-a-uuid", "list_id": str(world.groceries)})
    assert phone.sync().applied == 2
    settle(world.engine)
    tablet.sync()
    assert tablet.get("todo", str(milk)) == {
        "list_id": str(world.groceries),
        "title": "milk",
        "done": False,
    }
    assert tablet.get("todo", str(present)) is None  # not on bob's lists

    tablet.enqueue("todo.done", {"id": str(milk)})
    tablet.enqueue(*add(world.groceries, "bread"))
    assert tablet.sync().applied == 2
    settle(world.engine)
    phone.sync()
    tablet.sync()
    shared = {k: v for k, v in phone.entities().items() if v["list_id"] == str(world.groceries)}
    assert shared == tablet.entities()
    assert phone.get("todo", str(milk))["done"] is True
    assert phone.versions()[("todo", str(milk))] == 2
    phone.close()
    tablet.close()


@pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_a_late_commit_is_not_skipped_by_a_pull(world: World, tmp_path: Path) -> None:
    """T1 ticks A off and stays open; T2 ticks B off and commits; a pull; T1 commits; a pull.

    A's change row gets the lower id but commits last. A feed reading ``id > cursor`` would
    hand out B, move the cursor past A's row and never deliver A. This feed holds B back
    while T1 is open (its horizon is at most T1's xid), so the cursor never passes A.
    """
    a, b = uuid.uuid4(), uuid.uuid4()
    writer = uuid.uuid4()
    with world.engine.begin() as conn:
        push(
            conn,
            world.alice,
            body(writer, (1, *add(world.groceries, "A", a)), (2, *add(world.groceries, "B", b))),
        )
    reader = device(world, world.bob, tmp_path, "bob-tablet")
    reader.sync()
    assert {v["title"]: v["done"] for v in reader.entities().values()} == {"A": False, "B": False}

    with world.engine.connect() as t1:  # closed (rolled back) should an assertion fail
        t1.begin()
        push(t1, world.alice, body(uuid.uuid4(), (1, "todo.done", {"id": str(a)})))
        with world.engine.begin() as t2:
            push(t2, world.alice, body(uuid.uuid4(), (1, "todo.done", {"id": str(b)})))
        reader.pull()
        # B waits behind the open T1, whatever else the cluster is doing
        held = {v["title"]: v["done"] for v in reader.entities().values()}
        assert held == {"A": False, "B": False}
        t1.commit()
    settle(world.engine)
    reader.pull()
    assert {v["title"]: v["done"] for v in reader.entities().values()} == {"A": True, "B": True}
    assert set(reader.versions().values()) == {2}
    reader.close()


def test_the_known_set_upsert_takes_a_repeated_key_once_and_revives_a_removed_one(
    world: World,
) -> None:
    """A page's known rows are written in one statement on PostgreSQL, which may not touch a
    row twice: a key given twice is written once, and a key marked removed is known again."""
    from sync.feed import _mark_removed, _upsert_known

    known, client = SYNC.known, uuid.uuid4()
    first, second = uuid.uuid4(), uuid.uuid4()

    def rows(conn: Connection) -> dict[uuid.UUID, tuple[int, int | None]]:
        k = known.c
        found = conn.execute(
            select(k.entity_id, k.gen_added, k.gen_removed).where(k.client_id == client)
        )
        return {r.entity_id: (r.gen_added, r.gen_removed) for r in found}

    with world.engine.begin() as conn:
        _upsert_known(conn, known, client, [("item", first), ("item", second), ("item", first)], 1)
        assert rows(conn) == {first: (1, None), second: (1, None)}
        _mark_removed(conn, known, client, [("item", second)], 2)
        _upsert_known(conn, known, client, [("item", second)], 3)
        assert rows(conn) == {first: (1, None), second: (3, None)}
