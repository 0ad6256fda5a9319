"""Fixtures for the hazard tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hazards.helpers import Clock, World


@pytest.fixture
def clock(app: Any) -> Clock:
    """Freeze the app's clock at T0 (advance it by hand)."""
    c = Clock()
    app.config["CLOCK"] = c
    app.config["ACCESS_TOKEN_TTL"] = 400 * 24 * 3600  # tokens outlive the days the tests skip
    return c


@pytest.fixture
def world(app: Any, client: Any, make: Any, login: Any, clock: Clock) -> World:
    """The enterprise and the cast of users."""
    return World(app, client, make, login)


@pytest.fixture
def committed_app(tmp_path: Any, database_url: str) -> Any:
    """An app whose requests and jobs really commit, on a database of its own.

    Concurrency needs real transactions on separate connections, which the rolled-back test
    transaction cannot give. On PostgreSQL the tables live in a throwaway schema of the test
    database (dropped afterwards); on SQLite, in a file of their own.
    """
    import uuid

    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from app import create_app
    from app.db import Database, make_engine
    from app.models import metadata
    from tests.conftest import FAST_ARGON2

    if database_url.startswith("postgresql"):
        schema = f"hz_{uuid.uuid4().hex[:10]}"
        base = make_engine(database_url)
        with base.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        base.dispose()
        sep = "&" if "?" in database_url else "?"
        url = f"{database_url}{sep}options=-csearch_path%3D{schema}"
    else:
        schema = None
        url = f"sqlite:///{tmp_path / 'committed.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)

    class _Db(Database):
        def __init__(self) -> None:
            self.engine = engine
            self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)

    app = create_app(
        {
            "TESTING": True,
            "DATABASE": _Db(),
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret",
            "ARGON2_PARAMS": FAST_ARGON2,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "MEDIA_SPOOL": str(tmp_path / "spool"),
        }
    )
    with app.app_context():
        from app.db import session
        from app.demo.org import load_org

        load_org()
        session.commit()
    app.config["TEST_URL"] = url
    yield app
    engine.dispose()
    if schema:
        base = make_engine(database_url)
        with base.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()
