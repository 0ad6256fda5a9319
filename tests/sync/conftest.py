"""Fixtures for the sync tests: a site with a team and an inspection, and devices."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from app.clock import utcnow
from app.db import Database
from app.sync.mutations import MUTATIONS
from sync.client import HttpResponse, SyncClient
from tests.conftest import TestDatabase


class CommittingDatabase(Database):
    """A Database whose requests really commit (PostgreSQL sync tests)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)


def truncate_all(engine: Engine) -> None:
    """Empty every table of the app's metadata (between committing tests)."""
    from app.audit.models import create_heads
    from app.models import metadata

    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        create_heads(conn)  # as the table was created: every audit chain's head, empty


def settle(app: Flask, timeout: float = 60.0) -> None:
    """Wait until every committed change lies below the feed's horizon (PostgreSQL).

    The horizon is cluster-wide: another session's open write transaction (another test
    run on the same server, say) holds it back, and the feed rightly waits for it. Tests
    that assert "after this, the pull returns everything" wait for that first.
    """
    settle_engine(app.extensions["db"].engine, timeout)


def settle_engine(engine: Engine, timeout: float = 60.0) -> None:
    """Wait until every committed change of ``engine``'s log lies below the feed's horizon."""
    import time

    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            newest = conn.execute(text("SELECT coalesce(max(xid), 0) FROM sync_changes")).scalar()
            horizon = conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar()
        if horizon > newest:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the feed horizon {horizon} stayed at or below xid {newest}")
        time.sleep(0.02)


@pytest.fixture
def test_db(engine: Engine) -> Any:
    """On PostgreSQL, let requests commit for real; on SQLite, the usual rolled-back test.

    The change feed reads only transactions that have finished (``xid`` below the snapshot's
    xmin), so on PostgreSQL a whole test inside one rolled-back transaction would never see
    its own changes in the log. Each test here commits and the tables are emptied after it.
    """
    if engine.dialect.name != "postgresql":
        conn = engine.connect()
        trans = conn.begin()
        yield TestDatabase(engine, conn)
        trans.rollback()
        conn.close()
        return
    truncate_all(engine)
    yield CommittingDatabase(engine)
    truncate_all(engine)


@dataclass
class FlaskTransport:
    """A sync.client Transport over the Flask test client."""

    client: FlaskClient

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        resp = self.client.open(
            path,
            method=method,
            query_string=dict(params or {}),
            json=copy.deepcopy(json) if json is not None else None,
            data=data,
            headers=dict(headers or {}),
        )
        body = resp.get_json(silent=True)
        return HttpResponse(resp.status_code, body, dict(resp.headers))


@dataclass
class Clock:
    """A settable clock for app.config["CLOCK"]."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 1, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Site:
    app: Flask
    enterprise_id: uuid.UUID
    inspection_id: uuid.UUID
    inspectors: list[Any]
    item_codes: list[str]
    clock: Clock
    headers: dict[str, dict[str, str]]
    #: every item of the pinned checklist (submit needs an answer to each)
    items: list[dict[str, Any]] = field(default_factory=list)

    def passes(self, *answered: str) -> list[tuple[str, dict[str, Any]]]:
        """finding.put mutations passing every item not in `answered` (measured: in range)."""
        out = []
        for item in self.items:
            if item["code"] in answered:
                continue
            args: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "inspection_id": str(self.inspection_id),
                "item_code": item["code"],
                "result": "pass",
                "recorded_at": self.at(),
            }
            if item.get("unit"):
                args["value"] = item.get("min") if item.get("min") is not None else item["max"]
            out.append(("finding.put", args))
        return out

    def at(self, delta_minutes: float = 0) -> str:
        """Return a device timestamp."""
        return (
            (self.clock.now + timedelta(minutes=delta_minutes)).isoformat().replace("+00:00", "Z")
        )


@pytest.fixture
def clock(app: Flask) -> Clock:
    c = Clock()
    app.config["CLOCK"] = c
    return c


@pytest.fixture
def site(app: Flask, make: Any, login: Callable[..., dict[str, str]], clock: Clock) -> Site:
    """An enterprise in huayanglu, two inspectors of huayanglu, a dispatched inspection."""
    from app.checklists.services import get_checklist, load_library
    from app.db import session

    with app.app_context():
        load_library(now=utcnow())
        session.commit()
        # Items a device answers pass/fail; those with a unit also need a measured value.
        items = get_checklist("gas_catering").content["items"]
        codes = [i["code"] for i in items if not i.get("unit")]
    ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(2)]
    insp_id = make.inspection(ent.id, team, clock.now)
    return Site(
        app=app,
        enterprise_id=ent.id,
        inspection_id=insp_id,
        inspectors=team,
        item_codes=codes,
        items=items,
        clock=clock,
        headers={u.username: login(u) for u in team},
    )


def device_for(
    client: FlaskClient, headers: dict[str, str], tmp_path: Path, name: str = "device", **kw: Any
) -> SyncClient:
    """Return a reference client for one user over the Flask test client."""
    token = headers["Authorization"].split(" ", 1)[1]
    return SyncClient(
        str(tmp_path / f"{name}.sqlite"),
        FlaskTransport(client),
        token=lambda: token,
        sleep=lambda s: None,
        **{"mutations": MUTATIONS, **kw},
    )
