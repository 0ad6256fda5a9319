"""PostgreSQL-only behaviour of the feed and the push: real concurrent transactions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Select,
    Table,
    Uuid,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from app.changelog import SYNC_TABLES
from sync.cursor import CursorCodec
from sync.feed import ChangeRow, insert_changes, pull_page
from tests.conftest import requires_postgres
from tests.sync.conftest import settle_engine

pytestmark = requires_postgres

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
scratch = MetaData()
items = Table(
    "sync_race_items", scratch, Column("id", Uuid, primary_key=True), Column("version", Integer)
)


class AllItems:
    """A FeedScope that sees every row of the scratch table."""

    types = ("finding",)

    def visible(self, entity_type: str) -> Select[Any]:
        return select(items.c.id)

    def branches(self) -> None:
        return None

    def fingerprint(self) -> None:
        return None  # reconcile on every page

    def load(self, entity_type: str, ids: Any) -> dict[uuid.UUID, tuple[int, Any]]:
        return {}  # filled per connection below


@pytest.fixture
def race_db(engine: Engine) -> Iterator[Engine]:
    from tests.sync.conftest import truncate_all

    truncate_all(engine)
    scratch.create_all(engine)
    yield engine
    scratch.drop_all(engine)
    truncate_all(engine)


def write(conn: Any, item_id: uuid.UUID, version: int) -> None:
    conn.execute(update(items).where(items.c.id == item_id).values(version=version))
    insert_changes(conn, SYNC_TABLES, [ChangeRow("finding", item_id, "put", version)], NOW)


def pull(engine: Engine, cursor: str | None, client_id: uuid.UUID) -> tuple[list[Any], str]:
    """One pull in its own REPEATABLE READ transaction, as the endpoint does it."""
    codec = CursorCodec("race-secret")
    with Session(engine.execution_options(isolation_level="REPEATABLE READ")) as db:
        scope = AllItems()
        scope.load = lambda t, ids: {  # type: ignore[method-assign]
            r.id: (r.version, {"version": r.version})
            for r in db.execute(select(items).where(items.c.id.in_(list(ids))))
        }
        page = pull_page(
            db,
            SYNC_TABLES,
            codec=codec,
            scope=scope,
            client_id=client_id,
            bind="device",
            token=cursor,
            limit=100,
            now=NOW,
        )
        db.commit()
    return [(c["id"], c.get("version")) for c in page.changes], page.cursor


def naive_feed(conn: Any, after_id: int) -> list[Any]:
    return list(
        conn.execute(
            text("SELECT id, entity_id FROM sync_changes WHERE id > :c ORDER BY id"),
            {"c": after_id},
        )
    )


def test_a_late_commit_is_never_skipped(race_db: Engine) -> None:
    """T1 writes A and stays open; T2 writes B and commits; then T1 commits.

    A naive feed, ``WHERE id > :cursor ORDER BY id``, fails this: A's change row got id 1
    and B's id 2, but only B is committed when the device pulls, so the device receives B
    and its cursor moves to 2. When T1 commits, A's row (id 1) is behind the cursor and is
    never delivered. The naive feed is run below to show it.

    The real feed orders by ``(xid, id)`` and returns only rows whose transaction id is
    below ``pg_snapshot_xmin(pg_current_snapshot())``. While T1 is open the horizon is at
    most T1's xid, which is below T2's, so neither change is returned and the cursor does
    not move past A; once T1 commits, the next pull returns both.
    """
    a, b = uuid.uuid4(), uuid.uuid4()
    device = uuid.uuid4()
    with race_db.begin() as conn:
        conn.execute(items.insert(), [{"id": a, "version": 1}, {"id": b, "version": 1}])
    _, cursor = pull(race_db, None, device)  # the device holds A and B at version 1

    with race_db.connect() as observer:
        start = observer.execute(text("SELECT coalesce(max(id), 0) FROM sync_changes")).scalar()
        observer.commit()
        t1 = race_db.connect()
        t1.begin()
        write(t1, a, 2)  # T1: xid assigned now, before T2's
        with race_db.begin() as t2:
            write(t2, b, 2)

        changes, held = pull(race_db, cursor, device)
        assert changes == []  # B is held back behind the still-open T1
        naive = naive_feed(observer, start)
        observer.commit()
        assert [r.entity_id for r in naive] == [b]  # the naive feed hands out B …
        naive_cursor = naive[-1].id

        t1.commit()
        t1.close()
        settle_engine(race_db)  # other sessions on the server may hold the horizon a moment
        changes, _ = pull(race_db, held, device)
        assert sorted(changes) == sorted([(str(a), 2), (str(b), 2)])
        # … and then never A, whose row id is below its cursor.
        assert naive_feed(observer, naive_cursor) == []


def test_a_rolled_back_writer_does_not_hold_the_feed(race_db: Engine) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    device = uuid.uuid4()
    with race_db.begin() as conn:
        conn.execute(items.insert(), [{"id": a, "version": 1}, {"id": b, "version": 1}])
    _, cursor = pull(race_db, None, device)
    t1 = race_db.connect()
    t1.begin()
    write(t1, a, 2)
    with race_db.begin() as t2:
        write(t2, b, 2)
    t1.rollback()
    t1.close()
    settle_engine(race_db)
    changes, _ = pull(race_db, cursor, device)
    assert changes == [(str(b), 2)]


def _waiting_pids(conn: Any) -> set[int]:
    rows = conn.execute(
        text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    ).scalars()
    return set(rows)


def test_concurrent_identical_pushes_apply_once(app: Any, site: Any, engine: Engine) -> None:
    """Two identical pushes at once: the second waits on the client row, then replays."""
    from app.clock import utcnow
    from app.db import session
    from app.inspections.models import Finding
    from app.org.models import User
    from app.sync.services import push
    from sync.protocol import parse_push
    from tests.sync.test_push import check_in, put

    user_id = site.inspectors[0].id
    body = {
        "client_id": str(uuid.uuid4()),
        "mutations": [
            {"id": i + 1, "name": n, "args": a}
            for i, (n, a) in enumerate(
                [check_in(site), *(put(site, item_code=c) for c in site.item_codes[:5])]
            )
        ],
    }
    request = parse_push(body)
    outcomes: dict[str, Any] = {}

    def second() -> None:
        try:
            with app.app_context():
                user = session.get(User, user_id)
                outcomes["second"] = push(user, request, now=utcnow())
                session.commit()
        except BaseException as exc:  # surfaced by the main thread
            outcomes["error"] = exc

    with app.app_context():
        outcomes["first"] = push(session.get(User, user_id), request, now=utcnow())
        thread = threading.Thread(target=second)
        thread.start()
        with engine.connect() as watcher:  # wait until the second push blocks on our lock
            for _ in range(100_000):
                if _waiting_pids(watcher):
                    break
                if "error" in outcomes:
                    raise outcomes["error"]
                watcher.rollback()
            else:
                pytest.fail("the second push never waited for the first")
        session.commit()
    thread.join()
    first, again = outcomes["first"], outcomes["second"]
    assert first.applied == 6 and again.applied == 0 and again.replayed == 6
    assert again.results == first.results
    with app.app_context():
        assert session.query(Finding).count() == 5


def test_a_pull_that_collides_with_a_concurrent_one_is_redone(
    app: Any, site: Any, engine: Engine
) -> None:
    """The same device's aborted pull still writing its known set: the retried pull waits on
    the row, loses the REPEATABLE READ race when the other commits, and is redone — no 503."""
    from sqlalchemy import insert

    from app.clock import utcnow
    from app.db import session
    from app.org.models import User
    from app.sync.services import pull

    user_id, client_id = site.inspectors[0].id, uuid.uuid4()
    settle_engine(engine)
    outcome: dict[str, Any] = {}

    def puller() -> None:
        try:
            with app.app_context():
                outcome["page"] = pull(
                    session.get(User, user_id), client_id, None, 500, now=utcnow()
                )
                session.commit()
        except BaseException as exc:  # surfaced by the main thread
            outcome["error"] = exc

    known = SYNC_TABLES.known
    with engine.connect() as other:
        # The aborted pull's write, not yet committed: it holds the key the new pull will write.
        other.execute(
            insert(known).values(
                client_id=client_id,
                entity_type="inspection",
                entity_id=site.inspection_id,
                gen_added=1,
            )
        )
        thread = threading.Thread(target=puller)
        thread.start()
        with engine.connect() as watcher:
            for _ in range(100_000):
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                ).scalar()
                if waiting or outcome:
                    break
                watcher.rollback()
        assert not outcome, f"the pull did not wait on the other's row: {outcome}"
        other.commit()
    thread.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    sent = {(c["type"], c["id"]) for c in outcome["page"]["changes"]}
    assert ("inspection", str(site.inspection_id)) in sent
    with engine.connect() as conn:
        rows = conn.execute(
            select(known.c.entity_type, known.c.gen_removed).where(
                known.c.client_id == client_id, known.c.entity_id == site.inspection_id
            )
        ).all()
    assert [(r.entity_type, r.gen_removed) for r in rows] == [("inspection", None)]
