"""Sync pull: one device's scope of ~2,000 entities out of a 1,000,000-row change log.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/sync_pull.py [--noise 1000000] [--limit 500]

Creates a scratch PostgreSQL database served by gunicorn on a free loopback port. An
inspector of 华阳路 gets 20 inspections and ~1,970 findings (pushed through the API), so
their scope (checklists, enterprise, inspections, findings) is ~2,000 entities; the log is
padded to 1,000,000 rows with changes of the other nine streets. Then it measures
  (a) a fresh device downloading its whole scope (scope reconcile pages), and
  (b) the same device catching up after 1,000 of its findings changed in between another
      100,000 foreign changes (log pages),
printing the time per page, and prints ``EXPLAIN ANALYZE`` of the feed query for (b) to
show every branch reads its index rather than scanning the log.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def other_streets() -> list[str]:
    """The demo's streets except huayanglu, where the bench's device works."""
    from app.demo.org import STREETS

    return [code for code, *_ in STREETS if code != "huayanglu"]


NOISE_SQL = """
INSERT INTO sync_changes
    (xid, entity_type, entity_id, op, version, jurisdiction, enterprise_id, inspection_id,
     created_at)
SELECT pg_current_xact_id()::text::bigint,
       (ARRAY['finding', 'finding', 'finding', 'inspection', 'enterprise'])[1 + g % 5],
       gen_random_uuid(), 'put', 1, (CAST(:streets AS text[]))[1 + g % 9],
       gen_random_uuid(), gen_random_uuid(), now()
FROM generate_series(1, :n) AS g
"""


class Timed:
    """A transport wrapper that records how long each pull page took."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pages: list[float] = []
        self.sizes: list[int] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        resp = self.inner.request(method, path, **kwargs)
        if method == "GET" and path.endswith("/sync/pull"):
            self.pages.append(time.perf_counter() - t0)
            self.sizes.append(len((resp.body or {}).get("changes") or ()))
        return resp


def noise(engine: Any, rows: int, chunk: int = 100_000) -> None:
    """Append foreign changes, one transaction (one xid) per chunk."""
    from sqlalchemy import text

    done = 0
    while done < rows:
        n = min(chunk, rows - done)
        with engine.begin() as conn:
            conn.execute(text(NOISE_SQL), {"streets": other_streets(), "n": n})
        done += n


def settle(engine: Any, timeout: float = 300.0) -> float:
    """Wait until the horizon passes every change (open writers elsewhere hold it back)."""
    from sqlalchemy import text

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        with engine.connect() as conn:
            newest = conn.execute(text("SELECT max(xid) FROM sync_changes")).scalar()
            horizon = conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar()
        if horizon > newest:
            break
        time.sleep(0.05)
    return time.perf_counter() - t0


def report(label: str, timed: Timed) -> None:
    pages = [p * 1000 for p in timed.pages]
    print(
        f"{label:<34} {len(pages):3d} pages, {sum(timed.sizes):5d} changes; per page "
        f"median {statistics.median(pages):7.1f} ms, max {max(pages):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--inspections", type=int, default=20)
    args = parser.parse_args()
    from tests.sync.live import (
        Server,
        bench_database_url,
        drop_database,
        scratch_database,
        seed,
    )

    base = bench_database_url()

    from sqlalchemy import create_engine, text

    from sync.client import RequestsTransport, SyncClient

    tmp = Path(tempfile.mkdtemp(prefix="sync-pull-"))
    url = scratch_database(base, tmp, "bench_pull")
    engine = create_engine(url)
    try:
        world = seed(url, inspections=args.inspections)
        server = Server(world, tmp, workers=2).start()
        try:
            writer = SyncClient(
                str(tmp / "writer.sqlite"),
                RequestsTransport(server.url),
                token=lambda: world.token,
                push_batch=500,
            )
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            for iid in world.inspections:
                writer.enqueue(
                    "inspection.check_in",
                    {
                        "inspection_id": str(iid),
                        "at": now,
                        "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 5},
                    },
                )
            scope_findings = 2000 - 10 - 1 - args.inspections
            findings = []
            for n in range(scope_findings):
                fid = str(uuid.uuid4())
                code = world.item_codes[n % len(world.item_codes)]
                findings.append((fid, world.inspections[n % len(world.inspections)], code))
                writer.enqueue(
                    "finding.put",
                    {
                        "id": fid,
                        "inspection_id": str(findings[-1][1]),
                        "item_code": code,
                        "result": "pass",
                        "recorded_at": now,
                    },
                    validate=False,
                )
            writer.push()
            with engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar()
            t0 = time.perf_counter()
            noise(engine, max(0, args.noise - have))
            with engine.begin() as conn:
                conn.execute(text("ANALYZE sync_changes"))
                total = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar()
            print(
                f"change log                         {total:,} rows "
                f"(padding took {time.perf_counter() - t0:.1f} s)"
            )

            timed = Timed(RequestsTransport(server.url))
            device = SyncClient(
                str(tmp / "device.sqlite"),
                timed,
                token=lambda: world.token,
                pull_limit=args.limit,
            )
            device.pull()
            scope = len(device.entities())
            print(f"device scope                       {scope:,} entities")
            report("(a) full download (reconcile)", timed)
            start_cursor = device.cursor

            # (b) 1,000 of the device's findings change, spread among 100,000 foreign changes.
            for k in range(10):
                for fid, iid, code in findings[k * 100 : (k + 1) * 100]:
                    writer.enqueue(
                        "finding.put",
                        {
                            "id": fid,
                            "inspection_id": str(iid),
                            "item_code": code,
                            "result": "fail",
                            "note": f"复查 {k}",
                            "recorded_at": now,
                        },
                        validate=False,
                    )
                writer.push()
                noise(engine, 10_000)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE sync_changes"))
            waited = settle(engine)
            print(f"waited for the feed horizon        {waited:.2f} s")
            timed.pages.clear()
            timed.sizes.clear()
            device.pull()
            report("(b) catch-up through the log", timed)
            changed = sum(
                1
                for (t, _), data in device.entities().items()
                if t == "finding" and data.get("result") == "fail"
            )
            print(f"changed findings received          {changed:,}")
            explain(world, url, device, start_cursor, args.limit)
        finally:
            server.stop()
    finally:
        engine.dispose()
        drop_database(url)


def explain(world: Any, url: str, device: Any, cursor: str, limit: int) -> None:
    """Print EXPLAIN ANALYZE of the feed query the catch-up's first page ran."""
    from app import create_app
    from app.changelog import SYNC_TABLES
    from app.db import session
    from app.org.models import User
    from app.sync.scope import UserScope
    from app.sync.services import cursor_codec
    from sync.cursor import load_state
    from sync.feed import conditions, feed_statement, snapshot_horizon

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": world.secret})
    with app.app_context():
        user = session.get(User, world.inspector_id)
        now = datetime.now(UTC)
        decoded = cursor_codec().decode(
            cursor,
            state=load_state(session, SYNC_TABLES, now),
            now=now,
            bind=f"{device.client_id}:{user.id}",
        )
        slices = UserScope(session, user, now).branches()
        assert slices is not None
        changes = SYNC_TABLES.changes
        branches = [*conditions(SYNC_TABLES, slices), changes.c.entity_id == device.client_id]
        stmt = feed_statement(
            changes, decoded.position, snapshot_horizon(session), branches, limit + 1
        )
        compiled = stmt.compile(dialect=session.get_bind().dialect)
        conn = session.connection()
        plan = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(compiled), compiled.params
        ).scalars()
        print("\nEXPLAIN ANALYZE of the feed query (catch-up, first page):")
        for line in plan:
            print("   ", line)
        session.rollback()
    app.extensions["db"].engine.dispose()


if __name__ == "__main__":
    main()
