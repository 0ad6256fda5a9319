"""Run the real app on a loopback port for clients that speak HTTP (tuspy, requests, raw sockets).

The per-test rolled-back transaction of tests/conftest.py cannot be shared with a server
thread, so a live server gets its own file-based SQLite database with ``create_all``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.clock import utcnow
from app.db import make_engine
from app.models import metadata

FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@dataclass
class LiveServer:
    """One API process reachable over HTTP."""

    app: Flask
    url: str
    server: BaseWSGIServer
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str = "uploader") -> dict[str, str]:
        """Authorization headers of a user created by :func:`live_servers`."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def make_live_app(root: Path, storage: Any = None, **overrides: Any) -> Flask:
    """Create an app on a file SQLite database and media folders under ``root``."""
    config: dict[str, Any] = {
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{root / 'live.db'}",
        "SECRET_KEY": "live-secret",
        "ARGON2_PARAMS": FAST_ARGON2,
        "MEDIA_ROOT": str(root / "media"),
        "MEDIA_SPOOL": str(root / "spool"),
    }
    config.update(overrides)
    app = create_app(config)
    if storage is not None:
        app.extensions["storage"] = storage
    return app


def prepare_database(app: Flask, usernames: tuple[str, ...] = ("uploader", "other")) -> dict:
    """Create the schema, the demo org and users; return each user's access token."""
    engine = make_engine(app.config["DATABASE_URL"])
    metadata.create_all(engine)
    engine.dispose()
    tokens = {}
    with app.app_context():
        from app.auth.services import hash_password, issue_tokens
        from app.db import session
        from app.demo.org import load_org
        from app.org.models import User

        load_org()
        for name in usernames:
            user = User(
                username=name,
                password_hash=hash_password("password-123"),
                role="inspector",
                jurisdiction_code="huayanglu",
                name=name,
                conflicts=[],
            )
            session.add(user)
            session.flush()
            tokens[name] = issue_tokens(user, "live-test", now=utcnow())["access_token"]
        session.commit()
    return tokens


@contextmanager
def serve(app: Flask) -> Iterator[LiveServer]:
    """Serve ``app`` with werkzeug's threaded server on 127.0.0.1 and a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield LiveServer(app=app, url=f"http://{host}:{port}", server=server, thread=thread)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        from app.db import Database

        db = app.extensions.get("db")
        if isinstance(db, Database):
            db.engine.dispose()
