"""Load and faults: simulated devices syncing against gunicorn on PostgreSQL, then a tally.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/load.py [--devices 20] [--seconds 20] [--workers 4] [--kill-every 0]

Creates a scratch database served by ``gunicorn -w WORKERS`` on a loopback port (nothing leaves
the machine). Each simulated device is one inspector with inspections of their own and the
reference client (``sync/client.py``) over a faulty network: a share of requests is lost before
the server, answered but the answer lost, delivered twice, or preceded by an old request the
network held back (``tests/sync/fakes.FaultyTransport``). A device checks in, records the
checklist 1–20 findings per sync (failures with a photo), and submits, inspection after
inspection, until the time is up. ``--kill-every S`` SIGKILLs one gunicorn worker every S
seconds (the master starts another). Then every device syncs with the faults off until its
outbox is empty, and the database is checked against what the devices recorded.

Prints findings/s, push and pull p50/p95/p99, the status counts, and the tally: findings lost
(recorded, not rejected, not stored), extra (stored, never recorded), counters that disagree
with the mutations sent (applied twice or lost), photos still missing. The bars of issue #17 at
200 devices (push and pull p95 under 1 s, 0 × 5xx, nothing lost or duplicated) are printed
as PASS or FAIL; the run bounds itself by ``--seconds`` plus the drain.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INDUSTRY = "gas_catering"
#: The share of requests each fault hits (the rest go through).
FAULTS = {"lose_request": 0.02, "lose_response": 0.03, "duplicate": 0.03, "replay_old": 0.02}
P95_BAR_SECONDS = 1.0


@dataclass
class Device:
    """One simulated inspector: their token, inspections and what they recorded."""

    name: str
    user_id: uuid.UUID
    token: str
    inspections: list[uuid.UUID]
    recorded: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)


class Timed:
    """A transport that records the time and status of each request it passes on."""

    def __init__(self, inner: Any, samples: list[tuple[str, float, int]]) -> None:
        self.inner, self.samples = inner, samples

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kind = (
            "push" if path.endswith("/sync/push") else "pull" if "/sync/pull" in path else "media"
        )
        t0 = time.perf_counter()
        try:
            resp = self.inner.request(method, path, **kwargs)
        except Exception:
            self.samples.append((kind, time.perf_counter() - t0, 0))  # 0: no answer
            raise
        self.samples.append((kind, time.perf_counter() - t0, resp.status))
        return resp


def seed(url: str, devices: int, inspections: int) -> tuple[str, list[Device], list[dict]]:
    """Create the schema, one inspector with their own inspections per device; return items."""
    import secrets

    from app import create_app
    from app.auth.services import hash_password, issue_tokens
    from app.checklists.services import get_checklist, load_library
    from app.clock import utcnow
    from app.db import session
    from app.demo.org import load_org
    from app.models import metadata
    from tests.sync.live import add_inspector_with_work

    secret = secrets.token_hex(16)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret, "TESTING": True})
    out = []
    gen = random.Random(17)
    with app.app_context():
        metadata.create_all(app.extensions["db"].engine)
        load_org()
        load_library(now=utcnow())
        password = hash_password("password-123")
        for n in range(devices):
            _ent, user, ids = add_inspector_with_work(
                f"load-{n:03d}",
                password,
                inspections,
                industry=INDUSTRY,
                enterprise_name=f"压测餐饮店{n:03d}",
                address=f"长宁路{n + 1}号",
                gen=gen,
            )
            token = issue_tokens(user, "load", now=utcnow())["access_token"]
            out.append(Device(f"device-{n:03d}", user.id, token, ids))
        items = list(get_checklist(INDUSTRY).content["items"])
        session.commit()
    app.extensions["db"].engine.dispose()
    return secret, out, items


def photo(gen: random.Random) -> bytes:
    """A small JPEG unlike any other (random noise), as a phone's photo would be."""
    from PIL import Image

    img = Image.frombytes("RGB", (160, 120), gen.randbytes(160 * 120 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def finding_args(item: dict, iid: uuid.UUID, gen: random.Random, dev: Any) -> dict[str, Any]:
    """A finding on ``item``: mostly passes, sometimes a failure with a photo."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    args: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "inspection_id": str(iid),
        "item_code": item["code"],
        "recorded_at": now,
        "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 8},
    }
    if item.get("unit"):
        low, high = item.get("min"), item.get("max")
        args["value"] = low if low is not None else high if high is not None else 1
        args["result"] = "pass"
    elif gen.random() < 0.2:
        args["result"] = "fail"
        args["photos"] = [dev.add_photo(photo(gen))]
    else:
        args["result"] = "pass"
    return args


def run_device(
    device: Device,
    base: str,
    items: list[dict],
    tmp: Path,
    deadline: float,
    samples: list[tuple[str, float, int]],
    faults: bool,
) -> None:
    """Inspect until ``deadline``: check in, findings in syncs of 1–20, submit; next one."""
    from sync.client import RequestsTransport, SyncClient
    from tests.sync.fakes import FaultyTransport

    gen = random.Random(device.name)
    names, weights = zip(*FAULTS.items(), strict=True)

    def plan() -> str:
        if not faults or gen.random() >= sum(weights):
            return "ok"
        return gen.choices(names, weights)[0]

    timed = Timed(RequestsTransport(base, timeout=60), samples)
    client = SyncClient(
        str(tmp / f"{device.name}.sqlite"),
        FaultyTransport(timed, plan),
        token=lambda: device.token,
        base_url=base,
        push_batch=20,
        max_attempts=12,
    )
    try:
        for iid in device.inspections:
            if time.monotonic() > deadline:
                break
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            loc = {"lat": 31.2195, "lon": 121.4265, "accuracy": 6}
            client.enqueue(
                "inspection.check_in", {"inspection_id": str(iid), "at": now, "location": loc}
            )
            todo = list(items)
            gen.shuffle(todo)
            while todo:
                size = gen.randint(1, 20)
                batch, todo = todo[:size], todo[size:]
                for item in batch:
                    args = finding_args(item, iid, gen, client)
                    client.enqueue("finding.put", args)
                    device.recorded.add(args["id"])
                _sync(client, device)
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            client.enqueue("inspection.submit", {"inspection_id": str(iid), "at": now})
            _sync(client, device)
    except Exception as exc:  # the tally reports it; the run goes on
        device.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        drain(client, device)
        client.close()


def _sync(client: Any, device: Device) -> None:
    from sync.client import SyncError

    try:
        client.sync()
    except SyncError as exc:  # a fault streak beyond the retries: the next sync goes on
        device.errors.append(f"sync: {exc}")


def drain(client: Any, device: Device) -> None:
    """Sync with the faults off until nothing waits in the outbox nor on the server."""
    faulty = client.transport
    device.faults.update(f for f in faulty.faults if f != "ok")
    client.transport = faulty.inner
    for _ in range(10):
        _sync(client, device)
        if not client.outbox("pending"):
            break
    for row in client.outbox("rejected"):
        device.refusals[f"{row['name']} {row['code']}"] += 1
        if row["name"] == "finding.put":
            device.rejected.add(row["args"]["id"])
    device.sent = int(client._meta("next_mutation_id") or "1") - 1


def killer(master_pid: int, every: float, stop: threading.Event, kills: list[int]) -> None:
    """SIGKILL one gunicorn worker every ``every`` seconds (the master forks another)."""
    while not stop.wait(every):
        try:
            children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        except OSError:
            return
        if children:
            pid = int(random.choice(children))
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
            except ProcessLookupError:
                pass


def percentiles(values: list[float]) -> str:
    if not values:
        return "no requests"
    ms = sorted(v * 1000 for v in values)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return f"p50 {statistics.median(ms):7.1f} ms  p95 {at(0.95):7.1f} ms  p99 {at(0.99):7.1f} ms"


def tally(url: str, devices: list[Device]) -> dict[str, int]:
    """Compare the database with what the devices recorded and sent."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        stored = {
            str(r.id): r.media_pending
            for r in conn.execute(text("SELECT id, media_pending FROM findings"))
        }
        counters = {
            str(r.client_user): int(r.last)
            for r in conn.execute(
                text(
                    "SELECT user_id AS client_user, max(last_mutation_id) AS last "
                    "FROM sync_clients GROUP BY user_id"
                )
            )
        }
    engine.dispose()
    expected = set().union(*(d.recorded - d.rejected for d in devices))
    recorded = set().union(*(d.recorded for d in devices))
    return {
        "findings expected": len(expected),
        "findings stored": len(stored),
        "lost": len(expected - set(stored)),
        "extra": len(set(stored) - recorded),
        "counters off": sum(1 for d in devices if counters.get(str(d.user_id), 0) != d.sent),
        "media pending": sum(1 for pending in stored.values() if pending),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--inspections", type=int, default=20, help="per device")
    ap.add_argument("--kill-every", type=float, default=0.0, help="seconds; 0: no kills")
    ap.add_argument("--no-faults", action="store_true")
    args = ap.parse_args()

    from tests.sync.live import Server, World, bench_database_url, drop_database, scratch_database

    tmp = Path(tempfile.mkdtemp(prefix="fieldsafe-load-"))
    url = scratch_database(bench_database_url(), tmp, "bench_load")
    try:
        secret, devices, items = seed(url, args.devices, args.inspections)
        world = World(url, secret, [], uuid.uuid4(), uuid.uuid4(), "", [])
        server = Server(world, tmp, workers=args.workers).start()
        samples: list[tuple[str, float, int]] = []
        stop, kills = threading.Event(), []
        chaos = None
        if args.kill_every > 0 and server.proc is not None:
            chaos = threading.Thread(
                target=killer, args=(server.proc.pid, args.kill_every, stop, kills)
            )
            chaos.start()
        t0 = time.monotonic()
        deadline = t0 + args.seconds
        threads = [
            threading.Thread(
                target=run_device,
                args=(d, server.url, items, tmp, deadline, samples, not args.no_faults),
            )
            for d in devices
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        stop.set()
        if chaos is not None:
            chaos.join()
        server.stop()
        counts = tally(url, devices)
    finally:
        drop_database(url)

    status = Counter(s for _, _, s in samples)
    push = [t for k, t, s in samples if k == "push" and s]
    pull = [t for k, t, s in samples if k == "pull" and s]
    five = sum(n for s, n in status.items() if s >= 500)
    print(
        f"devices         {args.devices} on gunicorn -w {args.workers}, {elapsed:.1f} s with drain"
    )
    print(f"findings/s      {counts['findings stored'] / elapsed:.1f}")
    print(f"push            {len(push):6d} answered  {percentiles(push)}")
    print(f"pull            {len(pull):6d} answered  {percentiles(pull)}")
    print(f"statuses        {dict(sorted(status.items()))}  (0: no answer)")
    print(f"faults          {dict(sum((d.faults for d in devices), Counter()))}")
    print(f"refused         {dict(sum((d.refusals for d in devices), Counter()))}")
    print(f"worker kills    {len(kills)}")
    for key, value in counts.items():
        print(f"{key:<15} {value}")
    errors = [e for d in devices for e in d.errors]
    if errors:
        print(f"device errors   {len(errors)}: {errors[:3]}")
    ok_p95 = lambda xs: bool(xs) and sorted(xs)[int(0.95 * (len(xs) - 1))] < P95_BAR_SECONDS  # noqa: E731
    bars = {
        "push p95 < 1 s": ok_p95(push),
        "pull p95 < 1 s": ok_p95(pull),
        "0 x 5xx": five == 0 or bool(kills),
        "0 lost": counts["lost"] == 0 and counts["media pending"] == 0,
        "0 duplicated": counts["extra"] == 0 and counts["counters off"] == 0,
    }
    for name, ok in bars.items():
        print(f"bar             {name}: {'PASS' if ok else 'FAIL'}")
    # Correctness is the bench's own failure; speed bars are reported, not enforced.
    return 0 if bars["0 lost"] and bars["0 duplicated"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
