"""The cursor codec: signed, epoch-bound, client-bound, expiring."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, MetaData, create_engine

from sync.cursor import (
    Cursor,
    CursorCodec,
    CursorError,
    EpochState,
    Position,
    load_state,
    raise_floor,
    rotate_epoch,
)
from sync.models import make_sync_tables

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STATE = EpochState(epoch="e" * 32, floor=None)
CODEC = CursorCodec("server-secret", retention=timedelta(days=30))
TABLES = make_sync_tables(MetaData())


def cursor(**kw: object) -> Cursor:
    values: dict[str, object] = {
        "epoch": STATE.epoch,
        "position": Position(812, 40),
        "issued_at": NOW,
        "gen": 3,
        "bind": "client-1",
    }
    values.update(kw)
    return Cursor(**values)  # type: ignore[arg-type]


def decode(token: str, **kw: object) -> Cursor:
    args: dict[str, object] = {"state": STATE, "now": NOW, "bind": "client-1"}
    args.update(kw)
    return CODEC.decode(token, **args)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    original = cursor()
    assert decode(CODEC.encode(original)) == original


def test_round_trip_keeps_the_scope_fingerprint_and_a_cursor_without_one_reads_none() -> None:
    with_scope = cursor(scope="Zm9vYmFyYmF6cXV4")
    assert decode(CODEC.encode(with_scope)).scope == "Zm9vYmFyYmF6cXV4"
    # Cursors issued before the field existed have no "s": they decode, and reconcile.
    assert '"s"' not in _payload(CODEC.encode(cursor()))
    assert decode(CODEC.encode(cursor())).scope is None


def _payload(token: str) -> str:
    import base64

    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_sqlite_position_has_no_xid() -> None:
    original = cursor(position=Position(None, 7))
    assert decode(CODEC.encode(original)).position == Position(None, 7)


def test_tampered_payload_is_forged() -> None:
    token = CODEC.encode(cursor())
    prefix, body, sig = token.split(".")
    other = CODEC.encode(cursor(position=Position(10**9, 1))).split(".")[1]
    with pytest.raises(CursorError) as exc:
        decode(f"{prefix}.{other}.{sig}")
    assert exc.value.reason == "forged"
    assert exc.value.code == "sync.reset_required"


def test_cursor_from_another_secret_is_forged() -> None:
    token = CursorCodec("another-secret").encode(cursor())
    with pytest.raises(CursorError) as exc:
        decode(token)
    assert exc.value.reason == "forged"


def test_foreign_epoch_is_refused() -> None:
    token = CODEC.encode(cursor(epoch="f" * 32))
    with pytest.raises(CursorError) as exc:
        decode(token)
    assert exc.value.reason == "foreign_epoch"


def test_cursor_of_another_client_is_refused() -> None:
    with pytest.raises(CursorError) as exc:
        decode(CODEC.encode(cursor()), bind="client-2")
    assert exc.value.reason == "foreign_client"


def test_cursor_older_than_retention_is_expired() -> None:
    token = CODEC.encode(cursor(issued_at=NOW - timedelta(days=30, seconds=1)))
    with pytest.raises(CursorError) as exc:
        decode(token)
    assert exc.value.reason == "expired"
    assert decode(CODEC.encode(cursor(issued_at=NOW - timedelta(days=29)))).gen == 3


def test_cursor_below_pruned_floor_is_expired() -> None:
    token = CODEC.encode(cursor(position=Position(812, 40)))
    with pytest.raises(CursorError) as exc:
        decode(token, state=EpochState(STATE.epoch, floor=Position(812, 41)))
    assert exc.value.reason == "expired"
    assert decode(token, state=EpochState(STATE.epoch, floor=Position(812, 40))).gen == 3


@given(st.text(max_size=300))
def test_any_string_is_either_valid_or_a_reset(text: str) -> None:
    with pytest.raises(CursorError):
        decode(text)


@given(st.binary(max_size=200))
def test_garbage_between_the_dots_is_a_reset(raw: bytes) -> None:
    import base64

    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(CursorError):
        decode(f"c1.{body}.{body}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = create_engine("sqlite://")
    else:
        url = os.environ.get("TEST_DATABASE_URL", "")
        if not url.startswith("postgresql"):
            pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
        eng = create_engine(url)
    table = TABLES.state
    table.create(eng, checkfirst=True)
    with eng.begin() as conn:  # the shared test database may hold the app's state row
        saved = conn.execute(table.select()).mappings().all()
        conn.execute(table.delete())
    yield eng
    with eng.begin() as conn:
        conn.execute(table.delete())
        if saved:
            conn.execute(table.insert(), [dict(r) for r in saved])
    eng.dispose()


def test_epoch_is_created_once_and_stable(engine: Engine) -> None:
    with engine.begin() as conn:
        first = load_state(conn, TABLES, NOW)
    with engine.begin() as conn:
        assert load_state(conn, TABLES, NOW) == first
    assert first.floor is None and len(first.epoch) == 32


def test_rotating_the_epoch_invalidates_cursors(engine: Engine) -> None:
    with engine.begin() as conn:
        state = load_state(conn, TABLES, NOW)
        token = CODEC.encode(cursor(epoch=state.epoch))
        decode(token, state=state)
        rotate_epoch(conn, TABLES, NOW)
        with pytest.raises(CursorError) as exc:
            decode(token, state=load_state(conn, TABLES, NOW))
    assert exc.value.reason == "foreign_epoch"


def test_floor_only_rises(engine: Engine) -> None:
    with engine.begin() as conn:
        raise_floor(conn, TABLES, Position(5, 50), NOW)
        raise_floor(conn, TABLES, Position(4, 90), NOW)
        assert load_state(conn, TABLES, NOW).floor == Position(5, 50)
