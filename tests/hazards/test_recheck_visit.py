"""A recheck (复查) as a real visit: planned for named tickets, checked in, a result per ticket."""

from __future__ import annotations

import uuid
from typing import Any

from tests.hazards.helpers import T0, World, sha, z
from tests.sync.test_push import Push

SITE = {"lat": 31.2195, "lon": 121.4265, "accuracy": 6.0}


def test_a_recheck_visit_end_to_end(world: World, client: Any, clock: Any) -> None:
    from app.db import session
    from app.hazards.models import HazardEvent, RecheckItem

    fixed = world.hazard(status="rectified")
    failing = world.hazard(status="rectified")
    elsewhere = world.hazard(status="rectified", enterprise=world.other_ent)
    team = [world.users["inspector_recheck"], world.make.user("inspector")]
    planner = world.login(world.users["planner"])
    body = {
        "type": "recheck",
        "enterprise_id": str(world.ent.id),
        "inspector_ids": [str(u.id) for u in team],
        "industry": "gas_catering",
    }
    # Only tickets of the enterprise that wait for a recheck can be covered.
    wrong = client.post(
        "/api/v1/inspections",
        json={**body, "hazard_ids": [str(fixed), str(elsewhere)]},
        headers=planner,
    )
    assert wrong.status_code == 422 and wrong.json["code"] == "inspection.hazards_invalid"
    assert list(wrong.json["errors"]["hazard_ids"]) == [str(elsewhere)]
    resp = client.post(
        "/api/v1/inspections",
        json={**body, "hazard_ids": [str(fixed), str(failing)]},
        headers=planner,
    )
    assert resp.status_code == 201, resp.json
    insp_id = resp.json["id"]
    assert resp.json["recheck_hazard_ids"] == sorted([str(fixed), str(failing)])

    dev = Push(client, world.login(team[0]))

    def recheck(hid: uuid.UUID, result: str, **extra: Any) -> dict[str, Any]:
        args = {
            "hazard_id": str(hid),
            "result": result,
            "note": "复查合格" if result == "pass" else "仍未整改",
            "photos": [sha(f"recheck/{hid}")] if result == "pass" else [],
            "at": z(clock.now),
            "inspection_id": insp_id,
            **extra,
        }
        out = dev.send(("hazard.recheck", args))
        assert out.status_code == 200, out.json
        result_: dict[str, Any] = out.json["results"][0]
        return result_

    # Before check-in the visit takes no result.
    early = recheck(fixed, "pass")
    assert early["code"] == "inspection.not_checked_in"
    check_in = dev.send(
        (
            "inspection.check_in",
            {"inspection_id": insp_id, "at": z(clock.now), "location": SITE},
        )
    )
    assert check_in.json["results"][0]["status"] == "applied"
    submit = dev.send(("inspection.submit", {"inspection_id": insp_id, "at": z(clock.now)}))
    refused = submit.json["results"][0]
    assert (
        refused["code"] == "inspection.invalid_transition"
        and "hazard.recheck" in refused["message"]
    )
    assert recheck(fixed, "pass")["status"] == "applied"
    with world.app.app_context():
        event = session.query(HazardEvent).filter_by(hazard_id=fixed, action="recheck").one()
        assert event.data["inspection_id"] == insp_id
        assert event.data["location"] == SITE  # the check-in's place, as none was sent
    status = client.get(f"/api/v1/inspections/{insp_id}", headers=planner).json["status"]
    assert status == "in_progress"  # one ticket still to recheck

    deadline = z(T0.replace(month=4))
    here = {"lat": 31.2196, "lon": 121.4266, "accuracy": 4.0}
    assert recheck(failing, "fail", deadline=deadline, location=here)["status"] == "applied"
    insp = client.get(f"/api/v1/inspections/{insp_id}", headers=planner).json
    assert insp["status"] == "closed"
    with world.app.app_context():
        rows = {r.hazard_id: r.result for r in session.query(RecheckItem).all()}
        assert rows == {fixed: "pass", failing: "fail"}
        event = session.query(HazardEvent).filter_by(hazard_id=failing, action="recheck").one()
        assert event.data["location"] == here
    tickets = {
        hid: client.get(f"/api/v1/hazards/{hid}", headers=planner).json["status"]
        for hid in (fixed, failing)
    }
    assert tickets == {fixed: "verified", failing: "rectifying"}
    # A closed visit takes no more results: its team is no longer rechecking the enterprise.
    assert recheck(failing, "pass")["code"] == "hazard.invalid_transition"

    # The visit counts as 复查 in the inspections report.
    report = client.get(
        "/api/v1/reports/inspections",
        query_string={"by": "type", "from": "2026-03-01", "to": "2026-03-31"},
        headers=world.login(world.users["admin"]),
    )
    assert report.status_code == 200, report.json
    rows = {r["key"]: r for r in report.json["rows"]}
    assert rows["recheck"]["inspections"] == 1


def test_a_recheck_needs_a_ticket_to_recheck(world: World, client: Any) -> None:
    body = {
        "type": "recheck",
        "enterprise_id": str(world.ent.id),
        "inspector_ids": [
            str(world.users["inspector_recheck"].id),
            str(world.make.user("inspector").id),
        ],
    }
    planner = world.login(world.users["planner"])
    none = client.post("/api/v1/inspections", json=body, headers=planner)
    assert none.status_code == 422 and none.json["code"] == "inspection.nothing_to_recheck"
    waiting = world.hazard(status="rectifying")
    resp = client.post("/api/v1/inspections", json=body, headers=planner)
    assert resp.status_code == 201, resp.json
    from app.db import session
    from app.hazards.models import RecheckItem

    with world.app.app_context():
        covered = [
            r.hazard_id
            for r in session.query(RecheckItem).filter_by(inspection_id=uuid.UUID(resp.json["id"]))
        ]
        assert covered == [waiting]
    routine = client.post(
        "/api/v1/inspections",
        json={**body, "type": "routine", "hazard_ids": [str(waiting)]},
        headers=planner,
    )
    assert routine.status_code == 422 and "hazard_ids" in routine.json["errors"]


def test_a_recheck_outside_a_visit_says_where_it_was_made(
    world: World, client: Any, clock: Any
) -> None:
    hid = world.hazard(status="rectified")
    dev = Push(client, world.login(world.users["inspector_assignee"]))
    args = {
        "hazard_id": str(hid),
        "result": "pass",
        "note": "复查合格",
        "photos": [sha("proof")],
        "at": z(clock.now),
    }
    out = dev.send(("hazard.recheck", args), ("hazard.recheck", {**args, "location": SITE}))
    first, second = out.json["results"]
    assert first["code"] == "recheck.location_required"
    assert second["status"] == "applied"
