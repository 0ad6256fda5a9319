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


def _is_reconcile(statement: str) -> bool:
    """The reconcile's statement: what is visible against the known set (``sync.feed``)."""
    flat = " ".join(statement.split())
    return flat.startswith("SELECT") and "EXISTS (SELECT" in flat and "sync_known" in flat


def test_review_and_district_devices_follow_their_scope_from_the_log_alone(
    client: FlaskClient, site: Site, make: Any, login: Any, queries: Any
) -> None:
    """A street's supervisor and a district coordinator skip the reconcile while their
    fingerprint holds, yet after every kind of change below each device holds exactly what
    the server's rule lets its user see: an enterprise moved out of a street and back (by an
    edit, then by an import), an inspection elsewhere whose team takes the supervisor in at
    its dispatch time (the clock, no write) and lets them go (no change row), a ticket
    elsewhere assigned to them and taken away, a check-in and a finding in the street."""
    import csv
    import io
    from datetime import timedelta

    from app.db import session
    from app.hazards.models import Hazard
    from app.inspections.models import InspectionInspector
    from app.registry.models import Enterprise
    from tests.sync.test_stateful import server_view

    supervisor = make.user("supervisor", jurisdiction="huayanglu")
    devices = [
        {"user": user, "headers": login(user), "cid": str(uuid.uuid4()), "cursor": None, "view": {}}
        for user in (supervisor, make.user("supervisor", jurisdiction="xinhualu"))
    ]
    devices.append(
        {
            "user": (coordinator := make.user("coordinator")),
            "headers": login(coordinator),
            "cid": str(uuid.uuid4()),
            "cursor": None,
            "view": {},
        }
    )
    planner = login(make.user("planner"))
    reconciles = 0

    def sync_all() -> None:
        nonlocal reconciles
        for dev in devices:
            with queries:
                changes, dev["cursor"], _ = pull_all(
                    client, dev["headers"], dev["cid"], dev["cursor"]
                )
            reconciles += sum(_is_reconcile(s) for s in queries.statements)
            dev["view"] = state(changes, dev["view"])
            assert dev["view"] == server_view(site.app, dev["user"].id, site.clock.now), dev[
                "user"
            ].role

    sync_all()
    reconciles = 0
    sync_all()  # caught up: the log alone
    assert reconciles == 0

    # An enterprise of huayanglu with a started inspection and a finding, then moved.
    ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    team = [make.user("inspector", jurisdiction="huayanglu")]
    insp = make.inspection(ent.id, team, site.clock.now)
    resp = Push(client, login(team[0])).send(_check_in(site, insp), _finding(site, insp))
    assert [r["status"] for r in resp.json["results"]] == ["applied"] * 2, resp.json
    sync_all()
    assert ("enterprise", str(ent.id)) in devices[0]["view"]
    assert ("inspection", str(insp)) in devices[0]["view"]
    read = client.get(f"/api/v1/enterprises/{ent.id}", headers=planner)
    moved = client.patch(
        f"/api/v1/enterprises/{ent.id}",
        json={"jurisdiction": "xinhualu"},
        headers={**planner, "If-Match": read.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.json
    reconciles = 0
    sync_all()
    assert reconciles == 0  # the move came by the log to both streets
    assert ("enterprise", str(ent.id)) not in devices[0]["view"]
    assert devices[1]["view"][("enterprise", str(ent.id))]["jurisdiction"] == "xinhualu"
    # The inspection and its finding stay with the street they were made in.
    assert ("inspection", str(insp)) in devices[0]["view"]

    with site.app.app_context():
        e = session.get(Enterprise, ent.id)
        row = [e.name, e.uscc, e.industry, "huayanglu", e.address, e.risk_level, e.lon, e.lat]
    out = io.StringIO()
    csv.writer(out).writerows(
        [["企业名称", "统一社会信用代码", "行业", "街道", "地址", "风险等级", "经度", "纬度"], row]
    )
    imported = client.post(
        "/api/v1/enterprises/import", data=out.getvalue().encode(), headers=planner
    )
    assert imported.status_code == 200 and imported.json["updated"] == 1, imported.json
    sync_all()
    assert reconciles == 0
    assert ("enterprise", str(ent.id)) in devices[0]["view"]
    assert ("enterprise", str(ent.id)) not in devices[1]["view"]

    # An inspection in xinhualu with the huayanglu supervisor on its team, dispatched later.
    elsewhere = make.enterprise(jurisdiction="xinhualu", industry="gas_catering")
    later = make.inspection(
        elsewhere.id, [supervisor], site.clock.now, dispatch_at=site.clock.now + timedelta(hours=1)
    )
    sync_all()
    assert ("inspection", str(later)) not in devices[0]["view"]
    site.clock.advance(hours=1, seconds=1)
    for dev in devices:  # their access tokens expired meanwhile
        dev["headers"] = login(dev["user"])
    sync_all()  # no write at dispatch time: the fingerprint moved
    assert ("inspection", str(later)) in devices[0]["view"]
    with site.app.app_context():
        session.delete(session.get(InspectionInspector, (later, supervisor.id)))
        session.commit()
    sync_all()  # no change row at all
    assert ("inspection", str(later)) not in devices[0]["view"]

    # A ticket of xinhualu assigned to the huayanglu supervisor, then to nobody.
    ticket = _issue(site, elsewhere.id)
    sync_all()
    assert ("hazard", ticket) not in devices[0]["view"]
    assert ("hazard", ticket) in devices[1]["view"]
    for assignee in (supervisor.id, None):
        with site.app.app_context():
            from app.changelog import record_change

            hazard = session.get(Hazard, uuid.UUID(ticket))
            hazard.assignee_id = assignee
            hazard.version += 1
            record_change("hazard", hazard)
            session.commit()
        sync_all()
        assert (("hazard", ticket) in devices[0]["view"]) is (assignee is not None)

    reconciles = 0
    sync_all()
    assert reconciles == 0


def test_an_enterprise_edited_reaches_the_inspections_and_tickets_that_show_it(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    """An inspection and a ticket carry their enterprise's name and address: renaming it (by
    an edit, then by an import) sends both again to every device holding them, so none shows
    the old name; an edit of a field neither shows sends neither."""
    import csv
    import io

    from app.db import session
    from app.registry.models import Enterprise
    from tests.sync.test_stateful import server_view

    ticket = _issue(site, site.enterprise_id, site.inspection_id)
    inspector = site.inspectors[0]
    devices = [
        {"user": inspector, "headers": site.headers[inspector.username], "cid": str(uuid.uuid4())},
        {"user": (supervisor := make.user("supervisor", jurisdiction="huayanglu"))},
    ]
    devices[1] |= {"headers": login(supervisor), "cid": str(uuid.uuid4())}
    planner = login(make.user("planner"))
    for dev in devices:
        changes, dev["cursor"], _ = pull_all(client, dev["headers"], dev["cid"])
        dev["view"] = state(changes)

    def sync_all() -> list[list[tuple[str, str]]]:
        """Pull on every device; return what each received (type, id); each must then hold
        what the server's rule gives its user, data and all."""
        received = []
        for dev in devices:
            changes, dev["cursor"], _ = pull_all(client, dev["headers"], dev["cid"], dev["cursor"])
            dev["view"] = state(changes, dev["view"])
            assert dev["view"] == server_view(site.app, dev["user"].id, site.clock.now)
            received.append([(c["type"], c["id"]) for c in changes])
        return received

    def edit(**fields: Any) -> None:
        url = f"/api/v1/enterprises/{site.enterprise_id}"
        etag = client.get(url, headers=planner).headers["ETag"]
        resp = client.patch(url, json=fields, headers={**planner, "If-Match": etag})
        assert resp.status_code == 200, resp.json

    shown = {("inspection", str(site.inspection_id)), ("hazard", ticket)}
    assert shown <= devices[0]["view"].keys() and ("hazard", ticket) in devices[1]["view"]
    edit(name="长宁区华阳路老字号餐饮有限公司", address="上海市长宁区华阳路1号")
    for dev, got in zip(devices, sync_all(), strict=True):
        assert shown & dev["view"].keys() <= set(got)
    inspection = devices[0]["view"][("inspection", str(site.inspection_id))]
    assert inspection["enterprise"]["name"] == "长宁区华阳路老字号餐饮有限公司"
    for dev in devices:
        assert dev["view"][("hazard", ticket)]["enterprise"]["address"] == "上海市长宁区华阳路1号"

    edit(principal={"name": "赵六", "phone": "13900000000"})  # neither record shows it
    for got in sync_all():
        assert not shown & set(got) and ("enterprise", str(site.enterprise_id)) in got

    with site.app.app_context():
        e = session.get(Enterprise, site.enterprise_id)
        row = [e.name + "（新店）", e.uscc, e.industry, e.jurisdiction_code, e.address]
        row += [e.risk_level, e.lon, e.lat]
    out = io.StringIO()
    header = ["企业名称", "统一社会信用代码", "行业", "街道", "地址", "风险等级", "经度", "纬度"]
    csv.writer(out).writerows([header, row])
    imported = client.post(
        "/api/v1/enterprises/import", data=out.getvalue().encode(), headers=planner
    )
    assert imported.status_code == 200 and imported.json["updated"] == 1, imported.json
    for dev, got in zip(devices, sync_all(), strict=True):
        assert shown & dev["view"].keys() <= set(got)
    assert devices[0]["view"][("hazard", ticket)]["enterprise"]["name"].endswith("（新店）")
