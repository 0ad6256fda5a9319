"""The console's heaviest pages at district size: server time and SQL statements per page.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/console.py [--findings 2000] [--tickets 20000] [--runs 5]

Creates a scratch PostgreSQL database (bench/sync_pull.py's helpers), the demo's org, 320
enterprises and accounts, then a review queue of ``--findings`` pending findings (ten per
submitted inspection) and a ledger of ``--tickets`` hazard tickets over every street, industry,
grade, source and status. Each page is requested in-process with Flask's test client, signed in
to the console as a demo account; it prints the median and worst server time and the number of
SQL statements of each page, measured first on a tenth of the data and then on all of it: the
statement count must not grow with the data (tests/staff checks the same on a small scale).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime.now(UTC).replace(microsecond=0)
STATUSES = ("open", "rectifying", "rectified", "verified", "closed")
SOURCES = ("inspection", "self_report", "public_report", "supervision")
PAGES = [
    ("supervisor", "/console/review"),
    ("supervisor", "/console/review?flagged=1&sort=enterprise"),
    ("coordinator", "/console/hazards"),
    ("coordinator", "/console/hazards?grade=major&overdue=1"),
    ("coordinator", "/console/overdue"),
    ("coordinator", "/console/zero"),
    ("coordinator", "/console/reports"),
    ("coordinator", "/console/reports?by=industry"),
    ("coordinator", "/console/work"),
    ("planner", "/console/enterprises"),
    ("planner", "/console/enterprises?risk_level=high&jurisdiction=huayanglu"),
    ("planner", "/console/inspectors"),
]


def arrange_org() -> tuple[list[Any], list[Any]]:
    from app.checklists.services import load_library
    from app.demo.org import load_accounts, load_enterprises, load_org

    load_org()
    load_library(now=NOW)
    enterprises = load_enterprises()
    users = load_accounts(enterprises)
    return enterprises, users


def add_findings(enterprises: list[Any], users: list[Any], n: int, rng: random.Random) -> None:
    """Submitted inspections with ten pending findings each."""
    from sqlalchemy import insert

    from app.db import session
    from app.inspections.models import Finding, Inspection, InspectionInspector

    inspector = next(u for u in users if u.username == "inspector1")
    inspections, assignments, findings = [], [], []
    for k in range(max(1, n // 10)):
        ent = enterprises[rng.randrange(len(enterprises))]
        iid = uuid.uuid4()
        at = NOW - timedelta(hours=rng.randint(1, 24 * 30))
        inspections.append(
            {
                "id": iid,
                "type": "routine",
                "status": "submitted",
                "enterprise_id": ent.id,
                "jurisdiction_code": ent.jurisdiction_code,
                "industry": ent.industry,
                "check_in_at": at,
                "check_in_received_at": at,
                "submitted_at": at + timedelta(hours=1),
                "created_at": at,
                "updated_at": at,
                "version": 1,
            }
        )
        assignments.append({"inspection_id": iid, "user_id": inspector.id})
        for i in range(min(10, n - 10 * k)):
            findings.append(
                {
                    "id": uuid.uuid4(),
                    "inspection_id": iid,
                    "item_code": f"GAS-{i + 1:02d}",
                    "result": rng.choice(("pass", "fail", "na")),
                    "note": "",
                    "grade": "general",
                    "photos": [],
                    "measures": [],
                    "recorded_at": at + timedelta(minutes=i),
                    "received_at": at + timedelta(minutes=i),
                    "review_status": "pending",
                    "review_comment": "",
                    "media_pending": False,
                    "deleted": False,
                    "updated_at": at,
                    "version": 1,
                }
            )
    session.execute(insert(Inspection), inspections)
    session.execute(insert(InspectionInspector), assignments)
    session.execute(insert(Finding), findings)


def add_tickets(
    enterprises: list[Any], users: list[Any], n: int, start: int, rng: random.Random
) -> None:
    """Hazard tickets over every street, industry, grade, source and status."""
    from sqlalchemy import insert

    from app.db import session
    from app.hazards.models import Hazard

    staff = [u for u in users if u.role in ("inspector", "coordinator")]
    rows = []
    for k in range(start, start + n):
        ent = enterprises[rng.randrange(len(enterprises))]
        found = NOW - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440))
        status = rng.choice(STATUSES)
        grade = "major" if rng.random() < 0.05 else "general"
        rows.append(
            {
                "id": uuid.uuid4(),
                "number": f"长安隐〔{found.year}〕B{k:06d}号",
                "year": found.year,
                "seq": 900000 + k,
                "source": rng.choice(SOURCES),
                "grade": grade,
                "enterprise_id": ent.id,
                "jurisdiction_code": ent.jurisdiction_code,
                "industry": ent.industry,
                "description": "灶具连接管老化",
                "photos": [],
                "found_at": found,
                "deadline": found + timedelta(days=rng.randint(3, 60)),
                "assignee_id": rng.choice(staff).id if rng.random() < 0.7 else None,
                "status": status,
                "escalation_level": rng.choice((0, 0, 0, 1, 2)),
                "listed": grade == "major",
                "closed_at": found + timedelta(days=5) if status == "closed" else None,
                "created_at": found,
                "updated_at": found,
                "version": 1,
            }
        )
    for chunk in range(0, len(rows), 2000):
        session.execute(insert(Hazard), rows[chunk : chunk + 2000])


def sign_in(app: Any, username: str) -> Any:
    import re

    from app.demo.org import DEMO_PASSWORD

    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/console/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": csrf},
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:300]
    return client


def measure(app: Any, engine: Any, runs: int) -> dict[str, tuple[float, float, int]]:
    from sqlalchemy import event

    clients = {who: sign_in(app, who) for who in {who for who, _ in PAGES}}
    counted = [0]

    def count(*_args: Any) -> None:
        counted[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    out = {}
    try:
        for who, path in PAGES:
            times = []
            for _ in range(runs):
                counted[0] = 0
                t0 = time.perf_counter()
                answer = clients[who].get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            out[path] = (statistics.median(times), max(times), counted[0])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=2000)
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from app import create_app
    from app.db import get_db, session
    from app.models import metadata
    from tests.sync.live import bench_database_url, drop_database, scratch_database

    base = bench_database_url()
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-"))
    url = scratch_database(base, tmp, "bench_console")
    try:
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "MEDIA_ROOT": str(tmp / "media"),
                "MEDIA_SPOOL": str(tmp / "spool"),
                "RATELIMIT_ENABLED": False,
            }
        )
        rng = random.Random(15)
        with app.app_context():
            engine = get_db().engine
            metadata.create_all(engine)
            enterprises, users = arrange_org()
            add_findings(enterprises, users, args.findings // 10, rng)
            add_tickets(enterprises, users, args.tickets // 10, 0, rng)
            session.commit()
        with app.app_context():
            small = measure(app, engine, args.runs)
        with app.app_context():
            enterprises, users = arrange_org()
            add_findings(enterprises, users, args.findings - args.findings // 10, rng)
            add_tickets(enterprises, users, args.tickets - args.tickets // 10, 10**6, rng)
            session.commit()
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        with app.app_context():
            large = measure(app, engine, args.runs)
        print(
            f"{args.findings:,} pending findings, {args.tickets:,} tickets "
            f"(first on a tenth of them); {args.runs} runs a page, in-process (Flask test client)"
        )
        print(f"{'page':<46} {'median ms':>10} {'max ms':>8} {'SQL':>4} {'SQL at 1/10':>11}")
        grew = []
        for path, (median, worst, statements) in large.items():
            print(f"{path:<46} {median:10.1f} {worst:8.1f} {statements:4d} {small[path][2]:11d}")
            if statements > small[path][2]:
                grew.append(path)
        if grew:
            print(f"statement count grew with the data: {', '.join(grew)}")
            sys.exit(1)
        print("statement counts do not grow with the data")
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
