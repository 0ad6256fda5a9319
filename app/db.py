"""Database plumbing: the declarative base, column types, and the per-request session."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Index,
    Interval,
    MetaData,
    Select,
    Text,
    cast,
    create_engine,
    event,
    false,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from werkzeug.local import LocalProxy

from app.clock import CHINA_TZ
from app.errors import DomainError
from app.i18n import _
from sync.models import UTCDateTime as SyncUTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(SyncUTCDateTime):
    """A timestamp with time zone, in and out as aware UTC: the sync engine's type, with the
    error a time outside the stored range gets at this application's boundary."""

    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        try:
            return super().process_bind_param(value, dialect)  # type: ignore[no-any-return]
        except OverflowError:
            # e.g. 0001-01-01T00:00:00+14:00 is a valid RFC 3339 time, but not in UTC.
            raise DomainError(
                "validation_error",
                422,
                _(
                    "The time %(time)s is outside the range this server stores.",
                    time=value.isoformat() if value else value,
                ),
            ) from None


def new_id() -> uuid.UUID:
    """Return a new random UUID for a primary key."""
    return uuid.uuid4()


#: A pooled connection idle this long is pinged before it is used again (see make_engine).
PING_AFTER_IDLE_SECONDS = 5.0


def make_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> Engine:
    """Create the engine for `url`; SQLite gets foreign keys, WAL and a busy timeout.

    On a server database a pooled connection idle for ``ping_after_idle`` seconds is pinged
    when it is taken again, and replaced if the database dropped it meanwhile (a restart, a
    network cut, an idle timeout): the request then runs on a new one. A connection in steady
    use is not pinged (``pool_pre_ping`` would, on every request: one round trip more each).
    """
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        # psycopg prepares a statement run five times on a connection, and PostgreSQL then
        # switches it to a generic plan when that looks no dearer; for the pull's scope queries
        # a generic plan is a nested loop that turns 24 ms into seconds. Every
        # statement is planned for its own parameters instead: a planning cost of well under a
        # millisecond against a plan that cannot go bad with the data.
        # (Added to any ``options`` the URL itself gives, such as a search_path.)
        given = make_url(url).query.get("options") or ""
        given = given if isinstance(given, str) else " ".join(given)
        kwargs["connect_args"] = {
            "options": f"{given} -c plan_cache_mode=force_custom_plan".strip()
        }
    engine = create_engine(url, json_serializer=_json_text, **kwargs)
    _time_statements(engine)
    if engine.dialect.name != "sqlite":
        _ping_after_idle(engine, ping_after_idle)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; take it over so that
            # SAVEPOINT and "BEGIN IMMEDIATE" behave as on a real database.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers serialise at BEGIN, not at first write: commit order is id order.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class JSONArrayText(list[Any]):
    """A list that a JSON column stores as the text it was already serialised to.

    For a large value serialised anyway (the 双随机 draw's frozen records, whose canonical JSON
    is what their digest is taken of): the column stores that text instead of serialising the
    list a second time. ``text`` must be the list's JSON; neither changes afterwards.
    """

    __slots__ = ("text",)

    def __init__(self, items: Iterable[Any], text: str) -> None:
        super().__init__(items)
        self.text = text


def _json_text(value: Any) -> str:
    """The engine's JSON serialiser: :class:`JSONArrayText` as given, anything else by json."""
    if isinstance(value, JSONArrayText):
        return value.text
    return json.dumps(value)


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    """Ping a connection taken from the pool after ``seconds`` or more idle in it; if the ping
    fails, the pool discards it and connects anew (``DisconnectionError``, up to three times)."""

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < seconds:
            return  # a new connection, or one in steady use
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError() from exc


def _time_statements(engine: Engine) -> None:
    """Add up, per request, how long its statements took in the database and how many ran.

    ``g.db_seconds`` and ``g.db_statements``, answered as the ``Server-Timing`` header
    (:func:`server_timing`): the time from sending each statement to its answer, as the worker
    waits for it (the database's work, the round trip, and any wait for a lock or a CPU).
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _sent(conn: Any, _cursor: Any, _stmt: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        conn.info["statement_sent"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _answered(conn: Any, _cursor: Any, _stmt: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        if has_request_context():
            took = time.perf_counter() - conn.info.pop("statement_sent", time.perf_counter())
            here = g._get_current_object()  # one lookup of the context, not four
            here.db_seconds = here.get("db_seconds", 0.0) + took
            here.db_statements = here.get("db_statements", 0) + 1


def server_timing() -> str | None:
    """The request's ``Server-Timing`` value (its statements' database time), if it ran any."""
    if not g.get("db_statements"):
        return None
    return f'db;dur={g.db_seconds * 1000:.1f};desc="{g.db_statements} statements"'


class Database:
    """The engine and session factory bound to one app (kept in app.extensions["db"])."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def new_session(self) -> Session:
        """Open a session outside a request (CLI, worker)."""
        return self.sessionmaker()


def get_db() -> Database:
    """Return the current app's database."""
    return current_app.extensions["db"]


def get_session() -> Session:
    """Return the session of the current request or app context, opening it on first use."""
    if not has_app_context():
        raise RuntimeError("no app context: use Database.new_session() outside requests")
    here = g._get_current_object()  # every use of ``session`` comes here: look the context up once
    found: Session | None = here.get("db_session")
    if found is None:
        found = here.db_session = get_db().sessionmaker()
    return found


def close_session(exc: BaseException | None = None) -> None:
    """Close the context's session; anything not committed is rolled back."""
    sess = g.pop("db_session", None)
    if sess is not None:
        sess.close()


session: Session = LocalProxy(get_session)  # type: ignore[assignment]

_Stmt = TypeVar("_Stmt", bound=Select[Any])


def for_update(stmt: _Stmt) -> _Stmt:
    """Make `stmt` the read a write follows: lock its entity's rows and refresh them.

    ``SELECT … FOR UPDATE OF`` the statement's first entity holds those rows against every
    other writer until the transaction ends (a second writer waits here, then reads what the
    first committed), and ``populate_existing`` overwrites what the session already held, so
    a version checked on the result (an If-Match, a state) is the one this write replaces.
    SQLite has no row locks: its writers serialise at BEGIN IMMEDIATE (see make_engine).
    """
    entity = stmt.column_descriptions[0]["entity"]
    return stmt.with_for_update(of=entity).execution_options(populate_existing=True)


def next_in_counter(model: type[Any], **key: Any) -> int:
    """Take the next value of the counter row ``model(**key)`` (its ``last`` + 1), gapless.

    The row is locked ``FOR UPDATE`` inside the caller's transaction (created first if it is
    missing; a concurrent creator wins and its row is locked instead), so concurrent takers
    queue, and a rolled-back transaction rolls its number back with it: no gap, no duplicate.
    """
    lock = for_update(select(model).filter_by(**key))
    counter = session.execute(lock).scalar_one_or_none()
    if counter is None:
        try:
            with session.begin_nested():
                session.add(model(**key, last=0))
                session.flush()
        except IntegrityError:
            pass  # another transaction created the row first; lock theirs
        counter = session.execute(lock).scalar_one()
    counter.last += 1
    session.flush()
    return int(counter.last)


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Yield consecutive slices of `items` of at most `size` elements."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------- photo references
#
# Findings, tickets and ticket events keep their evidence as a JSON list of SHA-256 digests.
# "Which records cite this photo?" is asked on every photo view; on PostgreSQL a GIN index
# over the list as JSONB answers it without reading every row.


def photos_index(table: str) -> Index:
    """The GIN index over ``table.photos`` on PostgreSQL; :func:`cites_photo` uses it."""
    return Index(
        f"ix_{table}_photos", text("(CAST(photos AS JSONB))"), postgresql_using="gin"
    ).ddl_if(dialect="postgresql")


def on_postgresql() -> bool:
    """Tell whether the request's session is on PostgreSQL (else the embedded SQLite)."""
    return bool(session.get_bind().dialect.name == "postgresql")


def uuid_text(column: Any) -> ColumnElement[str]:
    """SQL: a UUID column as its text, as ``str(uuid.UUID)`` writes it (lower-case, hyphens).

    For a large read that wants the text anyway: the database formats it, Python parses no UUID.
    """
    if on_postgresql():
        return cast(column, Text)
    # SQLAlchemy keeps a UUID on SQLite as its 32 lower-case hex digits.
    parts = [
        func.substr(column, start, n) for start, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    ]
    return func.printf("%s-%s-%s-%s-%s", *parts, type_=Text)


def china_date_text(column: Any) -> ColumnElement[str]:
    """SQL: the date in China (``app.clock.CHINA_TZ``) at a UTC timestamp column, as
    ``YYYY-MM-DD`` (``china_today(value).isoformat()`` in Python); NULL stays NULL."""
    offset = CHINA_TZ.utcoffset(None)
    if on_postgresql():
        # UTC wall time, shifted by China's fixed offset (no zone name, no sign convention).
        shifted = func.timezone("UTC", column, type_=DateTime) + literal(offset, Interval)
        return func.to_char(shifted, "YYYY-MM-DD", type_=Text)
    # SQLite keeps UTC timestamps as text (``YYYY-MM-DD HH:MM:SS.ffffff``); its date functions
    # take a fixed shift, and round fractions to milliseconds (23:59:59.9999 would be the next
    # day), so the whole seconds alone are shifted.
    seconds = func.substr(column, 1, 19)
    return func.strftime("%Y-%m-%d", seconds, f"{int(offset.total_seconds())} seconds", type_=Text)


def cites_photo(column: Any, sha256: str) -> ColumnElement[bool]:
    """SQL: the JSON list of digests in ``column`` holds ``sha256``.

    PostgreSQL: ``CAST(photos AS JSONB) @> '["…"]'``, the expression :func:`photos_index`
    indexes. Elsewhere (the embedded SQLite): a text search of the list.
    """
    if on_postgresql():
        return cast(column, JSONB).op("@>")(cast(literal(json.dumps([sha256]), Text), JSONB))
    # a digest is hex: no LIKE wildcards to escape
    return cast(column, Text).contains(f'"{sha256}"')


def cites_any_photo(column: Any, sha256s: Iterable[str]) -> ColumnElement[bool]:
    """SQL: the JSON list of digests in ``column`` holds at least one of ``sha256s``.

    PostgreSQL: ``CAST(photos AS JSONB) ?| ARRAY[…]``, through :func:`photos_index`.
    """
    wanted = sorted(set(sha256s))
    if on_postgresql():
        return cast(column, JSONB).has_any(array(wanted))
    return or_(false(), *(cites_photo(column, sha) for sha in wanted))
