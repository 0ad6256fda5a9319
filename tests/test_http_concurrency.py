"""Optimistic concurrency on PostgreSQL: two writers holding one ETag, on two real connections.

Each test sends two updates of one versioned resource with the same If-Match, from two
threads, to an app bound to the test database itself (not the per-test rolled-back
transaction: each request commits for real, on its own connection). Writer A is paused on its
first write to the resource's table, after its If-Match check passed. Writer B is then sent
and runs until it either reaches that same point (so both checks passed before either wrote:
a check against an unlocked read, which loses an update) or waits for a lock A holds (the
check happens on the row as locked for the write, app.db.for_update). Then both go on.

Exactly one must answer 200 and the other 412, and the row must hold A's change only, with
its version one up. SQLite serialises writers at BEGIN, so this race exists on PostgreSQL only.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, select, text

from app import create_app
from app.auth.services import issue_tokens
from app.clock import utcnow
from app.db import session
from app.demo import load_org
from app.hazards.models import Hazard
from app.hazards.services import issue_hazard
from app.inspections.models import Inspection
from app.org.models import User
from app.registry.models import Enterprise
from tests.conftest import FAST_ARGON2, requires_postgres
from tests.factories import Factories
from tests.sync.conftest import truncate_all

pytestmark = requires_postgres

#: How long the coordinator waits for a writer to reach its pause or a lock (a hang guard).
WAIT = 30.0


@pytest.fixture
def live(engine: Engine, tmp_path: Any) -> Iterator[Flask]:
    """An app on the test database whose requests commit; the tables are emptied after."""
    truncate_all(engine)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "SECRET_KEY": "test-secret",
            "ARGON2_PARAMS": FAST_ARGON2,
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "MEDIA_SPOOL": str(tmp_path / "spool"),
        }
    )
    with app.app_context():
        load_org()
        session.commit()
    yield app
    app.extensions["db"].engine.dispose()
    truncate_all(engine)


def bearer(app: Flask, user: User) -> dict[str, str]:
    """Log `user` in on a device of its own; return the Authorization header."""
    with app.app_context():
        pair = issue_tokens(session.get(User, user.id), "pytest", now=utcnow())
        session.commit()
    return {"Authorization": f"Bearer {pair['access_token']}"}


@dataclass
class Gate:
    """Pauses each writer thread just before its first write to `table` until released."""

    engine: Engine
    table: str
    paused: dict[str, threading.Event] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._before)

    def close(self) -> None:
        """Stop listening (once every writer has finished: not while one is inside)."""
        event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        reached = self.paused.get(threading.current_thread().name)
        if reached is None or reached.is_set():
            return
        if statement.lstrip().upper().startswith(f"UPDATE {self.table.upper()} "):
            reached.set()  # its If-Match check passed; this is its first write
            self.release.wait(WAIT)

    def waiting_on_a_lock(self) -> bool:
        """Tell whether a session on this database waits for a lock (B behind A's row lock)."""
        with self.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar()
            )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail saying `what` did not happen."""
    done = threading.Event()
    for _ in range(int(WAIT * 20)):
        if condition():
            return
        done.wait(0.05)
    pytest.fail(f"{what} did not happen within {WAIT} s")


def race(
    app: Flask, table: str, a: Callable[[Any], Any], b: Callable[[Any], Any]
) -> tuple[Any, Any]:
    """Run writer `a` to its pause, then `b` to its pause or a lock wait; return both answers."""
    engine = app.extensions["db"].engine
    gate = Gate(engine, table)
    answers: dict[str, Any] = {}

    def run(name: str, send: Callable[[Any], Any]) -> threading.Thread:
        gate.paused[name] = threading.Event()
        thread = threading.Thread(
            target=lambda: answers.__setitem__(name, send(app.test_client())), name=name
        )
        thread.start()
        return thread

    threads: list[threading.Thread] = []
    try:
        threads.append(run("writer-a", a))
        wait_for(gate.paused["writer-a"].is_set, "writer A reaching its write")
        threads.append(run("writer-b", b))
        wait_for(
            lambda: gate.paused["writer-b"].is_set() or gate.waiting_on_a_lock(),
            "writer B reaching its write or waiting for A's lock",
        )
    finally:
        gate.release.set()
        for thread in threads:
            thread.join(WAIT)
        gate.close()
    return answers["writer-a"], answers["writer-b"]


def assert_one_wins(a: Any, b: Any) -> None:
    """A answered 200 and B 412 precondition_failed (the ETag it holds is stale)."""
    assert a.status_code == 200, a.json
    assert b.status_code == 412, b.json
    assert b.json["code"] == "precondition_failed"
    assert a.headers["ETag"] == b.json["etag"]  # B is told the version A made


def test_two_enterprise_patches_with_one_etag(live: Flask) -> None:
    make = Factories(live)
    ent = make.enterprise(risk_level="medium")
    planners = [bearer(live, make.user("planner")) for _ in range(2)]
    etag = live.test_client().get(f"/api/v1/enterprises/{ent.id}", headers=planners[0])
    assert etag.status_code == 200
    url = f"/api/v1/enterprises/{ent.id}"

    def patch(headers: dict[str, str], risk: str) -> Callable[[Any], Any]:
        return lambda client: client.patch(
            url, headers={**headers, "If-Match": etag.headers["ETag"]}, json={"risk_level": risk}
        )

    a, b = race(live, "enterprises", patch(planners[0], "high"), patch(planners[1], "low"))
    assert_one_wins(a, b)
    with live.app_context():
        row = session.get(Enterprise, ent.id)
        assert row is not None
        assert (row.risk_level, row.version) == ("high", ent.version + 1)


def test_two_inspection_patches_with_one_etag(live: Flask) -> None:
    make = Factories(live)
    ent = make.enterprise()
    planner = make.user("planner")
    team = [make.user("inspector") for _ in range(2)]
    devices = [bearer(live, planner) for _ in range(2)]
    created = live.test_client().post(
        "/api/v1/inspections",
        headers=devices[0],
        json={
            "type": "unannounced",
            "enterprise_id": str(ent.id),
            "inspector_ids": [str(u.id) for u in team],
            "window": {"start": "2027-01-10T00:00:00Z", "end": "2027-01-12T00:00:00Z"},
        },
    )
    assert created.status_code == 201, created.json
    url = f"/api/v1/inspections/{created.json['id']}"

    def patch(headers: dict[str, str], dispatch_at: str) -> Callable[[Any], Any]:
        return lambda client: client.patch(
            url,
            headers={**headers, "If-Match": created.headers["ETag"]},
            json={"dispatch_at": dispatch_at},
        )

    a, b = race(
        live,
        "inspections",
        patch(devices[0], "2027-01-09T00:00:00Z"),
        patch(devices[1], "2027-01-08T00:00:00Z"),
    )
    assert_one_wins(a, b)
    with live.app_context():
        row = session.get(Inspection, uuid.UUID(created.json["id"]))
        assert row is not None
        assert row.dispatch_at is not None and row.dispatch_at.day == 9
        assert row.version == created.json["version"] + 1


def test_two_hazard_actions_with_one_etag(live: Flask) -> None:
    make = Factories(live)
    ent = make.enterprise(industry="gas_catering", jurisdiction="huayanglu")
    coordinators = [make.user("coordinator", department_code="safety_office") for _ in range(2)]
    assignees = [make.user("inspector") for _ in range(2)]
    with live.app_context():
        hazard = issue_hazard(
            source="supervision",
            enterprise=session.get(Enterprise, ent.id),
            grade="general",
            description="灶具连接管老化",
            actor=None,
            now=utcnow(),
        )
        session.commit()
        hazard_id, version = hazard.id, hazard.version
    headers = [bearer(live, c) for c in coordinators]
    etag = live.test_client().get(f"/api/v1/hazards/{hazard_id}", headers=headers[0])
    assert etag.status_code == 200, etag.json

    def assign(who: int) -> Callable[[Any], Any]:
        return lambda client: client.post(
            f"/api/v1/hazards/{hazard_id}/actions",
            headers={**headers[who], "If-Match": etag.headers["ETag"]},
            json={"action": "assign", "assignee_id": str(assignees[who].id)},
        )

    a, b = race(live, "hazards", assign(0), assign(1))
    assert_one_wins(a, b)
    with live.app_context():
        row = session.execute(select(Hazard).where(Hazard.id == hazard_id)).scalar_one()
        assert (row.assignee_id, row.version) == (assignees[0].id, version + 1)


def test_two_user_patches_with_one_etag(live: Flask) -> None:
    make = Factories(live)
    target = make.user("inspector", name="张三")
    admins = [bearer(live, make.user("admin")) for _ in range(2)]
    etag = live.test_client().get(f"/api/v1/users/{target.id}", headers=admins[0])
    assert etag.status_code == 200, etag.json
    url = f"/api/v1/users/{target.id}"

    def patch(headers: dict[str, str], name: str) -> Callable[[Any], Any]:
        return lambda client: client.patch(
            url, headers={**headers, "If-Match": etag.headers["ETag"]}, json={"name": name}
        )

    a, b = race(live, "users", patch(admins[0], "李四"), patch(admins[1], "王五"))
    assert_one_wins(a, b)
    with live.app_context():
        row = session.get(User, target.id)
        assert row is not None
        assert (row.name, row.version) == ("李四", target.version + 1)


def test_two_draws_of_a_plan_with_one_etag(live: Flask) -> None:
    make = Factories(live)
    for level in ("high", "medium", "low", "low"):
        make.enterprise(risk_level=level)
    for _ in range(4):
        make.user("inspector")
    planner = bearer(live, make.user("planner"))
    client = live.test_client()
    created = client.post(
        "/api/v1/sampling-plans",
        headers=planner,
        json={
            "name": "抽查",
            "rates": {"high": "0.5", "medium": "0.5", "low": "0.5"},
            "team_size": 2,
            "cross_jurisdiction": False,
            "exclude_inspected_within_days": 0,
        },
    )
    assert created.status_code == 201, created.json
    pid = created.json["id"]
    url = f"/api/v1/sampling-plans/{pid}"
    committed = client.post(
        f"{url}/commit", headers={**planner, "If-Match": created.headers["ETag"]}, json={}
    )
    assert committed.status_code == 200, committed.json

    def draw(client: Any) -> Any:
        return client.post(
            f"{url}/draw", headers={**planner, "If-Match": committed.headers["ETag"]}
        )

    a, b = race(live, "sampling_plans", draw, draw)
    assert_one_wins(a, b)
    assert a.json["version"] == committed.json["version"] + 1
    with live.app_context():
        drawn = list(
            session.execute(
                select(Inspection.enterprise_id).where(
                    Inspection.sampling_plan_id == uuid.UUID(pid)
                )
            ).scalars()
        )
    assert drawn and len(drawn) == len(set(drawn))  # one draw's inspections, not two


def test_an_import_waits_for_a_patch_of_the_same_enterprise(live: Flask) -> None:
    """The import (B) updates the row A patched, from A's version: no version is used twice."""
    make = Factories(live)
    ent = make.enterprise(risk_level="medium")
    planners = [bearer(live, make.user("planner")) for _ in range(2)]
    read = live.test_client().get(f"/api/v1/enterprises/{ent.id}", headers=planners[0])
    header = "企业名称,统一社会信用代码,行业,街道,地址,风险等级,经度,纬度"
    row = f"{ent.name},{ent.uscc},{ent.industry},huayanglu,新地址1号,low,121.4265,31.2195"

    def patch(client: Any) -> Any:
        return client.patch(
            f"/api/v1/enterprises/{ent.id}",
            headers={**planners[0], "If-Match": read.headers["ETag"]},
            json={"risk_level": "high"},
        )

    def upload(client: Any) -> Any:
        return client.post(
            "/api/v1/enterprises/import",
            headers={**planners[1], "Content-Type": "text/csv"},
            data=f"{header}\n{row}\n".encode(),
        )

    a, b = race(live, "enterprises", patch, upload)
    assert a.status_code == 200, a.json
    assert b.status_code == 200 and b.json["updated"] == 1, b.json
    with live.app_context():
        final = session.get(Enterprise, ent.id)
        assert final is not None
        assert (final.address, final.risk_level) == ("新地址1号", "low")
        assert final.version == ent.version + 2  # A's v2, then the import's v3
