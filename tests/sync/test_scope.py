"""What a device receives: an inspector's own work, not their street; other staff their org
scope. Entities that leave the work (taken off the team, the ticket closed) leave the device."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

from tests.sync.conftest import Site
from tests.sync.test_pull import pull_all, state
from tests.sync.test_push import Push


def _check_in(site: Site, inspection_id: Any) -> tuple[str, dict[str, Any]]:
    return (
        "inspection.check_in",
        {
            "inspection_id": str(inspection_id),
            "at": site.at(),
            "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 6},
        },
    )


def _finding(site: Site, inspection_id: Any) -> tuple[str, dict[str, Any]]:
    return (
        "finding.put",
        {
            "id": str(uuid.uuid4()),
            "inspection_id": str(inspection_id),
            "item_code": site.item_codes[0],
            "result": "fail",
            "recorded_at": site.at(),
        },
    )


def _issue(site: Site, enterprise_id: Any, inspection_id: Any = None) -> str:
    """Issue a ticket at the enterprise: from the inspection when one is named."""
    from app.clock import utcnow
    from app.db import session
    from app.hazards.services import issue_hazard
    from app.registry.models import Enterprise

    with site.app.app_context():
        hazard = issue_hazard(
            source="inspection" if inspection_id else "supervision",
            enterprise=session.get(Enterprise, enterprise_id),
            grade="general",
            description="燃气软管老化",
            actor=None,
            inspection_id=inspection_id,
            now=utcnow(),
        )
        session.commit()
        return str(hazard.id)


def _ids(view: dict[tuple[str, str], Any], entity_type: str) -> set[str]:
    return {i for t, i in view if t == entity_type}


def _assert_ok(resp: Any) -> Any:
    assert resp.status_code < 300, resp.json
    return resp.json


def test_an_inspector_receives_their_work_not_the_rest_of_their_street(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    # Another team of the same street, checked in at another enterprise, with a finding.
    other_ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    other_team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(2)]
    other_insp = make.inspection(other_ent.id, other_team, site.clock.now)
    resp = Push(client, login(other_team[0])).send(
        _check_in(site, other_insp), _finding(site, other_insp)
    )
    assert [r["status"] for r in resp.json["results"]] == ["applied", "applied"]
    other_finding = resp.json["results"][1]["entity"]["id"]
    idle_ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    street_tickets = {_issue(site, other_ent.id, other_insp), _issue(site, idle_ent.id)}
    own_ticket = _issue(site, site.enterprise_id, site.inspection_id)

    mine = state(pull_all(client, site.headers[site.inspectors[0].username], str(uuid.uuid4()))[0])
    assert _ids(mine, "inspection") == {str(site.inspection_id)}
    assert _ids(mine, "finding") == set()
    assert _ids(mine, "enterprise") == {str(site.enterprise_id)}
    assert _ids(mine, "hazard") == {own_ticket}
    assert len(_ids(mine, "checklist")) == 10  # checklists stay as they are

    # A supervisor of the street still receives the street (their device is for review).
    supervisor = make.user("supervisor", jurisdiction="huayanglu")
    theirs = state(pull_all(client, login(supervisor), str(uuid.uuid4()))[0])
    assert str(other_insp) in _ids(theirs, "inspection")
    assert other_finding in _ids(theirs, "finding")
    assert {str(other_ent.id), str(idle_ent.id)} <= _ids(theirs, "enterprise")
    assert street_tickets | {own_ticket} <= _ids(theirs, "hazard")


def test_a_district_inspector_receives_their_work_not_the_district(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    team = [make.user("inspector", jurisdiction="changning") for _ in range(2)]
    elsewhere = make.enterprise(jurisdiction="xinhualu", industry="gas_catering")
    insp = make.inspection(elsewhere.id, team, site.clock.now)
    Push(client, site.headers[site.inspectors[0].username]).send(
        _check_in(site, site.inspection_id)
    )
    view = state(pull_all(client, login(team[0]), str(uuid.uuid4()))[0])
    assert _ids(view, "inspection") == {str(insp)}
    assert _ids(view, "enterprise") == {str(elsewhere.id)}


def test_recheck_tickets_reach_the_team_and_a_closed_ticket_leaves(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    from app.clock import utcnow
    from app.db import session
    from app.hazards.services import apply_action
    from app.org.models import User
    from app.settings import get_settings

    covered, other = _issue(site, site.enterprise_id), _issue(site, site.enterprise_id)
    team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(2)]
    headers = login(team[0])
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, headers, cid)
    assert _ids(state(changes), "hazard") == set()

    planner = make.user("planner")
    visit = _assert_ok(
        client.post(
            "/api/v1/inspections",
            json={
                "type": "recheck",
                "enterprise_id": str(site.enterprise_id),
                "inspector_ids": [str(u.id) for u in team],
                "hazard_ids": [covered],
            },
            headers=login(planner),
        )
    )
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    view = state(changes)
    assert _ids(view, "hazard") == {covered}  # the ticket the visit names, not the other
    assert _ids(view, "inspection") == {visit["id"]}
    assert _ids(view, "enterprise") == {str(site.enterprise_id)}

    dev = Push(client, headers)
    resp = dev.send(
        _check_in(site, visit["id"]),
        (
            "hazard.recheck",
            {
                "hazard_id": covered,
                "inspection_id": visit["id"],
                "result": "pass",
                "note": "已更换",
                "photos": ["ab" * 32],
                "at": site.at(),
            },
        ),
    )
    assert [r["status"] for r in resp.json["results"]] == ["applied", "applied"], resp.json
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    view = state(changes, view)
    # The visit closed with its result; the verified ticket stays on the phone until closed.
    assert view[("inspection", visit["id"])]["status"] == "closed"
    assert view[("hazard", covered)]["status"] == "verified"

    with site.app.app_context():
        closer = get_settings().responsible_department("gas_catering")
    supervisor = make.user("supervisor", jurisdiction="changning", department_code=closer)
    with site.app.app_context():
        apply_action(
            session.get(User, supervisor.id),
            uuid.UUID(covered),
            {"action": "close", "note": "同意销号"},
            now=utcnow(),
        )
        session.commit()
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    assert [(c["type"], c["id"], c["op"]) for c in changes] == [("hazard", covered, "delete")]
    assert other not in _ids(state(changes, view), "hazard")


def test_an_inspector_taken_off_the_team_loses_the_inspection_and_its_enterprise(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    planner = make.user("planner")
    planner_headers = login(planner)
    team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(3)]
    ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    created = client.post(
        "/api/v1/inspections",
        json={
            "type": "routine",
            "enterprise_id": str(ent.id),
            "inspector_ids": [str(u.id) for u in team],
        },
        headers=planner_headers,
    )
    insp = _assert_ok(created)
    headers = login(team[2])
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, headers, cid)
    view = state(changes)
    assert _ids(view, "inspection") == {insp["id"]}
    assert _ids(view, "enterprise") == {str(ent.id)}

    _assert_ok(
        client.patch(
            f"/api/v1/inspections/{insp['id']}",
            json={"inspector_ids": [str(u.id) for u in team[:2]]},
            headers={**planner_headers, "If-Match": created.headers["ETag"]},
        )
    )
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    assert sorted((c["type"], c["id"], c["op"]) for c in changes) == [
        ("enterprise", str(ent.id), "delete"),
        ("inspection", insp["id"], "delete"),
    ]
    changes, _, _ = pull_all(client, headers, cid, cursor)
    assert changes == []


def test_a_caught_up_inspector_whose_work_changes_without_a_change_row_gets_it_reconciled(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    """A caught-up inspector's pull skips the reconcile while their work is the same (the
    cursor keeps its fingerprint). Their work changing with no change row at all (here a
    team row written straight to the table) changes the fingerprint: the next page
    reconciles and sends the inspection, its enterprise and the findings recorded before."""
    from app.db import session
    from app.inspections.models import InspectionInspector

    team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(2)]
    ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    insp = make.inspection(ent.id, team[:1], site.clock.now)
    resp = Push(client, login(team[0])).send(
        _check_in(site, insp), _finding(site, insp), _finding(site, insp)
    )
    assert [r["status"] for r in resp.json["results"]] == ["applied"] * 3, resp.json
    findings = {r["entity"]["id"] for r in resp.json["results"][1:]}

    headers = login(team[1])
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, headers, cid)
    assert _ids(state(changes), "inspection") == set()
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    assert changes == []

    with site.app.app_context():
        session.add(InspectionInspector(inspection_id=insp, user_id=team[1].id))
        session.commit()
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    view = state(changes)
    assert _ids(view, "inspection") == {str(insp)}
    assert _ids(view, "finding") == findings
    assert _ids(view, "enterprise") == {str(ent.id)}
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    assert changes == []

    with site.app.app_context():
        session.delete(session.get(InspectionInspector, (insp, team[1].id)))
        session.commit()
    changes, _, _ = pull_all(client, headers, cid, cursor)
    assert sorted((c["type"], c["op"]) for c in changes) == [
        ("enterprise", "delete"),
        *[("finding", "delete")] * 2,
        ("inspection", "delete"),
    ]


def test_checklists_are_read_whole_once_per_process_and_a_changed_one_again(
    client: FlaskClient, site: Site, queries: Any
) -> None:
    """Every first sync sends every checklist: their content is read and decoded once per
    process, and a version whose columns differ from what was kept is read again."""
    from sqlalchemy import select

    from app.checklists.models import ChecklistVersion
    from app.db import session

    headers = site.headers[site.inspectors[0].username]

    def forms(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {c["id"]: c["data"] for c in changes if c["type"] == "checklist"}

    first, _cursor, _pages = pull_all(client, headers, str(uuid.uuid4()))
    with queries:
        again, _cursor, _pages = pull_all(client, headers, str(uuid.uuid4()))
    assert forms(first) and forms(again) == forms(first)
    assert not [s for s in queries.statements if "checklist_versions.content" in s]

    with client.application.app_context():
        cv = session.execute(select(ChecklistVersion).order_by(ChecklistVersion.id)).scalar()
        assert cv is not None
        cv.name, renamed = "改过名的检查表", str(cv.id)
        session.commit()
    third, _cursor, _pages = pull_all(client, headers, str(uuid.uuid4()))
    assert forms(third)[renamed]["name"] == "改过名的检查表"
    assert {k: v for k, v in forms(third).items() if k != renamed} == {
        k: v for k, v in forms(first).items() if k != renamed
    }
