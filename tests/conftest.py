"""Test fixtures: one database per run, one rolled-back transaction per test, a fresh app per test.

SQLite (a file under pytest's tmp dir) by default; PostgreSQL when TEST_DATABASE_URL is set.
Test clients ask for English (``Accept-Language: en``), the language the assertions are written
in; the tests of the languages themselves (tests/test_i18n_http.py) send their own header.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import create_app
from app.clock import utcnow
from app.db import Database, make_engine
from app.i18n import TRANSLATIONS
from app.models import metadata

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

# No timing assertions: Hypothesis's per-example deadline (200 ms) fails a property test on a
# loaded machine however correct the code is; the examples' count still bounds the run.
settings.register_profile("fieldsafe", deadline=None)
settings.load_profile("fieldsafe")
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


def is_postgres() -> bool:
    """Tell whether the suite runs on PostgreSQL."""
    return bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


requires_postgres = pytest.mark.skipif(
    not is_postgres(), reason="needs TEST_DATABASE_URL (PostgreSQL)"
)


class EnglishClient(FlaskClient):
    """A test client whose requests say ``Accept-Language: en`` unless they name a language."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture(autouse=True)
def _english_test_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every app's test_client() asks for English (the language of the assertions), and so does
    the terminal of every fieldsafe command a test runs (app.i18n.terminal_language)."""
    monkeypatch.setattr(Flask, "test_client_class", EnglishClient)
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    """Compile each catalog whose .mo is missing or older than its .po, as make translations does,
    so that a plain ``pytest`` tests the texts the .po holds."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        with mo.open("wb") as target:
            write_mo(target, catalog)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of the run's test database."""
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Create the schema once for the run (dropping what a previous run left)."""
    eng = make_engine(database_url)
    metadata.drop_all(eng)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


class TestDatabase(Database):
    """A Database whose sessions all join one connection's outer, rolled-back transaction."""

    def __init__(self, engine: Engine, connection: Any) -> None:
        self.engine = engine
        self.connection = connection
        self.sessionmaker = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )


@pytest.fixture
def test_db(engine: Engine) -> Iterator[TestDatabase]:
    """Open the per-test connection and transaction; roll it back afterwards."""
    conn = engine.connect()
    trans = conn.begin()
    yield TestDatabase(engine, conn)
    trans.rollback()
    conn.close()


def make_test_app(test_db: TestDatabase, tmp_path: Any, **overrides: Any) -> Flask:
    """Create an app bound to the test transaction, with fast password hashing."""
    config: dict[str, Any] = {
        "TESTING": True,
        "DATABASE": test_db,
        "DATABASE_URL": str(test_db.engine.url.render_as_string(hide_password=False)),
        "SECRET_KEY": "test-secret",
        "ARGON2_PARAMS": FAST_ARGON2,
        # Tests log in far more often than people; tests/auth/test_limits.py checks the real limits.
        "LOGIN_ACCOUNT_FAILURE_LIMIT": "1000 per minute",
        "LOGIN_ADDRESS_FAILURE_LIMIT": "1000 per minute",
        "LOGIN_ADDRESS_LIMIT": "1000 per minute",
        "REFRESH_FAMILY_LIMIT": "1000 per minute",
        "REFRESH_ADDRESS_FAILURE_LIMIT": "1000 per minute",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "MEDIA_SPOOL": str(tmp_path / "spool"),
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(test_db: TestDatabase, tmp_path: Any) -> Flask:
    """A fresh app per test, on the rolled-back transaction, with the demo org loaded."""
    app = make_test_app(test_db, tmp_path)
    with app.app_context():
        from app.db import session
        from app.demo.org import load_org

        load_org()
        session.commit()
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app's test client."""
    return app.test_client()


@pytest.fixture
def db_session(test_db: TestDatabase) -> Iterator[Session]:
    """A session on the test transaction for arranging and checking data (commit after writes)."""
    sess = test_db.sessionmaker()
    yield sess
    sess.close()


@pytest.fixture
def login(app: Flask) -> Callable[..., dict[str, str]]:
    """Return a function giving Authorization headers for a user (by object or username)."""

    def _login(user: Any) -> dict[str, str]:
        from sqlalchemy import select

        from app.auth.services import issue_tokens
        from app.db import session
        from app.org.models import User

        with app.app_context():
            if isinstance(user, str):
                user = session.execute(select(User).where(User.username == user)).scalar_one()
            else:
                user = session.get(User, user.id)
            pair = issue_tokens(user, "pytest", now=utcnow())
            session.commit()
        return {"Authorization": f"Bearer {pair['access_token']}"}

    return _login


@pytest.fixture
def make(app: Flask) -> Any:
    """The factories of tests/factories.py, bound to this test's app."""
    from tests.factories import Factories

    return Factories(app)


class QueryRecorder:
    """The SQL statements run on the test database while recording (Warehouse's query recorder)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self._on = False

    def _listen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._on and not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            self.statements.append(statement)

    def __enter__(self) -> QueryRecorder:
        self.statements = []
        self._on = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._on = False

    @property
    def count(self) -> int:
        """How many statements ran (savepoints not counted)."""
        return len(self.statements)


@pytest.fixture
def queries(test_db: TestDatabase) -> Iterator[QueryRecorder]:
    """Record the statements a block runs: ``with queries: ...``, then read ``queries.count``."""
    from sqlalchemy import event

    recorder = QueryRecorder(test_db.engine)
    event.listen(test_db.engine, "before_cursor_execute", recorder._listen)
    yield recorder
    event.remove(test_db.engine, "before_cursor_execute", recorder._listen)
