"""The login limits hold across gunicorn workers: the counters are in Redis, not in a worker.

With ``memory://`` each of the three workers would keep its own count, letting three times the
failures through; with Redis they share one.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from app import create_app
from app.audit.services import record
from app.auth.services import hash_password
from app.db import session
from app.demo import load_org
from app.models import metadata
from app.org.models import User
from tests.servers import gunicorn
from tests.sync.live import drop_database, scratch_database

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
WORKERS = 3


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is unreachable at {REDIS_URL} ({exc}); set TEST_REDIS_URL")


def _seed(url: str, usernames: list[str]) -> str:
    """Create the schema and the users (password 'password-123'); return the secret key."""
    secret = secrets.token_hex(16)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret, "TESTING": True})
    with app.app_context():
        metadata.create_all(app.extensions["db"].engine)
        load_org()
        for name in usernames:
            user = User(
                username=name,
                password_hash=hash_password("password-123"),
                role="inspector",
                jurisdiction_code="huayanglu",
                department_code="emergency",
                conflicts=[],
            )
            session.add(user)
            session.flush()
            # As an admin's account creation would; the audit chain then has its head row
            # (the very first appends, made concurrently, race to create it).
            record("user.create", "user", user.id, {"username": name}, actor=None)
        session.commit()
    app.extensions["db"].engine.dispose()
    return secret


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """gunicorn -w 3 on a loopback port, its limits in Redis under a prefix of its own."""
    _redis_or_skip()
    url = scratch_database(os.environ.get("TEST_DATABASE_URL"), tmp_path, "limits")
    prefix = f"fieldsafe-test-{secrets.token_hex(4)}"
    access = tmp_path / "access.log"
    try:
        settings = {
            "DATABASE_URL": url,
            "SECRET_KEY": _seed(url, ["victim", "colleague"]),
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "RATELIMIT_KEY_PREFIX": prefix,
        }
        with gunicorn(tmp_path, settings, workers=WORKERS, access_log=access) as base:
            yield base, access, prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
        drop_database(url)


def _login(base: str, username: str, password: str) -> int:
    # A new connection each time, so gunicorn hands the attempts to any of its workers.
    resp = requests.post(
        base + "/api/v1/auth/token",
        json={"username": username, "password": password},
        headers={"Connection": "close"},
        timeout=60,
    )
    return resp.status_code


def test_failed_logins_are_counted_once_across_workers(server):
    base, log, _ = server
    # Three at a time, as three phones would: each worker is busy with one of them.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        codes = list(pool.map(lambda n: _login(base, "victim", f"guess-{n}"), range(30)))
    # An attempt is counted when it is answered, so up to two more can be in flight when the
    # fifth failure is recorded; per-worker counters would let fifteen or more through.
    assert 5 <= codes.count(401) <= 5 + WORKERS - 1, codes
    assert codes.count(429) == 30 - codes.count(401)
    assert _login(base, "victim", "password-123") == 429
    assert _login(base, "colleague", "password-123") == 200
    pids = set(re.findall(r"served-by <(\d+)> 401", log.read_text()))
    assert len(pids) >= 2, "the attempts did not reach more than one worker"


def test_the_counters_are_in_redis(server):
    base, _, prefix = server
    assert _login(base, "victim", "wrong") == 401
    keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(f"*{prefix}*"))
    assert any(b"account:victim" in key for key in keys), keys
