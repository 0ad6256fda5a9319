"""Planner-created inspections: team rules, PATCH before check-in, confidential reads."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.inspections.models import Inspection


@pytest.fixture
def team(make):
    return [make.user("inspector"), make.user("inspector")]


def body(ent, inspectors, **kw):
    data = {
        "type": "unannounced",
        "enterprise_id": str(ent.id),
        "inspector_ids": [str(i.id) for i in inspectors],
        "window": {"start": "2027-01-10T00:00:00Z", "end": "2027-01-12T00:00:00Z"},
    }
    data.update(kw)
    return data


# A recheck names the tickets it rechecks: tests/hazards/test_recheck_visit.py.
@pytest.mark.parametrize("kind", ["unannounced", "routine", "complaint"])
def test_planner_creates_each_type(client, make, login, team, kind):
    ent = make.enterprise()
    resp = client.post(
        "/api/v1/inspections", headers=login(make.user("planner")), json=body(ent, team, type=kind)
    )
    assert resp.status_code == 201, resp.json
    insp = resp.json
    assert insp["type"] == kind and insp["status"] == "dispatched"
    assert sorted(insp["inspector_ids"]) == sorted(str(i.id) for i in team)
    assert insp["enterprise"]["name"] == ent.name
    assert insp["industry"] == ent.industry
    assert insp["window"] == {"start": "2027-01-10T00:00:00Z", "end": "2027-01-12T00:00:00Z"}
    assert insp["check_in"] is None


def test_double_random_cannot_be_created_by_hand(client, make, login, team):
    resp = client.post(
        "/api/v1/inspections",
        headers=login(make.user("planner")),
        json=body(make.enterprise(), team, type="double_random"),
    )
    assert resp.status_code == 422


def test_team_needs_two_certified_unconflicted_inspectors(client, make, login, team):
    ent = make.enterprise()
    headers = login(make.user("planner"))
    one = client.post("/api/v1/inspections", headers=headers, json=body(ent, team[:1]))
    assert one.status_code == 422
    expired = make.user("inspector", certificate_expires=date(2020, 5, 1), name="过期 张三")
    conflicted = make.user("inspector", conflicts=[str(ent.id)], name="回避 李四")
    resp = client.post(
        "/api/v1/inspections", headers=headers, json=body(ent, [team[0], expired, conflicted])
    )
    assert resp.status_code == 422
    assert resp.json["code"] == "inspection.ineligible_inspector"
    problems = resp.json["errors"]["inspector_ids"]
    assert set(problems) == {str(expired.id), str(conflicted.id)}
    assert "expired on 2020-05-01" in problems[str(expired.id)][0]
    assert "conflict" in problems[str(conflicted.id)][0]
    assert "过期 张三" in resp.json["message"] and "回避 李四" in resp.json["message"]
    # A certificate valid today but not through the window is refused too.
    short = make.user("inspector", certificate_expires=date(2027, 1, 11))
    resp = client.post("/api/v1/inspections", headers=headers, json=body(ent, [team[0], short]))
    assert resp.status_code == 422 and str(short.id) in resp.json["errors"]["inspector_ids"]
    not_inspector = make.user("supervisor")
    resp = client.post(
        "/api/v1/inspections", headers=headers, json=body(ent, [team[0], not_inspector])
    )
    assert resp.status_code == 422
    dup = client.post("/api/v1/inspections", headers=headers, json=body(ent, [team[0], team[0]]))
    assert dup.status_code == 422


def test_only_planners_create(client, make, login, team):
    for role in ("inspector", "supervisor", "admin"):
        resp = client.post(
            "/api/v1/inspections",
            headers=login(make.user(role)),
            json=body(make.enterprise(), team),
        )
        assert resp.status_code == 403


def test_patch_before_check_in_only(client, make, login, team, db_session):
    ent = make.enterprise()
    planner = login(make.user("planner"))
    created = client.post("/api/v1/inspections", headers=planner, json=body(ent, team))
    iid = created.json["id"]
    third = make.user("inspector")
    resp = client.patch(
        f"/api/v1/inspections/{iid}",
        headers={**planner, "If-Match": created.headers["ETag"]},
        json={
            "inspector_ids": [str(team[0].id), str(third.id)],
            "dispatch_at": "2026-12-31T00:00:00Z",
        },
    )
    assert resp.status_code == 200, resp.json
    assert set(resp.json["inspector_ids"]) == {str(team[0].id), str(third.id)}
    assert resp.json["version"] == 2
    stale = client.patch(
        f"/api/v1/inspections/{iid}",
        headers={**planner, "If-Match": created.headers["ETag"]},
        json={"dispatch_at": "2026-12-30T00:00:00Z"},
    )
    assert stale.status_code == 412
    missing = client.patch(
        f"/api/v1/inspections/{iid}", headers=planner, json={"dispatch_at": None}
    )
    assert missing.status_code == 428
    bad = client.patch(
        f"/api/v1/inspections/{iid}",
        headers={**planner, "If-Match": "*"},
        json={
            "inspector_ids": [
                str(team[0].id),
                str(make.user("inspector", conflicts=[str(ent.id)]).id),
            ]
        },
    )
    assert bad.status_code == 422
    # Another planner cannot touch it.
    other = login(make.user("planner"))
    assert (
        client.patch(
            f"/api/v1/inspections/{iid}",
            headers={**other, "If-Match": "*"},
            json={"dispatch_at": None},
        ).status_code
        == 404
    )
    insp = db_session.get(Inspection, uuid.UUID(iid))
    insp.status, insp.check_in_received_at = "in_progress", datetime.now(UTC)
    db_session.commit()
    late = client.patch(
        f"/api/v1/inspections/{iid}",
        headers={**planner, "If-Match": "*"},
        json={"dispatch_at": "2026-12-30T00:00:00Z"},
    )
    assert late.status_code == 409 and late.json["code"] == "inspection.already_started"


def test_confidential_until_check_in(client, make, login, team, db_session):
    ent = make.enterprise(jurisdiction="huayanglu")
    planner_user = make.user("planner")
    planner = login(planner_user)
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    created = client.post(
        "/api/v1/inspections", headers=planner, json=body(ent, team, dispatch_at=future)
    )
    iid = created.json["id"]
    assert created.json["status"] == "planned"

    def sees(headers) -> bool:
        listed = client.get("/api/v1/inspections?page_size=100", headers=headers)
        assert listed.status_code == 200
        in_list = iid in {i["id"] for i in listed.json}
        detail = client.get(f"/api/v1/inspections/{iid}", headers=headers).status_code
        findings = client.get(f"/api/v1/inspections/{iid}/findings", headers=headers).status_code
        assert (detail == 200) == in_list == (findings == 200)
        return in_list

    assigned = login(team[0])
    street_inspector = login(make.user("inspector", jurisdiction="huayanglu"))
    supervisor = login(make.user("supervisor"))
    admin = login(make.user("admin"))
    other_planner = login(make.user("planner"))
    enterprise = login(make.user("enterprise", jurisdiction="huayanglu", enterprise_id=ent.id))

    assert sees(planner)
    for headers in (assigned, street_inspector, supervisor, admin, other_planner, enterprise):
        assert not sees(headers)

    # Dispatched: the team sees it, nobody else does.
    dispatched = client.patch(
        f"/api/v1/inspections/{iid}",
        headers={**planner, "If-Match": "*"},
        json={"dispatch_at": "2020-01-01T00:00:00Z"},
    )
    assert dispatched.status_code == 200, dispatched.json
    assert sees(assigned)
    for headers in (street_inspector, supervisor, admin, other_planner, enterprise):
        assert not sees(headers)

    # Every read of it so far was audit-logged with its reader.
    reads = (
        db_session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "inspection.confidential_read", AuditEntry.entity_id == iid
            )
        )
        .scalars()
        .all()
    )
    readers = {e.actor for e in reads}
    assert planner_user.username in readers and team[0].username in readers
    assert {e.data["via"] for e in reads} >= {"list", "detail", "findings"}

    # Checked in: staff in scope and the enterprise see it; no more confidential-read entries.
    insp = db_session.get(Inspection, uuid.UUID(iid))
    insp.status, insp.check_in_received_at = "in_progress", datetime.now(UTC)
    db_session.commit()
    before = len(reads)
    for headers in (street_inspector, supervisor, enterprise):
        assert sees(headers)
    reads = (
        db_session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "inspection.confidential_read", AuditEntry.entity_id == iid
            )
        )
        .scalars()
        .all()
    )
    assert len(reads) == before
    # The enterprise sees no findings before the review.
    assert client.get(f"/api/v1/inspections/{iid}/findings", headers=enterprise).json == []


def test_planner_cancels_before_check_in_only(client, make, login, team):
    ent = make.enterprise()
    planner = login(make.user("planner"))
    created = client.post("/api/v1/inspections", headers=planner, json=body(ent, team)).json
    url = f"/api/v1/inspections/{created['id']}/cancel"
    assert client.post(url, headers=planner, json={"reason": "企业已停业"}).status_code == 428
    etag = client.get(f"/api/v1/inspections/{created['id']}", headers=planner).headers["ETag"]
    blank = client.post(url, headers={**planner, "If-Match": etag}, json={"reason": " "})
    assert blank.status_code == 422
    done = client.post(url, headers={**planner, "If-Match": etag}, json={"reason": "企业已停业"})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "cancelled" and done.json["version"] == created["version"] + 1
    # The team's devices are told: a check-in is refused.
    device = login(team[0])
    push = client.post(
        "/api/v1/sync/push",
        headers=device,
        json={
            "client_id": str(uuid.uuid4()),
            "mutations": [
                {
                    "id": 1,
                    "name": "inspection.check_in",
                    "args": {
                        "inspection_id": created["id"],
                        "at": "2026-01-01T00:00:00Z",
                        "location": {"lat": 31.2, "lon": 121.4, "accuracy": 5},
                    },
                }
            ],
        },
    )
    assert push.json["results"][0]["code"] == "inspection.cancelled"
    # A started inspection cannot be cancelled: 409 with what the planner may still do.
    other = client.post("/api/v1/inspections", headers=planner, json=body(ent, team)).json
    push = client.post(
        "/api/v1/sync/push",
        headers=device,
        json={
            "client_id": str(uuid.uuid4()),
            "mutations": [
                {
                    "id": 1,
                    "name": "inspection.check_in",
                    "args": {
                        "inspection_id": other["id"],
                        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                        "location": {"lat": 31.2, "lon": 121.4, "accuracy": 5},
                    },
                }
            ],
        },
    )
    assert push.json["results"][0]["status"] == "applied", push.json
    etag = client.get(f"/api/v1/inspections/{other['id']}", headers=planner).headers["ETag"]
    late = client.post(
        f"/api/v1/inspections/{other['id']}/cancel",
        headers={**planner, "If-Match": etag},
        json={"reason": "x"},
    )
    assert late.status_code == 409 and late.json["code"] == "inspection.invalid_transition"
    assert late.json["allowed_actions"] == []
