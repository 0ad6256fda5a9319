"""A real server process killed with SIGKILL in the middle of a push, then restarted.

The device's retry must complete with nothing lost and nothing applied twice.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from sync.client import RequestsTransport, SyncClient
from tests.sync.live import Server, World, drop_database, scratch_database, seed

BASE_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = scratch_database(BASE_URL, tmp_path, "kill")
    try:
        yield seed(url, inspections=2)
    finally:
        drop_database(url)


class Watched(RequestsTransport):
    """Tells the test when a push has been handed to the network."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, timeout=120)
        self.pushing = threading.Event()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST":
            self.pushing.set()
        return super().request(method, path, **kwargs)


def device(world: World, server: Server, tmp: Path) -> tuple[SyncClient, Watched]:
    net = Watched(server.url)
    dev = SyncClient(
        str(tmp / "device.sqlite"),
        net,
        token=lambda: world.token,
        push_batch=1000,
        backoff_base=0.05,
        backoff_max=0.5,
        max_attempts=400,
    )
    return dev, net


def enqueue_batch(dev: SyncClient, world: World) -> set[str]:
    """Check in to both inspections and push that; then queue a batch over both."""
    for iid in world.inspections:
        dev.enqueue(
            "inspection.check_in",
            {
                "inspection_id": str(iid),
                "at": "2026-03-02T01:00:00Z",
                "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 5},
            },
        )
    dev.push()
    kept: set[str] = set()
    for iid in world.inspections:  # A's findings first: they are written before B blocks
        for n in range(100):
            fid = str(uuid.uuid4())
            kept.add(fid)
            dev.enqueue(
                "finding.put",
                {
                    "id": fid,
                    "inspection_id": str(iid),
                    "item_code": world.item_codes[n % len(world.item_codes)],
                    "result": "fail" if n % 3 == 0 else "pass",
                    "note": f"第{n}项",
                    "recorded_at": "2026-03-02T01:10:00Z",
                },
            )
        if iid == world.inspections[0]:
            gone = sorted(kept)[0]
            kept.discard(gone)
            dev.enqueue("finding.delete", {"id": gone})
    return kept


def check_server(world: World, dev: SyncClient, kept: set[str]) -> None:
    from app.inspections.models import Finding
    from app.sync.models import SyncClient as ClientRow
    from app.sync.models import SyncResult

    engine = create_engine(world.url)
    with engine.connect() as conn:
        live = set(
            str(i)
            for i in conn.execute(select(Finding.id).where(Finding.deleted.is_(False))).scalars()
        )
        total = conn.execute(select(func.count()).select_from(Finding)).scalar()
        versions = set(conn.execute(select(Finding.version)).scalars())
        counter = conn.execute(
            select(ClientRow.last_mutation_id).where(ClientRow.client_id == dev.client_id)
        ).scalar()
        results = conn.execute(
            select(func.count())
            .select_from(SyncResult)
            .where(SyncResult.client_id == dev.client_id)
        ).scalar()
    engine.dispose()
    sent = len(dev.outbox())
    assert live == kept
    assert total == len(kept) + 1  # plus the deleted one's tombstone
    assert versions == {1, 2}  # created once; the tombstone once more
    assert counter == sent and results == sent
    assert dev.outbox("pending") == []


@pytest.mark.skipif(
    not (BASE_URL or "").startswith("postgresql"), reason="needs TEST_DATABASE_URL (PostgreSQL)"
)
def test_sigkill_mid_push_then_retry_loses_and_doubles_nothing_postgres(
    world: World, tmp_path: Path
) -> None:
    """The push is caught mid-batch: A's findings written, B's inspection row locked by us."""
    from app.inspections.models import Inspection

    server = Server(world, tmp_path).start()
    try:
        dev, net = device(world, server, tmp_path)
        kept = enqueue_batch(dev, world)
        engine = create_engine(world.url)
        blocker = engine.connect()
        blocker.execute(
            select(Inspection.id).where(Inspection.id == world.inspections[1]).with_for_update()
        )
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["report"] = dev.push()
            except BaseException as exc:  # surfaced below
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        with engine.connect() as watcher:  # until the push waits on B, in mid-transaction
            for _ in range(200_000):
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE '%inspections%'"
                    )
                ).scalar()
                watcher.rollback()
                if waiting:
                    break
            else:
                pytest.fail("the push never reached inspection B")
        server.kill()
        # The killed push's backend is still queued on our lock; releasing it lets it see
        # that its client is gone and roll back. Nothing of that push was committed.
        blocker.rollback()
        blocker.close()
        server.start()
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert "error" not in outcome, outcome.get("error")
        check_server(world, dev, kept)
        engine.dispose()
    finally:
        server.stop()


def test_sigkill_during_push_then_retry_loses_and_doubles_nothing(
    world: World, tmp_path: Path
) -> None:
    """The server is killed while a push is in flight (SQLite: waiting for the write lock)."""
    if world.url.startswith("postgresql"):
        pytest.skip("the PostgreSQL variant catches the push mid-batch deterministically")
    server = Server(world, tmp_path).start()
    try:
        dev, net = device(world, server, tmp_path)
        kept = enqueue_batch(dev, world)
        # Hold SQLite's write lock: the push's transaction waits at BEGIN IMMEDIATE.
        lock = sqlite3.connect(world.url.removeprefix("sqlite:///"), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        net.pushing.clear()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["report"] = dev.push()
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        assert net.pushing.wait(30)
        time.sleep(0.5)  # let the server read the request and wait for the lock
        server.kill()
        lock.execute("ROLLBACK")
        lock.close()
        server.start()
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert "error" not in outcome, outcome.get("error")
        check_server(world, dev, kept)
    finally:
        server.stop()
