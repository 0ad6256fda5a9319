"""Writers of the audit log at once: one chain (the old single head) against the partitioned chains.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/audit_chains.py [--writers 8] [--transactions 40] [--hold-ms 5]

In a scratch schema, WRITERS threads each run TRANSACTIONS transactions that append one entry
about an entity of their own (``record``, as a ticket's timeline does), then hold the transaction
HOLD_MS (the rest of the request) and commit. Run twice in the same process: with every entry
forced into one chain (``CHAINS = 1``, what one ``audit_head`` row did) and with the real
``CHAINS``. Prints each run's transactions/s, the time spent waiting for a head lock (from the
lock statement's start to its answer), and the ratios; then verifies both logs.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(url: str, chains: int, args: argparse.Namespace) -> tuple[float, float]:
    """Return (transactions per second, seconds waited on head locks in all)."""
    from sqlalchemy import event, text
    from sqlalchemy.orm import sessionmaker

    from app import create_app
    from app.audit import services
    from app.audit.services import record, verify_chain
    from app.db import Database, make_engine
    from app.models import metadata

    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    base = make_engine(url)
    with base.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(scoped)
    waited = [0.0]
    lock = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "FROM audit_head" in statement and "FOR UPDATE" in statement:
            with lock:
                waited[0] += time.perf_counter() - conn.info["t0"]

    try:
        metadata.create_all(engine)

        class _Db(Database):
            def __init__(self) -> None:
                self.engine = engine
                self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)

        app = create_app({"DATABASE": _Db(), "DATABASE_URL": scoped, "SECRET_KEY": "bench"})
        saved = services.CHAINS
        services.CHAINS = chains
        barrier = threading.Barrier(args.writers)

        def writer(i: int) -> None:
            entity = f"enterprise-{i}"
            with app.app_context():
                db = app.extensions["db"]
                barrier.wait()
                for n in range(args.transactions):
                    with db.new_session() as s:
                        record("bench.event", "enterprise", entity, {"n": n}, actor=None, db=s)
                        time.sleep(args.hold_ms / 1000)
                        s.commit()

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.writers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        services.CHAINS = saved
        with app.app_context(), app.extensions["db"].new_session() as s:
            result = verify_chain(s)
            assert result.ok and result.checked == args.writers * args.transactions, result
        return args.writers * args.transactions / elapsed, waited[0]
    finally:
        engine.dispose()
        with base.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()


def main() -> None:
    """Measure one chain against the partitioned chains and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--transactions", type=int, default=40)
    parser.add_argument("--hold-ms", type=float, default=5.0)
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("set TEST_DATABASE_URL to a PostgreSQL database")
    from app.audit.services import CHAINS

    one_rate, one_wait = run(url, 1, args)
    many_rate, many_wait = run(url, CHAINS, args)
    total = args.writers * args.transactions
    from app.audit.services import chain_for

    used = {chain_for("enterprise", f"enterprise-{i}") for i in range(args.writers)}
    print(
        f"writers {args.writers} × {args.transactions} transactions, held {args.hold_ms} ms; "
        f"their entities fall in {len(used)} of the {CHAINS} chains"
    )
    print(f"one chain      {one_rate:8.1f} tx/s   head-lock wait {one_wait:7.2f} s in all")
    print(f"{CHAINS} chains      {many_rate:8.1f} tx/s   head-lock wait {many_wait:7.2f} s in all")
    print(
        f"ratio          {many_rate / one_rate:8.2f} × throughput   "
        f"wait per transaction {one_wait / total * 1000:.2f} → {many_wait / total * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
