"""What each kind of request costs the application: CPU, SQL statements and bytes.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/request_costs.py [--repeat 30]

Creates a scratch PostgreSQL database with one inspector and their dispatched inspections
(``tests/sync/live.seed``), builds the app in this process and drives it through Flask's test
client — pushes of 1 and of 20 findings, a failed item's photo uploaded in one request (a
160×120 JPEG, as ``bench/load.py``'s devices send), a first pull page and a pull with nothing
new, a page of the inspection list — so the figures are the application's own: the CPU this
process spends on the request (``time.process_time``: routing, auth, validation, SQLAlchemy,
serialisation; PostgreSQL's own work is in its process and not counted), the SQL statements it
sends and the bytes it answers.
The baseline, measured in the same run, is ``GET /api/v1/me`` (a token check and a small JSON
answer): each kind's CPU is also printed as a multiple of it, which is what stays comparable on
a shared machine.

In-process, the figures also count the test client's own work (building each request's
environ, reading its answer). So the one-finding push and ``/me`` are then measured again
against the real server, ``gunicorn`` with one worker (``tests/sync/live.Server``), over
loopback HTTP: ``--live`` requests of each, and the worker's CPU time (``/proc``, user +
system) before and after, divided by their number. That is the server CPU the bar of issue #17
for a one-finding push (at most 4 ms) is about; it is printed as PASS or FAIL.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ONE_FINDING_BAR_MS = 4.0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _photo(seed: int) -> bytes:
    """A small JPEG unlike any other (random noise), as ``bench/load.py``'s devices send."""
    import io
    import random

    from PIL import Image

    gen = random.Random(seed)
    buf = io.BytesIO()
    Image.frombytes("RGB", (160, 120), gen.randbytes(160 * 120 * 3)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


class Device:
    """One client of the sync API: its id and its next mutation id."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client_id = str(uuid.uuid4())
        self.next_id = 1

    def push(self, mutations: list[tuple[str, dict[str, Any]]]) -> Any:
        body = {"client_id": self.client_id, "mutations": []}
        for name, args in mutations:
            body["mutations"].append({"id": self.next_id, "name": name, "args": args})
            self.next_id += 1
        resp = self.client.post("/api/v1/sync/push", json=body, headers=self.headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert all(r["status"] == "applied" for r in resp.get_json()["results"]), resp.get_json()
        return resp

    def put_photo(self, data: bytes) -> Any:
        digest = hashlib.sha256(data).hexdigest()
        resp = self.client.put(
            f"/api/v1/media/{digest}",
            data=data,
            headers={**self.headers, "Content-Type": "application/octet-stream"},
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp

    def pull(self, cursor: str | None = None, limit: int = 200) -> Any:
        query = {"client_id": self.client_id, "limit": limit}
        if cursor:
            query["cursor"] = cursor
        resp = self.client.get("/api/v1/sync/pull", query_string=query, headers=self.headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp


@dataclass
class Fieldwork:
    """An app on a seeded database, driven in-process, with a device checked in at every one
    of the seed's inspections; ``findings(n)`` gives ``n`` new finding.put mutations."""

    app: Any
    client: Any
    device: Device
    findings: Callable[[int], list[tuple[str, dict[str, Any]]]]


def start_fieldwork(world: Any, tmp: Path) -> Fieldwork:
    """Build the app on ``world`` (``tests/sync/live.seed``) and check its device in everywhere."""
    from app import create_app
    from app.checklists.services import get_checklist

    app = create_app(
        {
            "DATABASE_URL": world.url,
            "SECRET_KEY": world.secret,
            "TESTING": True,
            "MEDIA_ROOT": str(tmp / "media"),
            "MEDIA_SPOOL": str(tmp / "spool"),
        }
    )
    client = app.test_client()
    with app.app_context():
        items = [i for i in get_checklist("gas_catering").content["items"] if not i.get("unit")]
    device = Device(client, world.token)
    loc = {"lat": 31.2195, "lon": 121.4265, "accuracy": 6}
    arrive = [{"inspection_id": str(i), "at": _now(), "location": loc} for i in world.inspections]
    for start in range(0, len(arrive), 500):  # at most 1,000 mutations a push
        device.push([("inspection.check_in", a) for a in arrive[start : start + 500]])
    free = [(iid, item["code"]) for iid in world.inspections for item in items]

    def findings(n: int) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for _ in range(n):
            iid, code = free.pop()
            args = {
                "id": str(uuid.uuid4()),
                "inspection_id": str(iid),
                "item_code": code,
                "result": "pass",
                "recorded_at": _now(),
                "location": loc,
            }
            out.append(("finding.put", args))
        return out

    return Fieldwork(app, client, device, findings)


def measure(
    name: str, repeat: int, call: Callable[[int], Any], statements: list[int]
) -> dict[str, Any]:
    """Run ``call(i)`` ``repeat`` times; the median CPU, statements and bytes of one call."""
    cpu, stmts, sizes = [], [], []
    for i in range(repeat):
        before = len(statements)
        t0 = time.process_time()
        resp = call(i)
        cpu.append(time.process_time() - t0)
        stmts.append(len(statements) - before)
        sizes.append(len(resp.get_data()))
    return {
        "name": name,
        "cpu_ms": statistics.median(cpu) * 1000,
        "statements": statistics.median(stmts),
        "bytes": statistics.median(sizes),
    }


def wait_for_horizon(app: Any, timeout: float = 120.0) -> None:
    """Wait until the snapshot horizon is past every change row (PostgreSQL's xmin)."""
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    with app.extensions["db"].engine.connect() as conn:
        while time.monotonic() < deadline:
            top = conn.execute(text("SELECT max(xid) FROM sync_changes")).scalar()
            horizon = conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar()
            conn.rollback()
            if top is None or horizon > top:
                return
            time.sleep(0.5)
    print("warning: the snapshot horizon stayed behind the log; 'nothing new' may resend")


def main() -> int:
    """Seed, measure each request kind, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--live", type=int, default=300, help="requests of each kind, live server")
    args = ap.parse_args()
    repeat, live_requests = args.repeat, args.live

    from sqlalchemy import event

    from tests.sync.live import Server, bench_database_url, drop_database, scratch_database, seed

    tmp = Path(tempfile.mkdtemp(prefix="fs-costs-"))
    url = scratch_database(bench_database_url(), tmp, "costs")
    # Enough inspections that every push below records new findings (one per item each).
    try:
        world = seed(url, inspections=repeat * 2 + 2 + live_requests // 10)
        fieldwork = start_fieldwork(world, tmp)
        app, client, device, findings = (
            fieldwork.app,
            fieldwork.client,
            fieldwork.device,
            fieldwork.findings,
        )
        statements: list[int] = []
        event.listen(
            app.extensions["db"].engine,
            "before_cursor_execute",
            lambda *_a, **_k: statements.append(1),
        )

        rows = []
        rows.append(
            measure(
                "GET /me (baseline)",
                repeat,
                lambda _i: client.get("/api/v1/me", headers=device.headers),
                statements,
            )
        )
        rows.append(
            measure("push, 1 finding", repeat, lambda _i: device.push(findings(1)), statements)
        )
        rows.append(
            measure(
                "push, 20 findings",
                max(3, repeat // 5),
                lambda _i: device.push(findings(20)),
                statements,
            )
        )
        # A failed item's photo, as the load test's devices send them: the finding is pushed
        # citing it (so it waits for it), then the photo is uploaded in one request.
        photos = [_photo(n) for n in range(repeat)]
        failed = findings(repeat)
        for (_name, args), data in zip(failed, photos, strict=True):
            args["result"] = "fail"
            args["photos"] = [hashlib.sha256(data).hexdigest()]
        device.push(failed)
        rows.append(
            measure(
                "PUT /media (160x120 photo)",
                repeat,
                lambda i: device.put_photo(photos[i]),
                statements,
            )
        )
        rows.append(
            measure(
                "pull, first page (200)",
                max(3, repeat // 5),
                lambda _i: Device(client, world.token).pull(),
                statements,
            )
        )
        # PostgreSQL's snapshot horizon is the cluster's: another session's open transaction
        # holds back the log a pull may read. Wait until it passes the log, or the rows it
        # releases later would be pulled again by every "nothing new" pull below.
        wait_for_horizon(app)
        synced = Device(client, world.token)
        cursor = None
        while True:
            body = synced.pull(cursor).get_json()
            cursor = body["cursor"]
            if not body["has_more"]:
                break
        rows.append(
            measure("pull, nothing new", repeat, lambda _i: synced.pull(cursor), statements)
        )
        rows.append(
            measure(
                "GET /inspections (page of 20)",
                repeat,
                lambda _i: client.get("/api/v1/inspections?page_size=20", headers=device.headers),
                statements,
            )
        )
        app.extensions["db"].engine.dispose()
        server = Server(world, tmp, workers=1).start()
        try:
            live = measure_live(server, world.token, findings, live_requests)
        finally:
            server.stop()
    finally:
        drop_database(url)

    base = rows[0]["cpu_ms"]
    print(f"{'request (in-process)':<32}{'CPU ms':>9}{'x /me':>8}{'statements':>12}{'bytes':>10}")
    for r in rows:
        print(
            f"{r['name']:<32}{r['cpu_ms']:>9.2f}{r['cpu_ms'] / base:>8.1f}"
            f"{r['statements']:>12.0f}{r['bytes']:>10.0f}"
        )
    print(f"{'request (gunicorn worker)':<32}{'CPU ms':>9}{'x /me':>8}")
    for name, ms in live.items():
        print(f"{name:<32}{ms:>9.2f}{ms / live['GET /me (baseline)']:>8.1f}")
    one = live["push, 1 finding"]
    verdict = "PASS" if one <= ONE_FINDING_BAR_MS else "FAIL"
    bar = f"one-finding push <= {ONE_FINDING_BAR_MS:.0f} ms of server CPU"
    print(f"bar             {bar}: {verdict}")
    return 0


def worker_cpu_seconds(master_pid: int) -> float:
    """The CPU time (user + system) so far of the gunicorn master's one worker."""
    from bench.media_ingest import cpu_seconds

    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    assert len(children) == 1, f"expected one worker, found {children}"
    return cpu_seconds(int(children[0]))


def measure_live(
    server: Any, token: str, findings: Callable[[int], list[tuple[str, dict[str, Any]]]], n: int
) -> dict[str, float]:
    """Milliseconds of the worker's CPU per ``GET /me`` and per one-finding push, over HTTP."""
    import requests

    assert server.proc is not None
    http = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    client_id = str(uuid.uuid4())
    me = server.url + "/api/v1/me"
    push = server.url + "/api/v1/sync/push"
    for _ in range(20):  # warm the worker: imports, statement caches, prepared statements
        assert http.get(me, headers=headers).status_code == 200
    bodies = []
    for mid, (name, args) in enumerate(findings(n + 10), start=1):
        mutation = {"id": mid, "name": name, "args": args}
        bodies.append({"client_id": client_id, "mutations": [mutation]})
    for body in bodies[:10]:
        assert http.post(push, json=body, headers=headers).status_code == 200
    out = {}
    cpu0 = worker_cpu_seconds(server.proc.pid)
    for _ in range(n):
        assert http.get(me, headers=headers).status_code == 200
    out["GET /me (baseline)"] = (worker_cpu_seconds(server.proc.pid) - cpu0) * 1000 / n
    cpu0 = worker_cpu_seconds(server.proc.pid)
    for body in bodies[10:]:
        resp = http.post(push, json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["results"][0]["status"] == "applied", resp.text
    out["push, 1 finding"] = (worker_cpu_seconds(server.proc.pid) - cpu0) * 1000 / n
    return out


if __name__ == "__main__":
    raise SystemExit(main())
