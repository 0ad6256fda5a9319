"""A real Fieldsafe server process on a free loopback port, with its own database.

Used by the crash test and the benches: gunicorn serves ``app:create_app()``; the
database is created and seeded in-process (``create_all`` — this is test setup, the app
itself only ever migrates).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_database_url() -> str:
    """The PostgreSQL server a bench makes its scratch database on, or exit saying how to set it."""
    base = os.environ.get("FIELDSAFE_BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        sys.exit("set TEST_DATABASE_URL to a PostgreSQL URL (any database; a scratch one is made)")
    return base


def scratch_database(base_url: str | None, tmp: Path, name: str) -> str:
    """Create an empty database for a server: a new PostgreSQL database, or a SQLite file."""
    if base_url and base_url.startswith("postgresql"):
        url = make_url(base_url)
        dbname = f"fs_{name}_{secrets.token_hex(4)}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        admin.dispose()
        return url.set(database=dbname).render_as_string(hide_password=False)
    return f"sqlite:///{tmp / f'{name}.db'}"


def drop_database(url: str) -> None:
    """Drop a database made by :func:`scratch_database` (PostgreSQL only)."""
    if not url.startswith("postgresql"):
        return
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :d AND pid <> pg_backend_pid()"
            ),
            {"d": parsed.database},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
    admin.dispose()


@dataclass
class World:
    """What the seeding made: ids and bearer tokens."""

    url: str
    secret: str
    inspections: list[uuid.UUID]
    enterprise_id: uuid.UUID
    inspector_id: uuid.UUID
    token: str
    item_codes: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def add_inspector_with_work(
    username: str,
    password_hash: str,
    inspections: int,
    *,
    industry: str = "gas_catering",
    enterprise_name: str = "压测餐饮店",
    address: str = "长宁路1号",
    gen: Any = None,
) -> tuple[Any, Any, list[uuid.UUID]]:
    """In the app context: an enterprise of huayanglu, an inspector, and that many dispatched
    routine inspections of theirs (in the feed); return (enterprise, user, inspection ids)."""
    import random

    from app.changelog import record_change
    from app.clock import utcnow
    from app.db import session
    from app.inspections.services import new_inspection
    from app.org.models import User
    from app.registry.models import Enterprise
    from app.registry.uscc import make_uscc

    ent = Enterprise(
        name=enterprise_name,
        uscc=make_uscc(gen or random.Random()),
        industry=industry,
        jurisdiction_code="huayanglu",
        address=address,
        lat=31.2195,
        lon=121.4265,
    )
    user = User(
        username=username,
        password_hash=password_hash,
        role="inspector",
        jurisdiction_code="huayanglu",
        department_code="emergency",
        conflicts=[],
    )
    session.add_all([ent, user])
    session.flush()
    ids = []
    for _ in range(inspections):
        insp = new_inspection(
            type="routine",
            enterprise=ent,
            industry=industry,
            planner_id=None,
            inspector_ids=[user.id],
            window_start=None,
            window_end=None,
            dispatch_at=None,
            checklist_version=None,
            now=utcnow(),
        )
        session.flush()
        record_change("inspection", insp, "put")
        ids.append(insp.id)
    return ent, user, ids


def seed(url: str, inspections: int = 2, industry: str = "gas_catering") -> World:
    """Create the schema and a team with dispatched inspections, all committed."""
    from app import create_app
    from app.auth.services import hash_password, issue_tokens
    from app.checklists.services import get_checklist, load_library
    from app.clock import utcnow
    from app.db import session
    from app.demo.org import load_org
    from app.models import metadata

    secret = secrets.token_hex(16)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret, "TESTING": True})
    with app.app_context():
        engine = app.extensions["db"].engine
        metadata.create_all(engine)
        load_org()
        load_library(now=utcnow())
        ent, user, ids = add_inspector_with_work(
            f"bench-{secrets.token_hex(3)}",
            hash_password("password-123"),
            inspections,
            industry=industry,
        )
        token = issue_tokens(user, "live", now=utcnow())["access_token"]
        # Items a device answers pass/fail; those with a unit also need a measured value.
        codes = [i["code"] for i in get_checklist(industry).content["items"] if not i.get("unit")]
        session.commit()
        world = World(url, secret, ids, ent.id, user.id, token, codes)
    app.extensions["db"].engine.dispose()
    return world


class Server:
    """``gunicorn app:create_app()`` on a free port; SIGKILL-able and restartable."""

    def __init__(self, world: World, tmp: Path, workers: int = 1, port: int | None = None) -> None:
        self.world = world
        self.tmp = tmp
        self.workers = workers
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        """Start gunicorn and wait until /healthz answers."""
        import requests

        env = dict(os.environ)
        env.update(
            FIELDSAFE_DATABASE_URL=self.world.url,
            FIELDSAFE_SECRET_KEY=self.world.secret,
            FIELDSAFE_MEDIA_ROOT=str(self.tmp / "media"),
            FIELDSAFE_MEDIA_SPOOL=str(self.tmp / "spool"),
        )
        self.close_log()
        self.log = log = open(self.tmp / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "120",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError((self.tmp / f"server-{self.port}.log").read_text())
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL the whole server (master and workers): no cleanup, no graceful stop."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.close_log()

    def close_log(self) -> None:
        """Close the server's log file handle."""
        if self.log is not None:
            self.log.close()
            self.log = None

    def stop(self) -> None:
        """Stop the server."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.close_log()
