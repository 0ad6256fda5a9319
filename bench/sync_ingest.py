"""Sync ingest: 10,000 finding.put through the HTTP API vs a raw Core executemany insert.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/sync_ingest.py [--findings 10000] [--batch 200]

Creates a scratch PostgreSQL database, serves it with gunicorn on a free loopback port,
and in the same run measures
  (a) the reference device client pushing the findings in pushes of ``--batch`` (HTTP,
      auth, validation, per-client lock, set-based merge, change log, stored results,
      one commit per push), and
  (b) one SQLAlchemy Core ``executemany`` INSERT of the same rows into ``findings``.
Prints both rates and their ratio; the bar (issue #17) is API >= 1/4 of raw.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: issue #17: a push of 200 findings ingests at least 1/BAR of a raw executemany's rate
BAR = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--inspections", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from tests.sync.live import (
        Server,
        bench_database_url,
        drop_database,
        scratch_database,
        seed,
    )

    base = bench_database_url()

    from sqlalchemy import create_engine, func, insert, select, text

    from app.inspections.models import Finding
    from app.sync.mutations import MUTATIONS
    from sync.client import RequestsTransport, SyncClient

    tmp = Path(tempfile.mkdtemp(prefix="sync-ingest-"))
    url = scratch_database(base, tmp, "bench_ingest")
    try:
        world = seed(url, inspections=args.inspections)
        server = Server(world, tmp, workers=args.workers).start()
        try:
            dev = SyncClient(
                str(tmp / "device.sqlite"),
                RequestsTransport(server.url),
                token=lambda: world.token,
                push_batch=args.batch,
                mutations=MUTATIONS,
            )
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            for iid in world.inspections:
                dev.enqueue(
                    "inspection.check_in",
                    {
                        "inspection_id": str(iid),
                        "at": now,
                        "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 5},
                    },
                )
            dev.push()
            codes = world.item_codes
            rows = []
            for n in range(args.findings):
                iid = world.inspections[n % len(world.inspections)]
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "inspection_id": str(iid),
                        "item_code": codes[n % len(codes)],
                        "result": ("pass", "fail", "na")[n % 3],
                        "note": f"现场记录 {n}",
                        "recorded_at": now,
                    }
                )
            for r in rows:
                dev.enqueue("finding.put", r, validate=False)
            t0 = time.perf_counter()
            report = dev.push()
            api_s = time.perf_counter() - t0
            assert report.applied == args.findings, report
        finally:
            server.stop()

        engine = create_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Finding)).scalar()
        assert stored == args.findings, stored
        # (b) the same rows, new ids, straight into the table in one executemany.
        stamp = datetime.now(UTC)
        raw_rows = [
            {
                "id": uuid.uuid4(),
                "inspection_id": uuid.UUID(r["inspection_id"]),
                "item_code": r["item_code"],
                "checklist_version": 1,
                "result": r["result"],
                "note": r["note"],
                "grade": "general",
                "photos": [],
                "location": None,
                "recorded_at": stamp,
                "received_at": stamp,
                "recorded_by": world.inspector_id,
                "review_status": "pending",
                "media_pending": False,
                "deleted": False,
                "updated_at": stamp,
                "version": 1,
            }
            for r in rows
        ]
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(Finding.__table__), raw_rows)
        raw_s = time.perf_counter() - t0
        with engine.connect() as conn:
            changes = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar()
        engine.dispose()
    finally:
        drop_database(url)

    api_rate = args.findings / api_s
    raw_rate = args.findings / raw_s
    print(f"findings                 {args.findings} in pushes of {args.batch}")
    print(f"API push (HTTP)          {api_s:8.2f} s  {api_rate:10,.0f} findings/s")
    print(f"raw Core executemany     {raw_s:8.2f} s  {raw_rate:10,.0f} rows/s")
    verdict = "PASS" if api_rate * BAR >= raw_rate else "FAIL"
    ratio = raw_rate / api_rate
    print(f"ratio API/raw            1/{ratio:.1f}  (bar: 1/{BAR} or better: {verdict})")
    print(f"change rows written      {changes}")


if __name__ == "__main__":
    main()
