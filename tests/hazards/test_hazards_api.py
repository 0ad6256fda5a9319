"""Hazard tickets through HTTP: issue, ETags, the life cycle, extensions, escalation, scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.hazards.models import HazardEvent
from app.notifications.models import NotificationEvent
from tests.hazards.helpers import T0, sha, z

PLAN = {
    "goals": "消除燃气泄漏隐患",
    "measures": "更换全部橡胶软管为金属波纹管，加装燃气泄漏报警切断装置",
    "funds_and_materials": "3万元，波纹管20米，报警器2台",
    "people_and_duties": "厨师长负责，物业配合",
    "safety_measures": "施工期间停用灶具，关闭总阀",
    "emergency_plan": "燃气泄漏应急处置卡上墙",
}


def _events(db_session, hazard_id=None):
    db_session.expire_all()
    stmt = select(NotificationEvent).order_by(NotificationEvent.created_at)
    if hazard_id:
        stmt = stmt.where(NotificationEvent.entity_id == str(hazard_id))
    return [e.type for e in db_session.execute(stmt).scalars()]


def test_an_enterprise_self_reports_for_itself_only(world):
    body = {"grade": "general", "description": "后厨灭火器过期", "photos": [sha("ext")]}
    resp = world.client.post("/api/v1/hazards", json=body, headers=world.headers("enterprise"))
    assert resp.status_code == 201, resp.json
    h = resp.json
    assert h["source"] == "self_report" and h["status"] == "open"
    assert h["enterprise_id"] == str(world.ent.id) and h["jurisdiction"] == "huayanglu"
    assert h["number"] == "长宁隐〔2026〕0001号"
    assert h["deadline"] == z(T0 + timedelta(days=7)) and not h["listed"]
    assert h["timeline"][0]["action"] == "issue"
    assert resp.headers["ETag"]

    other = {**body, "enterprise_id": str(world.other_ent.id)}
    resp = world.client.post("/api/v1/hazards", json=other, headers=world.headers("enterprise"))
    assert resp.status_code == 404
    resp = world.client.post(
        "/api/v1/hazards",
        json={**body, "source": "supervision"},
        headers=world.headers("enterprise"),
    )
    assert resp.status_code == 422


def test_staff_report_supervision_hazards_in_their_scope(world, make, login):
    body = {
        "grade": "major",
        "description": "燃气管道设置在地下室",
        "enterprise_id": str(world.ent.id),
    }
    resp = world.client.post("/api/v1/hazards", json=body, headers=world.headers("coordinator"))
    assert resp.status_code == 201, resp.json
    assert resp.json["source"] == "supervision" and resp.json["listed"] is True
    assert resp.json["deadline"] == z(T0 + timedelta(days=60))
    no_ent = {k: v for k, v in body.items() if k != "enterprise_id"}
    resp = world.client.post("/api/v1/hazards", json=no_ent, headers=world.headers("coordinator"))
    assert resp.status_code == 422
    assert (
        world.client.post(
            "/api/v1/hazards", json=body, headers=world.headers("planner")
        ).status_code
        == 403
    )
    street = login(make.user("inspector", jurisdiction="xinhualu"))
    assert world.client.post("/api/v1/hazards", json=body, headers=street).status_code == 404


def test_numbers_follow_the_year_in_china_time(world, clock):
    first = world.row(world.hazard()).number
    second = world.row(world.hazard()).number
    assert (first, second) == ("长宁隐〔2026〕0001号", "长宁隐〔2026〕0002号")
    clock.now = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 January in Shanghai
    assert world.row(world.hazard()).number == "长宁隐〔2027〕0001号"
    assert re.fullmatch(r"长宁隐〔\d{4}〕\d{4}号", first)


def test_actions_need_if_match_and_refuse_stale_etags(world):
    hid = world.hazard()
    body = {"action": "comment", "note": "请尽快整改"}
    resp = world.act(hid, "coordinator", body, etag=None)
    assert resp.status_code == 428 and resp.json["code"] == "precondition_required"
    etag = world.etag(hid)
    first = world.act(hid, "coordinator", body, etag=etag)
    assert first.status_code == 200
    assert first.headers["ETag"] != etag and first.headers["ETag"] == world.etag(hid)
    stale = world.act(hid, "coordinator", body, etag=etag)
    assert stale.status_code == 412 and stale.json["code"] == "precondition_failed"


def test_a_ticket_from_issue_to_closure(world, clock, db_session):
    hid = world.hazard(status="open", assignee=None)
    new_deadline = T0 + timedelta(days=10)
    inspector = world.users["inspector_assignee"]
    resp = world.act(
        hid,
        "coordinator",
        {"action": "assign", "assignee_id": str(inspector.id), "deadline": z(new_deadline)},
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["assignee_id"] == str(inspector.id) and resp.json["deadline"] == z(
        new_deadline
    )
    assert world.act(hid, "enterprise", {"action": "start"}).json["status"] == "rectifying"
    submit = {"action": "submit_rectification", "note": "已更换", "photos": [sha("after")]}
    assert world.act(hid, "enterprise", {**submit, "photos": []}).status_code == 422
    assert world.act(hid, "enterprise", submit).json["status"] == "rectified"

    clock.advance(days=1)
    fail = {"action": "recheck", "result": "fail", "note": "仍有软管未更换", "photos": []}
    resp = world.act(hid, "inspector_assignee", fail)
    assert resp.json["status"] == "rectifying"
    assert resp.json["deadline"] == z(clock.now + timedelta(days=7))  # the default for general
    assert resp.json["timeline"][-1]["data"]["result"] == "fail"

    assert world.act(hid, "enterprise", submit).json["status"] == "rectified"
    chosen = clock.now + timedelta(days=3)
    resp = world.act(hid, "inspector_assignee", {**fail, "deadline": z(chosen)})
    assert resp.json["deadline"] == z(chosen)
    assert world.act(hid, "enterprise", submit).json["status"] == "rectified"
    ok = {"action": "recheck", "result": "pass", "note": "复查合格", "photos": [sha("ok")]}
    assert world.act(hid, "inspector_assignee", {**ok, "photos": []}).status_code == 422
    assert world.act(hid, "inspector_assignee", ok).json["status"] == "verified"
    resp = world.act(hid, "supervisor_resp", {"action": "close", "note": "同意销号"})
    assert resp.status_code == 200 and resp.json["status"] == "closed"
    assert resp.json["closed_at"] == z(clock.now)

    timeline = resp.json["timeline"]
    assert [e["action"] for e in timeline] == [
        "issue",
        "assign",
        "start",
        "submit_rectification",
        "recheck",
        "submit_rectification",
        "recheck",
        "submit_rectification",
        "recheck",
        "close",
    ]
    assert [e["seq"] for e in timeline] == list(range(1, 11))
    assert timeline[3]["photos"] == [sha("after")] and timeline[3]["actor"]["role"] == "enterprise"
    # Every timeline entry is in the hash-chained audit log, and linked from the entry.
    events = db_session.execute(select(HazardEvent).where(HazardEvent.hazard_id == hid)).scalars()
    for event in events:
        entry = db_session.execute(
            select(AuditEntry).where(AuditEntry.seq == event.audit_seq)
        ).scalar_one()
        assert entry.action == f"hazard.{event.action}" and entry.entity_id == str(hid)
        assert entry.data["note"] == event.note
    assert _events(db_session, hid) == ["hazard.issued", "hazard.assigned", "hazard.closed"]


def test_a_major_hazard_needs_its_plan_before_work_starts(world):
    hid = world.hazard(grade="major")
    resp = world.act(hid, "enterprise", {"action": "start"})
    assert resp.status_code == 422 and resp.json["code"] == "hazard.plan_required"
    partial = {k: v for k, v in PLAN.items() if k != "emergency_plan"}
    resp = world.act(hid, "enterprise", {"action": "start", "plan": partial})
    assert resp.status_code == 422 and "emergency_plan" in resp.json["errors"]["plan"][0]
    resp = world.act(hid, "enterprise", {"action": "start", "plan": PLAN})
    assert resp.status_code == 200 and resp.json["status"] == "rectifying"
    assert resp.json["plan"]["measures"] == PLAN["measures"] and resp.json["listed"] is True


def test_a_general_hazard_fixed_on_the_spot(world):
    hid = world.hazard()
    body = {"action": "recheck", "result": "pass", "note": "现场整改完毕", "photos": [sha("spot")]}
    resp = world.act(hid, "inspector_recheck", body)
    assert resp.status_code == 200 and resp.json["status"] == "verified"
    assert resp.json["timeline"][-1]["data"]["on_the_spot"] is True


def test_extension_request_and_decision(world):
    hid = world.hazard(status="rectifying")
    deadline = world.row(hid).deadline
    early = {"action": "request_extension", "until": z(deadline - timedelta(days=1)), "reason": "x"}
    assert world.act(hid, "enterprise", early).status_code == 422
    until = deadline + timedelta(days=14)
    req = {"action": "request_extension", "until": z(until), "reason": "波纹管缺货"}
    resp = world.act(hid, "enterprise", req)
    assert resp.status_code == 200 and resp.json["extension_request"]["until"] == z(until)
    again = world.act(hid, "enterprise", req)
    assert again.status_code == 409 and again.json["code"] == "hazard.extension_pending"
    resp = world.act(
        hid, "coordinator", {"action": "decide_extension", "approve": True, "note": "同意"}
    )
    assert resp.json["deadline"] == z(until) and resp.json["extension_request"] is None
    entry = resp.json["timeline"][-1]
    assert entry["action"] == "decide_extension" and entry["data"]["previous_deadline"] == z(
        deadline
    )
    none = world.act(
        hid, "coordinator", {"action": "decide_extension", "approve": True, "note": "-"}
    )
    assert none.status_code == 409 and none.json["code"] == "hazard.no_extension_request"
    world.act(hid, "enterprise", {**req, "until": z(until + timedelta(days=5))})
    resp = world.act(
        hid, "coordinator", {"action": "decide_extension", "approve": False, "note": "不同意"}
    )
    assert resp.json["deadline"] == z(until)


def test_escalation_by_hand_climbs_the_ladder_to_exposure(world, db_session):
    hid = world.hazard()
    labels = []
    for _ in range(4):
        resp = world.act(hid, "coordinator", {"action": "escalate", "note": "进度缓慢"})
        assert resp.status_code == 200
        labels.append(resp.json["escalation"])
    assert labels == ["函告", "通报", "约谈", "曝光"]
    resp = world.act(hid, "coordinator", {"action": "escalate", "note": "again"})
    assert resp.status_code == 409 and resp.json["code"] == "hazard.escalation_max"
    assert _events(db_session, hid).count("hazard.escalated") == 4


def test_assign_checks_the_assignee(world, make):
    hid = world.hazard()
    far = make.user("inspector", jurisdiction="xinhualu")
    for user in (far, world.users["planner"]):
        resp = world.act(hid, "coordinator", {"action": "assign", "assignee_id": str(user.id)})
        assert resp.status_code == 422 and resp.json["code"] == "hazard.invalid_assignee"
    resp = world.act(
        hid, "coordinator", {"action": "assign", "assignee_id": str(world.users["enterprise"].id)}
    )
    assert resp.status_code == 200


def test_action_bodies_are_validated_per_action(world):
    hid = world.hazard()
    resp = world.act(hid, "coordinator", {"action": "assign"})
    assert resp.status_code == 422 and "assignee_id" in resp.json["errors"]
    resp = world.act(hid, "coordinator", {"action": "comment", "note": "x", "result": "pass"})
    assert resp.status_code == 422 and "result" in resp.json["errors"]
    resp = world.act(hid, "coordinator", {"action": "teleport"})
    assert resp.status_code == 422


def test_list_scope_and_filters(world, make, login, clock):
    mine = world.hazard(status="open")
    overdue = world.hazard(status="rectifying", deadline=T0 + timedelta(hours=1))
    major = world.hazard(status="open", grade="major", assignee="inspector_other")
    elsewhere = world.hazard(status="open", enterprise=world.other_ent)
    clock.advance(days=1)

    def ids(who, query=""):
        resp = world.client.get(f"/api/v1/hazards?page_size=100{query}", headers=world.headers(who))
        assert resp.status_code == 200, resp.json
        return {h["id"] for h in resp.json}

    everything = {str(h) for h in (mine, overdue, major, elsewhere)}
    assert ids("coordinator") == everything
    assert ids("enterprise") == {str(mine), str(overdue), str(major)}
    street = login(make.user("coordinator", jurisdiction="xinhualu"))
    resp = world.client.get("/api/v1/hazards", headers=street)
    assert {h["id"] for h in resp.json} == {str(elsewhere)}
    assert ids("coordinator", "&overdue=true") == {str(overdue)}
    assert ids("coordinator", "&grade=major") == {str(major)}
    assert ids("coordinator", "&status=rectifying") == {str(overdue)}
    assert ids("coordinator", "&jurisdiction=xinhualu") == {str(elsewhere)}
    assert ids("coordinator", "&source=self_report") == set()
    assert ids("coordinator", "&industry=gas_catering") == everything
    assert ids("inspector_other", "&assignee=me") == {str(major)}
    other_id = world.users["inspector_other"].id
    assert ids("coordinator", f"&assignee={other_id}") == {str(major)}
    resp = world.client.get("/api/v1/hazards?assignee=nobody", headers=world.headers("coordinator"))
    assert resp.status_code == 422
    detail = world.get(overdue, "enterprise").json
    assert detail["overdue"] is True and detail["enterprise"]["name"] == world.ent.name


def test_the_sync_services_take_either_argument_order(world, app):
    from app.clock import utcnow
    from app.db import session
    from app.errors import DomainError
    from app.hazards.services import comment_hazard, recheck_hazard
    from app.org.models import User

    hid = world.hazard(status="rectified")
    with app.test_request_context():
        user = session.get(User, world.users["inspector_assignee"].id)
        here = {"lat": 31.2, "lon": 121.4, "accuracy": 5.0}
        h = recheck_hazard(
            hid,
            user,
            result="pass",
            note="ok",
            photos=[sha("a")],
            at=T0,
            location=here,
            now=utcnow(),
        )
        assert h.status == "verified"
        h = comment_hazard(user, hid, note="附照片", photos=[sha("b")], now=utcnow())
        assert h.version >= 3
        other = session.get(User, world.users["inspector_other"].id)
        try:
            recheck_hazard(
                other, hid, result="pass", note="x", photos=[sha("c")], at=T0, now=utcnow()
            )
        except DomainError as exc:
            assert exc.code == "hazard.invalid_transition"
        else:
            raise AssertionError("an inspector not on the ticket rechecked it")
        session.rollback()


def test_timeline_entries_cannot_be_rewritten_through_the_orm(world, app):
    import pytest

    from app.db import session

    hid = world.hazard()
    with app.app_context():
        event = session.execute(
            select(HazardEvent).where(HazardEvent.hazard_id == hid)
        ).scalar_one()
        event.note = "rewritten"
        with pytest.raises(RuntimeError, match="append-only"):
            session.flush()
        session.rollback()


def test_tickets_name_their_assignee(world):
    hid = world.hazard(status="open", assignee=None)
    assert world.get(hid).json["assignee"] is None
    inspector = world.users["inspector_assignee"]
    resp = world.act(hid, "coordinator", {"action": "assign", "assignee_id": str(inspector.id)})
    assert resp.status_code == 200, resp.json
    named = {"id": str(inspector.id), "name": inspector.name}
    assert resp.json["assignee"] == named
    listed = world.client.get("/api/v1/hazards", headers=world.headers("coordinator")).json
    assert [h["assignee"] for h in listed if h["id"] == str(hid)] == [named]
