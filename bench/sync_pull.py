"""Sync pull: each device kind's pull at 1,000,000 (or 10,000,000) change rows.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/sync_pull.py [--noise 1000000] [--findings 20000] [--limit 500]
    # the district at ten times the size, kept for another run of the plans alone:
    ... bench/sync_pull.py --noise 10000000 --findings 200000 --keep
    ... bench/sync_pull.py --reuse postgresql+psycopg://.../fs_bench_pull_xxxx [--drop]

Creates a scratch PostgreSQL database served by gunicorn on a free loopback port. An
inspector of 华阳路 gets 20 inspections and ~1,970 findings (pushed through the API), so
their scope (checklists, enterprise, inspections, findings) is ~2,000 entities. Then the
district is filled in SQL (``INSERT … SELECT generate_series``): ``--findings`` findings of
other inspectors' checked-in inspections (one per 20 findings), one enterprise per 20
findings, a ticket per 40, with 30% of all of it in 华阳路 (the large street) and the rest
spread over the other nine streets; their change rows; a known set of 200 other devices; and
the log padded to ``--noise`` rows with changes of the other streets. It measures
  (a) a fresh device downloading the inspector's whole scope (scope reconcile pages), and
  (b) the same device catching up after 1,000 of its findings changed in between another
      100,000 foreign changes (log pages),
printing the time per page. Then (c), in-process, for each device kind — the inspector, a
supervisor of 华阳路 (the street's review queue) and a district coordinator (the whole
district) — one pull page fresh and two caught up (its known set is all it sees, its cursor
just behind 2,100 changes to district findings): one whose scope moved since its last complete
reconcile (a cursor without the scope's fingerprint: the page reconciles), and one whose
cursor carries the fingerprint (the page reads the log alone). Every statement a page runs, captured
with a ``before_cursor_execute`` listener, with its own time, its ``EXPLAIN (ANALYZE,
BUFFERS)`` (``--plans``) and any sequential scan of a big table flagged, and the page's sum
of database time. Last (d), for the supervisor and the coordinator, every page of two whole
reconciles, with each page's database time: a full download (its first 40 pages), and the
pages after their scope moved until the reconcile completes.
"""

from __future__ import annotations

import argparse
import gc
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


#: The street of bench entity number ``k`` (enterprises; an inspection is its enterprise's):
#: 30% in 华阳路, the large street, the rest spread over the other nine.
STREET = "CASE WHEN {k} % 10 < 3 THEN 'huayanglu' ELSE (CAST(:streets AS text[]))[1 + {k} % 9] END"

#: The change rows of what the CTE ``rows`` inserted, with the scope keys app.changelog gives.
CHANGES = """
INSERT INTO sync_changes (xid, entity_type, entity_id, op, version, jurisdiction, enterprise_id,
                          inspection_id, created_at)
SELECT pg_current_xact_id()::text::bigint, t, id, 'put', 1, j, e, i, now() FROM rows
"""
#: A finding's scope keys are its inspection's.
CHANGES_OF_FINDINGS = """
INSERT INTO sync_changes (xid, entity_type, entity_id, op, version, jurisdiction, enterprise_id,
                          inspection_id, created_at)
SELECT pg_current_xact_id()::text::bigint, t, rows.id, 'put', 1, i.jurisdiction_code,
       i.enterprise_id, rows.i, now()
FROM rows JOIN inspections AS i ON i.id = rows.i
"""

DISTRICT_SQL = [
    # 100 other inspectors, one a street in turn; inspection k's team is inspector k % 100.
    f"""
INSERT INTO users (id, username, password_hash, name, role, jurisdiction_code, conflicts, active,
                   created_at, version)
SELECT md5('bench-u' || u)::uuid, 'bench-other-' || u, '!', '检查员' || u, 'inspector',
       {STREET.format(k="u")}, '[]', true, now(), 1
FROM generate_series(1, 100) AS u
""",
    f"""
WITH rows AS (
INSERT INTO enterprises (id, name, uscc, industry, jurisdiction_code, address, lat, lon, risk_level,
                         created_at, updated_at, version)
SELECT md5('bench-e' || k)::uuid, '压测企业' || k, 'B' || lpad(k::text, 17, '0'), 'gas_catering',
       {STREET.format(k="k")}, '长宁路' || k || '号', 31.22, 121.43, 'low', now(), now(), 1
FROM generate_series(1, :enterprises) AS k
RETURNING 'enterprise' AS t, id, jurisdiction_code AS j, id AS e, NULL::uuid AS i
) {CHANGES}""",
    # Checked in and submitted: the street's staff see them (the confidentiality rule).
    f"""
WITH rows AS (
INSERT INTO inspections (id, type, status, enterprise_id, jurisdiction_code, industry,
                         check_in_at, check_in_received_at, submitted_at, submitted_received_at,
                         created_at, updated_at, version)
SELECT md5('bench-i' || k)::uuid, 'routine', 'submitted',
       md5('bench-e' || (1 + k % :enterprises))::uuid, {STREET.format(k="(1 + k % :enterprises)")},
       'gas_catering', now(), now(), now(), now(), now(), now(), 1
FROM generate_series(1, :inspections) AS k
RETURNING 'inspection' AS t, id, jurisdiction_code AS j, enterprise_id AS e, id AS i
) {CHANGES}""",
    """
INSERT INTO inspection_inspectors (inspection_id, user_id)
SELECT md5('bench-i' || k)::uuid, md5('bench-u' || (1 + k % 100))::uuid
FROM generate_series(1, :inspections) AS k
""",
    f"""
WITH rows AS (
INSERT INTO findings (id, inspection_id, item_code, result, note, grade, photos, measures,
                      recorded_at, received_at, review_status, review_comment, media_pending,
                      deleted, updated_at, version)
SELECT md5('bench-f' || f)::uuid, md5('bench-i' || (1 + f % :inspections))::uuid,
       (CAST(:codes AS text[]))[1 + f % cardinality(CAST(:codes AS text[]))],
       CASE WHEN f % 7 = 0 THEN 'fail' ELSE 'pass' END, '', 'general', '[]', '[]',
       now(), now(), 'pending', '', false, false, now(), 1
FROM generate_series(1, :findings) AS f
RETURNING 'finding' AS t, id, inspection_id AS i
) {CHANGES_OF_FINDINGS}""",
    # Tickets of every 40th finding, open, assigned to its inspection's inspector; one in a
    # thousand assigned to the bench's inspector instead (their tickets from others' work).
    f"""
WITH rows AS (
INSERT INTO hazards (id, number, year, seq, source, finding_id, inspection_id, grade,
                     enterprise_id, jurisdiction_code, industry, item_code, description, photos,
                     found_at, deadline, assignee_id, status, escalation_level, listed,
                     created_at, updated_at, version)
SELECT md5('bench-h' || h)::uuid, 'B-' || h, 1999, h, 'inspection', md5('bench-f' || f.f)::uuid,
       i.id, 'general', i.enterprise_id, i.jurisdiction_code, 'gas_catering', NULL, '压测隐患',
       '[]', now(), now() + interval '30 days',
       CASE WHEN h % 1000 = 0 THEN CAST(:inspector AS uuid)
            ELSE md5('bench-u' || (1 + (1 + f.f % :inspections) % 100))::uuid END,
       'open', 0, false, now(), now(), 1
FROM generate_series(1, :findings / 40) AS h
CROSS JOIN LATERAL (SELECT h * 40 AS f) AS f
JOIN inspections AS i ON i.id = md5('bench-i' || (1 + f.f % :inspections))::uuid
RETURNING 'hazard' AS t, id, jurisdiction_code AS j, enterprise_id AS e, inspection_id AS i
) {CHANGES}""",
    # What 200 other devices hold: each a 200th of the district's findings.
    """
INSERT INTO sync_known (client_id, entity_type, entity_id, gen_added)
SELECT md5('bench-c' || (f % 200))::uuid, 'finding', md5('bench-f' || f)::uuid, 1
FROM generate_series(1, :findings) AS f
""",
]


def populate_district(engine: Any, world: Any, findings: int) -> None:
    """Fill the district in SQL (see the module docstring), one transaction per table."""
    from sqlalchemy import text

    params = {
        "streets": other_streets(),
        "enterprises": max(1, findings // 20),
        "inspections": max(1, findings // 20),
        "findings": findings,
        "codes": world.item_codes,
        "inspector": str(world.inspector_id),
    }
    for sql in DISTRICT_SQL:
        with engine.begin() as conn:
            conn.execute(text(sql), params)


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
    parser.add_argument("--noise", type=int, default=1_000_000, help="change rows in all")
    parser.add_argument("--findings", type=int, default=20_000, help="the district's findings")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--inspections", type=int, default=20)
    parser.add_argument("--plans", action="store_true", help="print every statement's plan")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", metavar="URL", help="a database --keep left: (c) alone")
    parser.add_argument("--drop", action="store_true", help="with --reuse: drop it after")
    args = parser.parse_args()
    from tests.sync.live import bench_database_url, drop_database, scratch_database

    if args.reuse:
        url = args.reuse
    else:
        tmp = Path(tempfile.mkdtemp(prefix="sync-pull-"))
        url = scratch_database(bench_database_url(), tmp, "bench_pull")
    try:
        if not args.reuse:
            download_and_catch_up(url, tmp, args)
        for line in plans(url, args.limit, show=args.plans):
            print(line)
    finally:
        if args.keep or (args.reuse and not args.drop):
            print(f"\nkept {url}")
        else:
            drop_database(url)


def download_and_catch_up(url: str, tmp: Path, args: Any) -> None:
    """Seed the inspector's work and the district, pad the log, and time (a) and (b)."""
    from sqlalchemy import create_engine, text

    from sync.client import RequestsTransport, SyncClient
    from tests.sync.live import Server, seed

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
            t0 = time.perf_counter()
            populate_district(engine, world, args.findings)
            with engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar()
            noise(engine, max(0, args.noise - have))
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
                total = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar()
                counted = conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM findings), (SELECT count(*) FROM "
                        "inspections), (SELECT count(*) FROM enterprises), (SELECT count(*) "
                        "FROM hazards), (SELECT count(*) FROM sync_known)"
                    )
                ).one()
            print(
                f"change log                         {total:,} rows "
                f"(populating took {time.perf_counter() - t0:.1f} s)"
            )
            print(
                "district                           {:,} findings, {:,} inspections, "
                "{:,} enterprises, {:,} tickets, {:,} known rows".format(*counted)
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
        finally:
            server.stop()
    finally:
        engine.dispose()


#: The tables that grow with the district or the log: a sequential scan of one is a bad plan.
BIG_TABLES = ("sync_changes", "findings", "inspections", "enterprises", "sync_known", "hazards")

#: Changes to every n-th district finding and to 100 of the inspector's, behind the cursor
#: of (c)'s caught-up pages: each device kind has something to receive through the log.
TAIL_SQL = """
INSERT INTO sync_changes (xid, entity_type, entity_id, op, version, jurisdiction, enterprise_id,
                          inspection_id, created_at)
SELECT pg_current_xact_id()::text::bigint, 'finding', f.id, 'put', f.version,
       i.jurisdiction_code, i.enterprise_id, i.id, now()
FROM findings AS f JOIN inspections AS i ON i.id = f.inspection_id
WHERE f.id IN (SELECT md5('bench-f' || g)::uuid
               FROM generate_series(1, :findings, greatest(1, :findings / 2000)) AS g)
   OR f.id IN (SELECT f2.id FROM findings AS f2
               JOIN inspection_inspectors AS t ON t.inspection_id = f2.inspection_id
               WHERE t.user_id = :inspector ORDER BY f2.id LIMIT 100)
"""

STAFF_SQL = """
INSERT INTO users (id, username, password_hash, name, role, jurisdiction_code, conflicts, active,
                   created_at, version)
VALUES (md5(:username)::uuid, :username, '!', :username, :role, :jurisdiction, '[]', true, now(), 1)
ON CONFLICT (username) DO NOTHING
"""


class Recorder:
    """Every statement run on an engine while recording: (sql, parameters, many, ms)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.on = False
        self.statements: list[tuple[str, Any, bool, float]] = []
        self._t0 = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        self._t0 = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        if self.on:
            self.statements.append((sql, params, many, (time.perf_counter() - self._t0) * 1000))

    def start(self) -> None:
        self.statements = []
        self.on = True

    def stop(self) -> list[tuple[str, Any, bool, float]]:
        self.on = False
        return self.statements


def plans(url: str, limit: int, *, show: bool) -> list[str]:
    """(c): each device kind's pull page, fresh and caught up, statement by statement."""
    from sqlalchemy import func, insert, select, text

    from app import create_app
    from app.changelog import SYNC_TABLES
    from app.db import session
    from app.org.models import User
    from app.sync import services
    from app.sync.scope import UserScope
    from sync.cursor import Cursor, Position, load_state

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 32})
    engine = app.extensions["db"].engine
    out: list[str] = []
    with app.app_context():
        inspector = session.scalar(
            select(User.id).where(
                User.username.like("bench-%"),
                User.username.not_like("bench-other-%"),
                User.role == "inspector",
            )
        )
        findings = session.scalar(select(func.count()).select_from(text("findings")))
        changes = session.scalar(select(func.count()).select_from(text("sync_changes")))
        devices = {"inspector (own work)": inspector}
        for name, role, where in (
            ("bench-supervisor", "supervisor", "huayanglu"),
            ("bench-coordinator", "coordinator", app.config["DISTRICT_CODE"]),
        ):
            session.execute(
                text(STAFF_SQL), {"username": name, "role": role, "jurisdiction": where}
            )
            devices[f"{role} ({where})"] = session.scalar(
                select(User.id).where(User.username == name)
            )
        session.commit()
        c = SYNC_TABLES.changes.c
        top = session.execute(select(c.xid, c.id).order_by(c.xid.desc(), c.id.desc())).first()
        assert top is not None
        position = Position(int(top.xid), int(top.id))
        session.execute(text(TAIL_SQL), {"findings": findings, "inspector": inspector})
        session.commit()
        settle(engine)
        out.append(
            f"\n(c) one pull page per device kind at {changes:,} change rows, {findings:,} "
            f"findings (limit {limit})"
        )
        # Caught up: each device holds all it sees (its known set, analysed as a database that
        # has served its devices a while is), its cursor just behind the tail.
        known = SYNC_TABLES.known
        now = datetime.now(UTC)
        clients = {kind: uuid.uuid4() for kind in devices}
        sizes: dict[str, dict[str, int]] = {}
        for kind, user_id in devices.items():
            user = session.get(User, user_id)
            assert user is not None
            scope = UserScope(session, user, now)
            sizes[kind] = {}
            for t in scope.types:
                vis = scope.visible(t).subquery()
                session.execute(
                    insert(known).from_select(
                        ["client_id", "entity_type", "entity_id", "gen_added"],
                        select(
                            literal_uuid(clients[kind]), literal_str(t), vis.c[0], literal_int(1)
                        ),
                    )
                )
            k = known.c
            counted = session.execute(
                select(k.entity_type, func.count())
                .where(k.client_id == clients[kind])
                .group_by(k.entity_type)
            ).all()
            sizes[kind] = {t: int(n) for t, n in counted}
        state = load_state(session, SYNC_TABLES, now)
        session.commit()
        with engine.connect() as conn:
            conn.execute(text("ANALYZE sync_known"))
            conn.commit()
        recorder = Recorder(engine)
        try:
            for kind, user_id in devices.items():
                user = session.get(User, user_id)
                assert user is not None
                out.append(
                    f"\n== {kind}: sees " + ", ".join(f"{n:,} {t}" for t, n in sizes[kind].items())
                )
                bind = f"{clients[kind]}:{user.id}"
                # The cursor of a device whose last page completed a reconcile carries its
                # scope's fingerprint; while that holds, a page reads the log alone. Without
                # it (the scope moved: a team change, a dispatch time passed), the page
                # reconciles everything the device sees against everything it holds.
                fingerprint = UserScope(session, user, now).fingerprint()
                codec = services.cursor_codec()
                moved = codec.encode(Cursor(state.epoch, position, now, 1, bind, 0))
                held = codec.encode(
                    Cursor(state.epoch, position, now, 1, bind, 0, scope=fingerprint)
                )
                for page, cursor, cid in (
                    ("fresh (first page)", None, uuid.uuid4()),
                    ("caught up, its scope moved (reconcile)", moved, clients[kind]),
                    ("caught up", held, clients[kind]),
                ):
                    recorder.start()
                    try:
                        with app.test_request_context():
                            body = services.pull(user, cid, cursor, limit, now=now)
                    finally:
                        statements = recorder.stop()
                        session.rollback()
                    out.append(f"-- {page}: {len(body['changes'])} changes")
                    out.extend(explain_all(engine, statements, show=show))
            out.append(
                "\n(d) every page of a staff device's whole reconcile: a full download, and the "
                "pages after its scope moved (database time of each page, as the statements "
                "took it in the driver)"
            )
            for kind, user_id in devices.items():
                if kind.startswith("inspector"):
                    continue
                user = session.get(User, user_id)
                assert user is not None
                bind = f"{clients[kind]}:{user.id}"
                codec = services.cursor_codec()
                moved = codec.encode(Cursor(state.epoch, position, now, 1, bind, 0))
                fresh = uuid.uuid4()
                clients[f"{kind} fresh"] = fresh
                for what, cursor, cid, pages in (
                    ("full download", None, fresh, 40),
                    ("after its scope moved", moved, clients[kind], 1000),
                ):
                    times, sent = [], 0
                    for _ in range(pages):
                        # A collection of this process's large heap would land in whichever
                        # statement was running (175-200 ms seen): collect between pages.
                        gc.collect()
                        gc.disable()
                        recorder.start()
                        try:
                            with app.test_request_context():
                                body = services.pull(user, cid, cursor, limit, now=now)
                            session.commit()
                        finally:
                            statements = recorder.stop()
                            gc.enable()
                        times.append(sum(ms for *_rest, ms in statements))
                        if times[-1] == max(times):
                            dearest_statements = sorted(statements, key=lambda st: -st[3])[:3]
                        sent += len(body["changes"])
                        cursor = body["cursor"]
                        if not body["has_more"]:
                            break
                    dearest = max(range(len(times)), key=times.__getitem__) + 1
                    times.sort()
                    cut = "" if not body["has_more"] else f" (the first {pages})"
                    out.append(
                        f"-- {kind}, {what}: {len(times)} pages{cut}, {sent:,} changes; "
                        f"database time a page: median {statistics.median(times):.1f} ms, "
                        f"p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms, "
                        f"max {times[-1]:.1f} ms (page {dearest})"
                    )
                    for sql, _params, _many, ms in dearest_statements:
                        out.append(f"     {ms:7.1f} ms  {' '.join(sql.split())[:150]}")
        finally:
            session.execute(known.delete().where(known.c.client_id.in_(list(clients.values()))))
            session.commit()
    engine.dispose()
    return out


def literal_uuid(value: uuid.UUID) -> Any:
    from sqlalchemy import Uuid, literal

    return literal(value, Uuid())


def literal_str(value: str) -> Any:
    from sqlalchemy import String, literal

    return literal(value, String())


def literal_int(value: int) -> Any:
    from sqlalchemy import BigInteger, literal

    return literal(value, BigInteger())


def explain_all(
    engine: Any, statements: list[tuple[str, Any, bool, float]], *, show: bool
) -> list[str]:
    """Re-run a page's statements in order under EXPLAIN (ANALYZE, BUFFERS), rolled back."""
    import re

    out: list[str] = []
    total_exec = total_plan = total_wall = 0.0
    total_buffers = 0
    seq_big: list[str] = []
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin() as tx:
            for n, (sql, params, many, wall) in enumerate(statements, 1):
                total_wall += wall
                head = " ".join(sql.split())[:110]
                if not re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)", sql, re.I):
                    out.append(f"  {n:2d}. {wall:6.2f} ms wall  {head}")
                    continue
                first = params[0] if many and params else params
                t0 = time.perf_counter()
                lines = list(
                    conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, first).scalars()
                )
                times = {
                    m.group(1): float(m.group(2))
                    for line in lines
                    if (m := re.match(r"\s*(Planning|Execution) Time: ([\d.]+) ms", line))
                }
                execution = times.get("Execution", 0.0)
                planning = times.get("Planning", 0.0)
                buffers = next(
                    (
                        sum(int(x) for x in re.findall(r"(?:hit|read)=(\d+)", line))
                        for line in lines
                        if "Buffers:" in line
                    ),
                    0,
                )
                total_buffers += buffers
                many_note = ""
                if many and len(params) > 1:
                    # An executemany (the known set's upsert): the rest run as the pull ran them,
                    # and the batch counts at its time in the driver, round trips included.
                    conn.exec_driver_sql(sql, params[1:])
                    execution = (time.perf_counter() - t0) * 1000
                    planning = 0.0
                    many_note = f" (executemany of {len(params)} rows, timed in the driver)"
                total_exec += execution
                total_plan += planning
                # a scan the plan holds but never ran (a part after a full page) read nothing
                scans = [
                    m.group(1)
                    for line in lines
                    if (m := re.search(r"Seq Scan on (\w+)", line))
                    and m.group(1) in BIG_TABLES
                    and "never executed" not in line
                ]
                seq_big += scans
                flag = f"  SEQ SCAN of {', '.join(sorted(set(scans)))}" if scans else ""
                out.append(
                    f"  {n:2d}. {wall:6.2f} ms wall, {execution:6.2f} exec + {planning:5.2f} plan, "
                    f"{buffers:6d} buffers{flag}  {head}{many_note}"
                )
                if show:
                    out.extend(f"        {line}" for line in lines)
            tx.rollback()
    out.append(
        f"  page: {len(statements)} statements, {total_wall:.1f} ms wall in the driver, "
        f"{total_exec:.1f} ms execution + {total_plan:.1f} ms planning (EXPLAIN ANALYZE) = "
        f"{total_exec + total_plan:.1f} ms of database time, {total_buffers:,} buffers"
        + (f"; sequential scans of {sorted(set(seq_big))}" if seq_big else "; no sequential scan")
    )
    return out


if __name__ == "__main__":
    main()
