"""A known fixture set for the report tests: hazards, inspections and findings in March 2026.

The clock is frozen at NOW (2026-03-20 12:00 China time), so the default period is March 2026
(China time): [2026-02-28T16:00Z, 2026-03-31T16:00Z). The expected figures in the tests are
worked out by hand from the rows below (see each row's comment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from app.hazards.models import Hazard
from app.inspections.models import Finding, Inspection, InspectionInspector

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


class Clock:
    """A settable clock for app.config["CLOCK"]."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ReportWorld:
    ents: dict[str, Any]
    users: dict[str, Any]
    inspections: dict[str, uuid.UUID] = field(default_factory=dict)
    hazards: dict[str, uuid.UUID] = field(default_factory=dict)


@pytest.fixture
def clock(app: Any) -> Clock:
    """Freeze the app's clock at NOW."""
    c = Clock()
    app.config["CLOCK"] = c
    return c


_seq = iter(range(1, 10_000))


def _hazard(ent: Any, **kw: Any) -> Hazard:
    seq = next(_seq)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "number": f"测隐〔2026〕{seq:04d}号",
        "year": 2026,
        "seq": seq,
        "enterprise_id": ent.id,
        "jurisdiction_code": ent.jurisdiction_code,
        "industry": ent.industry,
        "description": "测试隐患",
        "status": "open",
        "escalation_level": 0,
        "photos": [],
        "version": 1,
    }
    values.update(kw)
    values.setdefault("listed", values["grade"] == "major")
    return Hazard(**values)


def _inspection(ent: Any, inspectors: list[Any], **kw: Any) -> Inspection:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "enterprise_id": ent.id,
        "jurisdiction_code": ent.jurisdiction_code,
        "industry": ent.industry,
        "version": 1,
    }
    values.update(kw)
    insp = Inspection(**values)
    insp.assignments = [InspectionInspector(user_id=u.id) for u in inspectors]
    return insp


def _finding(insp: Inspection, code: str, result: str, **kw: Any) -> Finding:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "inspection_id": insp.id,
        "item_code": code,
        "result": result,
        "grade": "general",
        "recorded_at": insp.check_in_received_at or NOW,
        "review_status": "pending",
    }
    values.update(kw)
    return Finding(**values)


def build_world(make: Any, db_session: Any) -> ReportWorld:
    """Create the enterprises, users, inspections, findings and hazards of the tests."""
    ents = {
        "e1": make.enterprise(jurisdiction="huayanglu", industry="gas_catering"),
        "e2": make.enterprise(jurisdiction="huayanglu", industry="high_rise"),
        "e3": make.enterprise(jurisdiction="xinhualu", industry="gas_catering"),
        "e4": make.enterprise(jurisdiction="jiangsulu", industry="factory_warehouse"),
    }
    users = {
        "planner": make.user("planner", department_code="safety_office"),
        "supervisor": make.user("supervisor", department_code="construction"),
        "coordinator": make.user("coordinator", department_code="safety_office"),
        "admin": make.user("admin"),
        "street_coordinator": make.user("coordinator", jurisdiction="huayanglu"),
        "street_supervisor": make.user("supervisor", jurisdiction="xinhualu"),
        "inspector": make.user("inspector"),
        "inspector2": make.user("inspector"),
        "enterprise": make.user(
            "enterprise", jurisdiction="huayanglu", enterprise_id=ents["e1"].id
        ),
    }
    team = [users["inspector"], users["inspector2"]]
    planner = users["planner"].id
    e1, e2, e3, e4 = (ents[k] for k in ("e1", "e2", "e3", "e4"))

    insp = {
        # March, huayanglu, planned (四不两直), reviewed: findings F1..F5, tickets H1, H2.
        "i1": _inspection(
            e1,
            team,
            type="unannounced",
            status="reviewed",
            planner_id=planner,
            check_in_at=utc(2026, 3, 2, 1, 29),
            check_in_received_at=utc(2026, 3, 2, 1, 30),
        ),
        # March, huayanglu, triggered (举报), submitted: one failed finding pending review.
        "i2": _inspection(
            e2,
            team,
            type="complaint",
            status="submitted",
            planner_id=planner,
            check_in_received_at=utc(2026, 3, 10, 2, 0),
        ),
        # March, jiangsulu, 双随机 in progress: no failed finding, no ticket (the flag).
        "i3": _inspection(
            e4,
            team,
            type="double_random",
            status="in_progress",
            check_in_received_at=utc(2026, 3, 12, 2, 0),
        ),
        # 2026-02-28 23:00 China time: February, not March.
        "i4": _inspection(
            e4,
            team,
            type="recheck",
            status="closed",
            planner_id=planner,
            check_in_received_at=utc(2026, 2, 28, 15, 0),
        ),
        # Never counted: dispatched, planned (future dispatch), cancelled before and after
        # check-in.
        "i5": _inspection(e3, team, type="routine", status="dispatched", planner_id=planner),
        "i6": _inspection(
            e3,
            team,
            type="unannounced",
            status="planned",
            planner_id=planner,
            dispatch_at=utc(2026, 3, 25, 0, 0),
        ),
        "i7": _inspection(e3, team, type="routine", status="cancelled", planner_id=planner),
        "i8": _inspection(
            e1,
            team,
            type="recheck",
            status="cancelled",
            planner_id=planner,
            check_in_received_at=utc(2026, 3, 5, 2, 0),
        ),
    }
    db_session.add_all(insp.values())
    db_session.flush()
    i1, i2, i3 = insp["i1"], insp["i2"], insp["i3"]
    f1 = _finding(i1, "GAS-01", "fail", review_status="confirmed")
    f2 = _finding(i1, "GAS-02", "fail", review_status="confirmed", grade="major")
    findings = [
        f1,
        f2,
        _finding(i1, "GAS-03", "pass", review_status="confirmed"),
        _finding(i1, "GAS-04", "fail", review_status="rejected"),
        _finding(i1, "GAS-05", "fail", deleted=True),  # deleted: never counted
        _finding(i2, "HR-01", "fail"),  # pending review
        _finding(i3, "FW-01", "pass"),
        # On never-counted inspections: must not show.
        _finding(insp["i5"], "GEN-01", "fail"),
        _finding(insp["i8"], "GAS-01", "fail"),
    ]
    db_session.add_all(findings)
    db_session.flush()

    hz = {
        # huayanglu, found March (via I1), general, closed on 03-10.
        "h1": _hazard(
            e1,
            source="inspection",
            grade="general",
            inspection_id=i1.id,
            finding_id=f1.id,
            found_at=utc(2026, 3, 2, 2, 0),
            deadline=utc(2026, 3, 9, 2, 0),
            status="closed",
            closed_at=utc(2026, 3, 10, 2, 0),
        ),
        # huayanglu, found March (via I1), major, rectifying past its deadline, 通报 (2).
        "h2": _hazard(
            e1,
            source="inspection",
            grade="major",
            inspection_id=i1.id,
            finding_id=f2.id,
            found_at=utc(2026, 3, 2, 2, 0),
            deadline=utc(2026, 3, 15, 4, 0),
            status="rectifying",
            escalation_level=2,
            plan={"goals": "停用并改造"},
        ),
        # huayanglu, 2026-03-01 00:30 China time (still 02-28 in UTC): March. Not yet due.
        "h3": _hazard(
            e2,
            source="self_report",
            grade="general",
            found_at=utc(2026, 2, 28, 16, 30),
            deadline=utc(2026, 3, 25, 0, 0),
            status="open",
        ),
        # huayanglu, found March, major, closed 03-18.
        "h7": _hazard(
            e2,
            source="supervision",
            grade="major",
            found_at=utc(2026, 3, 3, 2, 0),
            deadline=utc(2026, 4, 3, 2, 0),
            status="closed",
            closed_at=utc(2026, 3, 18, 2, 0),
        ),
        # xinhualu, found March, major, rectified (evidence in): past deadline but not overdue.
        "h4": _hazard(
            e3,
            source="public_report",
            grade="major",
            found_at=utc(2026, 3, 5, 2, 0),
            deadline=utc(2026, 3, 10, 2, 0),
            status="rectified",
            escalation_level=1,
        ),
        # xinhualu, 2026-02-28 23:30 China time: February; closed in March.
        "h5": _hazard(
            e3,
            source="supervision",
            grade="general",
            found_at=utc(2026, 2, 28, 15, 30),
            deadline=utc(2026, 3, 7, 0, 0),
            status="closed",
            closed_at=utc(2026, 3, 3, 2, 0),
        ),
        # xinhualu, found in January, major, still open, 38 days overdue, 曝光 (4).
        "h6": _hazard(
            e3,
            source="supervision",
            grade="major",
            found_at=utc(2026, 1, 10, 4, 0),
            deadline=utc(2026, 2, 10, 4, 0),
            status="open",
            escalation_level=4,
        ),
    }
    db_session.add_all(hz.values())
    db_session.commit()
    return ReportWorld(
        ents=ents,
        users=users,
        inspections={k: v.id for k, v in insp.items()},
        hazards={k: v.id for k, v in hz.items()},
    )


@pytest.fixture
def world(app: Any, make: Any, db_session: Any, clock: Clock) -> ReportWorld:
    """The fixture set of the module docstring."""
    return build_world(make, db_session)


@pytest.fixture
def get(client: Any, login: Any, world: ReportWorld) -> Any:
    """Return a function GETting a path as one of the world's users (by key)."""
    tokens: dict[str, dict[str, str]] = {}

    def _get(who: str, path: str, **params: Any) -> Any:
        if who not in tokens:
            tokens[who] = login(world.users[who])
        return client.get(path, query_string=params, headers=tokens[who])

    return _get
