"""Load and faults: simulated devices syncing against gunicorn on PostgreSQL, then a tally.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/load.py [--devices 20] [--seconds 20] [--workers 4] [--kill-every 0]
        [--interval 10] [--supervisors 2] [--staff-workers 0]

Creates a scratch database served by ``gunicorn -w WORKERS`` on a loopback port (nothing leaves
the machine). Each simulated device is one inspector with inspections of their own and the
reference client (``sync/client.py``) over a faulty network: a share of requests is lost before
the server, answered but the answer lost, delivered twice, or preceded by an old request the
network held back (``tests/sync/fakes.FaultyTransport``). A device checks in, records the
checklist 1–20 findings per sync (failures with a photo), and submits, inspection after
inspection, until the time is up. Between two syncs a device waits ``--interval`` seconds
(jittered ×0.5–1.5): the field app syncs after a save and once a minute, so 10 s is six times
busier than a real phone; ``--interval 0`` sends the next sync as soon as the last one is
answered (a closed loop: latency is then the queue length divided by the throughput, whatever
the server does). ``--supervisors`` staff accounts meanwhile read the review queue and decide
findings through the API, and their latencies are printed apart (are staff starved by
devices?); ``--staff-workers N`` serves them from a second gunicorn pool of N workers on the same
database, as nginx routes ``/console`` and the review API to their own pool in production.
``--kill-every S`` SIGKILLs one gunicorn worker every S seconds (the master starts another).
Then every device syncs with the faults off until its outbox is empty, and the database is
checked against what the devices recorded.

Prints findings/s, push and pull p50/p95/p99 while the devices work (the drain, every device
syncing at once with no pause, is printed apart), the database time each pull page took as the
server reports it (``Server-Timing``: its statements' time), the staff requests' p50/p95, the CPU
the servers, PostgreSQL and this load generator spent, the status counts, and the tally:
findings lost (recorded, not rejected, not stored), extra (stored, never recorded), counters
that disagree with the mutations sent (applied twice or lost), photos still missing, and the
audit chain verified afterwards (every chain's entries and every bound row). The bars of issue
#17 at 200 devices (push and pull p95 under 1 s, a pull page's database time under 50 ms at
p95, 0 × 5xx, nothing lost or duplicated) are printed as PASS or FAIL, with the chain's; the
run bounds itself by ``--seconds`` plus the drain, and fails when something was lost,
duplicated, or the chain does not verify.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
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


#: A timed request: its kind, seconds, status (0: no answer) and phase: "first" (the device's
#: first sync: its whole scope downloaded), "later", or "drain" (after the deadline, when every
#: device syncs at once to empty its outbox).
Sample = tuple[str, float, int, str]
#: The database time the server reported for one answered pull (``Server-Timing``), in seconds.
DB_TIMES: list[float] = []
DB_TIME_BAR_SECONDS = 0.05


class Timed:
    """A transport that records the time and status of each request it passes on.

    Requests sent after ``deadline`` are marked as the drain's: then all devices sync in
    lockstep with no pause, a burst the run itself never offers, so their latency is printed
    apart from the run's (and the bars are the run's). The device marks its first sync
    (``first``), whose latency is also printed apart: a full download and the first check-in.
    """

    def __init__(self, inner: Any, samples: list[Sample], deadline: float) -> None:
        self.inner, self.samples, self.deadline = inner, samples, deadline
        self.first = True

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kind = (
            "push" if path.endswith("/sync/push") else "pull" if "/sync/pull" in path else "media"
        )
        phase = "drain" if time.monotonic() > self.deadline else "first" if self.first else "later"
        t0 = time.perf_counter()
        try:
            resp = self.inner.request(method, path, **kwargs)
        except Exception:
            self.samples.append((kind, time.perf_counter() - t0, 0, phase))  # 0: no answer
            raise
        self.samples.append((kind, time.perf_counter() - t0, resp.status, phase))
        timing = resp.headers.get("Server-Timing", "")
        if kind == "pull" and phase != "drain" and timing.startswith("db;dur="):
            DB_TIMES.append(float(timing[len("db;dur=") :].split(";")[0]) / 1000)
        return resp


def seed(
    url: str, devices: int, inspections: int, supervisors: int
) -> tuple[str, list[Device], list[str], list[dict]]:
    """Create the schema, one inspector with their own inspections per device, and the
    supervisors of their street; return the secret, the devices, the supervisors' tokens and
    the checklist's items."""
    import secrets

    from app import create_app
    from app.auth.services import hash_password, issue_tokens
    from app.checklists.services import get_checklist, load_library
    from app.clock import utcnow
    from app.db import session
    from app.demo.org import load_org
    from app.models import metadata
    from app.org.models import User
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
        staff = []
        for n in range(supervisors):
            user = User(
                username=f"load-supervisor-{n}",
                password_hash=password,
                role="supervisor",
                jurisdiction_code="huayanglu",
                department_code="emergency",
                conflicts=[],
            )
            session.add(user)
            session.flush()
            staff.append(issue_tokens(user, "load", now=utcnow())["access_token"])
        items = list(get_checklist(INDUSTRY).content["items"])
        session.commit()
    app.extensions["db"].engine.dispose()
    return secret, out, staff, items


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
    samples: list[Sample],
    faults: bool,
    interval: float,
) -> None:
    """Inspect until ``deadline``: check in, findings in syncs of 1–20, submit; next one."""
    from sync.client import RequestsTransport, SyncClient
    from tests.sync.fakes import FaultyTransport

    gen = random.Random(device.name)
    # Devices do not start in step: each waits a random part of its interval first.
    time.sleep(gen.uniform(0, interval))
    names, weights = zip(*FAULTS.items(), strict=True)

    def plan() -> str:
        if not faults or gen.random() >= sum(weights):
            return "ok"
        return gen.choices(names, weights)[0]

    timed = Timed(RequestsTransport(base, timeout=60), samples, deadline)
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
                timed.first = False
                _pause(gen, interval, deadline)
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            client.enqueue("inspection.submit", {"inspection_id": str(iid), "at": now})
            _sync(client, device)
            _pause(gen, interval, deadline)
    except Exception as exc:  # the tally reports it; the run goes on
        device.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        drain(client, device)
        client.close()


def _pause(gen: random.Random, interval: float, deadline: float) -> None:
    """Wait about ``interval`` seconds (×0.5–1.5), not past the deadline."""
    if interval > 0:
        time.sleep(max(0.0, min(interval * gen.uniform(0.5, 1.5), deadline - time.monotonic())))


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


def run_supervisor(
    token: str, base: str, deadline: float, samples: list[Sample], seed: int
) -> None:
    """Review until ``deadline``: read the queue, decide a finding of it, look again.

    A supervisor's two requests are timed as ``queue`` and ``review``. Two supervisors may pick
    the same finding; the second decision is then answered 409 (a conflict, not an error).
    """
    import requests

    gen = random.Random(seed)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            resp = http.get(base + "/api/v1/review/queue", params={"page_size": 10}, timeout=60)
        except requests.RequestException:
            samples.append(("queue", time.perf_counter() - t0, 0, "later"))
            continue
        samples.append(("queue", time.perf_counter() - t0, resp.status_code, "later"))
        findings = [
            f
            for entry in (resp.json() if resp.status_code == 200 else [])
            for f in entry["findings"]
            if not f["media_pending"]
        ]
        if findings:
            finding = gen.choice(findings)
            decision = (
                "confirm"
                if finding["result"] == "fail"
                else gen.choice(["confirm"] * 9 + ["needs_info"])
            )
            t0 = time.perf_counter()
            try:
                resp = http.post(
                    f"{base}/api/v1/findings/{finding['id']}/review",
                    json={"decision": decision, "comment": "压测复核"},
                    timeout=60,
                )
                samples.append(("review", time.perf_counter() - t0, resp.status_code, "later"))
            except requests.RequestException:
                samples.append(("review", time.perf_counter() - t0, 0, "later"))
        # A person reads the photos before the next decision: a second or so.
        time.sleep(gen.uniform(0.5, 1.5))


def _stat_cpu(pid: int | str, *, reaped: bool) -> float:
    """CPU seconds of process ``pid`` (with its reaped children's if ``reaped``); 0 if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[11:15]: utime stime cutime cstime
    return sum(int(v) for v in fields[11 : 15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds a running server (its master and live workers) has used so far."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return _stat_cpu(pid, reaped=True) + sum(_stat_cpu(c, reaped=True) for c in children)


def postgres_cpu() -> float:
    """CPU seconds PostgreSQL's processes have used so far (live ones and reaped backends).

    Counts the whole server: anything else using PostgreSQL meanwhile is counted too."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            name = (proc / "comm").read_text().strip() if proc.name.isdigit() else ""
        except OSError:
            continue
        if name.startswith("postgres"):  # the postmaster's own includes its reaped backends
            total += _stat_cpu(proc.name, reaped=True)
    return total


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
    """Compare the database with what the devices recorded and sent; verify the audit chain
    (every entry and every bound row, as ``fieldsafe audit verify`` does)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from app.audit.services import verify_chain

    engine = create_engine(url)
    with Session(engine) as db:
        chain = verify_chain(db)
    if not chain.ok:
        print(f"audit chain     broken: {chain}")
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
        "audit entries": chain.checked,
        "bound rows": chain.rows_checked,
        "audit broken": 0 if chain.ok else 1,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--inspections", type=int, default=20, help="per device")
    ap.add_argument("--kill-every", type=float, default=0.0, help="seconds; 0: no kills")
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument(
        "--interval", type=float, default=10.0, help="seconds between a device's syncs; 0: none"
    )
    ap.add_argument("--supervisors", type=int, default=2)
    ap.add_argument(
        "--staff-workers", type=int, default=0, help="a second pool for staff; 0: they share"
    )
    args = ap.parse_args()

    from tests.sync.live import Server, World, bench_database_url, drop_database, scratch_database

    tmp = Path(tempfile.mkdtemp(prefix="fieldsafe-load-"))
    url = scratch_database(bench_database_url(), tmp, "bench_load")
    try:
        secret, devices, staff, items = seed(url, args.devices, args.inspections, args.supervisors)
        world = World(url, secret, [], uuid.uuid4(), uuid.uuid4(), "", [])
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        server = Server(world, tmp, workers=args.workers).start(timeout=120)
        staff_server = (
            Server(world, tmp, workers=args.staff_workers).start(timeout=120)
            if args.staff_workers
            else None
        )
        staff_url = (staff_server or server).url
        # What the servers spent starting up is not the load's: counted now, subtracted below.
        started = sum(tree_cpu(srv.proc.pid) for srv in (server, staff_server) if srv and srv.proc)
        pg0, self0 = postgres_cpu(), time.process_time()
        samples: list[Sample] = []
        stop, kills = threading.Event(), list[int]()
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
                args=(
                    d,
                    server.url,
                    items,
                    tmp,
                    deadline,
                    samples,
                    not args.no_faults,
                    args.interval,
                ),
            )
            for d in devices
        ] + [
            threading.Thread(target=run_supervisor, args=(tok, staff_url, deadline, samples, n))
            for n, tok in enumerate(staff)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        stop.set()
        if chaos is not None:
            chaos.join()
        pg_cpu, self_cpu = postgres_cpu() - pg0, time.process_time() - self0
        server.stop()
        if staff_server is not None:
            staff_server.stop()
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime - started
        counts = tally(url, devices)
    finally:
        drop_database(url)

    status = Counter(s for _, _, s, _ in samples)

    def answered(kind: str, *phases: str) -> list[float]:
        return [t for k, t, s, p in samples if k == kind and s and p in phases]

    push, pull = answered("push", "first", "later"), answered("pull", "first", "later")
    queue, review = answered("queue", "later"), answered("review", "later")
    firsts = answered("push", "first") + answered("pull", "first")
    laters = answered("push", "later") + answered("pull", "later")
    drained = answered("push", "drain") + answered("pull", "drain")
    five = sum(n for s, n in status.items() if s >= 500)
    pools = f"gunicorn -w {args.workers}" + (
        f", staff on their own -w {args.staff_workers}" if args.staff_workers else ""
    )
    pace = f"a sync every ~{args.interval:g} s" if args.interval > 0 else "closed loop"
    print(f"devices         {args.devices} ({pace}) on {pools}, {elapsed:.1f} s with drain")
    print(f"findings/s      {counts['findings stored'] / elapsed:.1f}")
    print(f"push            {len(push):6d} answered  {percentiles(push)}")
    print(f"pull            {len(pull):6d} answered  {percentiles(pull)}")
    print(f"staff queue     {len(queue):6d} answered  {percentiles(queue)}")
    print(f"staff review    {len(review):6d} answered  {percentiles(review)}")
    print(f"  first syncs   {len(firsts):6d} answered  {percentiles(firsts)}")
    print(f"  later syncs   {len(laters):6d} answered  {percentiles(laters)}")
    print(f"drain (at once) {len(drained):6d} answered  {percentiles(drained)}")
    print(f"pull DB time    {len(DB_TIMES):6d} answered  {percentiles(DB_TIMES)}  (Server-Timing)")
    print(
        f"CPU seconds     servers {server_cpu:.1f}, PostgreSQL {pg_cpu:.1f} (all of it), "
        f"this load generator {self_cpu:.1f}; of {elapsed * (os.cpu_count() or 1):.0f} available"
    )
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
        "staff p95 < 1 s": ok_p95(queue + review),
        "pull DB time p95 < 50 ms": bool(DB_TIMES)
        and sorted(DB_TIMES)[int(0.95 * (len(DB_TIMES) - 1))] < DB_TIME_BAR_SECONDS,
        "0 x 5xx": five == 0 or bool(kills),
        "0 lost": counts["lost"] == 0 and counts["media pending"] == 0,
        "0 duplicated": counts["extra"] == 0 and counts["counters off"] == 0,
        "audit chain verifies": counts["audit broken"] == 0,
    }
    for name, ok in bars.items():
        print(f"bar             {name}: {'PASS' if ok else 'FAIL'}")
    # Correctness is the bench's own failure; speed bars are reported, not enforced.
    correct = ("0 lost", "0 duplicated", "audit chain verifies")
    return 0 if all(bars[name] for name in correct) else 1


if __name__ == "__main__":
    raise SystemExit(main())
