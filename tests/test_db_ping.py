"""A pooled connection the database dropped while it sat idle is replaced, not failed on; one in
steady use is not pinged (app.db.make_engine)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import make_engine
from tests.conftest import requires_postgres

pytestmark = requires_postgres


def _backend(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _drop(admin: Any, pid: int) -> None:
    """Terminate the backend ``pid`` as a restart or an idle timeout would, and wait for it."""
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()


def _pings(engine: Any) -> list[int]:
    """Count the ping statements the pool sends (the dialect's ``do_ping``)."""
    seen: list[int] = []
    real = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        seen.append(1)
        return bool(real(dbapi_conn))

    engine.dialect.do_ping = counting
    return seen


def test_a_connection_dropped_while_idle_is_replaced(database_url: str) -> None:
    engine = make_engine(database_url, ping_after_idle=0)
    admin = make_engine(database_url)
    try:
        pings = _pings(engine)
        first = _backend(engine)
        _drop(admin, first)
        # The pooled connection is dead; the ping on taking it finds out, and the pool connects
        # anew: the statement runs, on another backend.
        second = _backend(engine)
        assert second != first
        assert pings == [1]
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_in_steady_use_is_not_pinged(database_url: str) -> None:
    engine = make_engine(database_url, ping_after_idle=3600)
    admin = make_engine(database_url)
    try:
        pings = _pings(engine)
        backends = {_backend(engine) for _ in range(5)}
        assert len(backends) == 1 and pings == []
        # Without the ping, a connection dropped a moment ago fails its statement, and the pool
        # is renewed: the window is an idle time below PING_AFTER_IDLE_SECONDS.
        [used] = backends
        _drop(admin, used)
        with pytest.raises(OperationalError):
            _backend(engine)
        assert _backend(engine) != used
    finally:
        engine.dispose()
        admin.dispose()


def test_a_request_on_a_dropped_connection_answers_503_and_the_next_one_works(
    database_url: str, tmp_path: Any
) -> None:
    """The window without a ping: a request whose connection the database dropped a moment ago
    is answered 503 ``server.unavailable`` with Retry-After (nothing was kept), not 500; the pool
    reconnects for the next one."""
    from app import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "MEDIA_SPOOL": str(tmp_path / "spool"),
        }
    )
    engine = app.extensions["db"].engine
    admin = make_engine(database_url)
    client = app.test_client()
    token = {"Authorization": "Bearer not-a-token"}  # the token's lookup is the first statement
    try:
        assert client.get("/api/v1/me", headers=token).status_code == 401
        _drop(admin, _backend(engine))
        resp = client.get("/api/v1/me", headers=token)
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.json["code"] == "server.unavailable"
        assert resp.headers["Retry-After"] == "1"
        assert client.get("/api/v1/me", headers=token).status_code == 401
    finally:
        engine.dispose()
        admin.dispose()
