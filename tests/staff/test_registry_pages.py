"""The planner's registry pages: the enterprises (a page each) and the inspectors, scoped as the
API scopes them, with confidential 四不两直 visits counted for their planner only, and statement
counts that do not grow with the data."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.db import session
from app.inspections.models import Inspection, InspectionInspector
from tests.documents.conftest import T0 as DOC_T0
from tests.documents.conftest import build_case
from tests.hazards.helpers import T0, Clock


def rows_of(page, table: str) -> list[str]:
    html = page.get_data(as_text=True)
    body = re.search(rf'<table class="list" id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, html[:2000]
    return re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)


def checked_in(world, ent, team, at=T0) -> uuid.UUID:
    """A routine inspection of ``ent`` checked in at ``at`` by ``team``."""
    with world.app.app_context():
        insp = Inspection(
            type="routine",
            status="in_progress",
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry=ent.industry,
            check_in_at=at,
            check_in_received_at=at + timedelta(seconds=3),
        )
        session.add(insp)
        session.flush()
        for u in team:
            session.add(InspectionInspector(inspection_id=insp.id, user_id=u.id))
        session.commit()
        return insp.id


def unannounced(world, planner, team, ent=None) -> uuid.UUID:
    """A 四不两直 inspection planned by ``planner`` for ``team``, dispatched later."""
    with world.app.app_context():
        ent = ent or world.ent
        insp = Inspection(
            type="unannounced",
            status="planned",
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry=ent.industry,
            planner_id=planner.id,
            dispatch_at=T0 + timedelta(days=3),
        )
        session.add(insp)
        session.flush()
        for u in team:
            session.add(InspectionInspector(inspection_id=insp.id, user_id=u.id))
        session.commit()
        return insp.id


def test_the_registry_pages_are_for_planners_and_admins(world, console):
    for who in ("coordinator", "supervisor_other", "inspector_other", "enterprise"):
        me = console(world.users[who])
        assert me.get("/console/enterprises").status_code == 403
        assert me.get(f"/console/enterprises/{world.ent.id}").status_code == 403
        assert me.get("/console/inspectors").status_code == 403
    for who in ("planner", "admin"):
        me = console(world.users[who])
        nav = me.get("/console/work").get_data(as_text=True)
        assert 'href="/console/enterprises"' in nav and 'href="/console/inspectors"' in nav
        assert me.get("/console/enterprises").status_code == 200
        assert me.get("/console/inspectors").status_code == 200


def test_the_enterprises_list_filters_and_shows_last_inspection_and_open_hazards(world, console):
    world.hazard()
    world.hazard(status="rectifying")
    world.hazard(status="closed")
    checked_in(world, world.ent, [world.users["inspector_other"]])
    me = console(world.users["planner"], accept_language="zh")
    listed = rows_of(me.get("/console/enterprises"), "enterprises")
    assert len(listed) == 2
    mine = next(r for r in listed if world.ent.name in r)
    assert world.ent.uscc in mine and "华阳路" in mine and "燃气" in mine and "中风险" in mine
    assert "2026-" in mine  # T0, the check-in, as a Beijing date
    assert re.search(r'class="open-hazards">2<', mine)  # the closed ticket does not count
    other = next(r for r in listed if world.other_ent.name in r)
    assert re.search(r'class="open-hazards">0<', other) and "—" in other
    # the API's filters
    only = rows_of(me.get("/console/enterprises?jurisdiction=xinhualu"), "enterprises")
    assert len(only) == 1 and world.other_ent.name in only[0]
    by_code = rows_of(me.get(f"/console/enterprises?q={world.ent.uscc}"), "enterprises")
    assert len(by_code) == 1 and world.ent.name in by_code[0]
    high = rows_of(me.get("/console/enterprises?risk_level=high"), "enterprises")
    assert len(high) == 1 and "muted" in high[0]
    none = rows_of(me.get("/console/enterprises?industry=hot_work"), "enterprises")
    assert len(none) == 1 and "muted" in none[0]
    # a wrong filter is a 422 page with the field marked, never a 500
    bad = me.get("/console/enterprises?risk_level=extreme&page=x")
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.get_data(as_text=True)


def test_a_street_planner_sees_only_its_street_and_the_rest_is_404(world, console):
    street = console(world.make.user("planner", jurisdiction="huayanglu"))
    listed = rows_of(street.get("/console/enterprises"), "enterprises")
    assert len(listed) == 1 and world.ent.name in listed[0]
    assert street.get(f"/console/enterprises/{world.ent.id}").status_code == 200
    assert street.get(f"/console/enterprises/{world.other_ent.id}").status_code == 404
    assert street.get(f"/console/enterprises/{uuid.uuid4()}").status_code == 404
    assert street.get("/console/enterprises/not-a-uuid").status_code == 404
    # inspectors: its street's and the district's, not another street's
    far = world.make.user("inspector", jurisdiction="xinhualu")
    near = world.make.user("inspector", jurisdiction="huayanglu")
    page = street.get("/console/inspectors").get_data(as_text=True)
    assert near.name in page and world.users["inspector_other"].name in page
    assert far.name not in page


def test_the_enterprise_page_shows_its_inspections_open_tickets_and_documents(
    app, client, make, login, console
):
    app.config["CLOCK"] = Clock(DOC_T0 + timedelta(hours=2))
    app.config["ACCESS_TOKEN_TTL"] = 400 * 24 * 3600
    case = build_case(app, client, make, login)
    inspector = console(case.inspectors[0])
    path = f"/console/inspections/{case.inspection_id}/documents"
    assert inspector.post(path, {"kind": "rectification_order"}).status_code == 302
    planner = console(make.user("planner", department_code="safety_office"), accept_language="zh")
    page = planner.get(f"/console/enterprises/{case.enterprise.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert case.enterprise.uscc in html and case.enterprise.name in html
    assert f'href="/console/inspections/{case.inspection_id}"' in html
    for hid in case.hazard_ids:
        assert f'href="/console/hazards/{hid}"' in html
    docs = re.search(r'id="enterprise-documents">(.*?)</section>', html, re.S).group(1)
    assert "责令限期整改指令书" in docs and "/pdf" in docs


def test_a_planned_unannounced_visit_counts_only_for_its_planner(world, console):
    mine, theirs = world.users["planner"], world.make.user("planner")
    team = [world.users["inspector_other"], world.users["inspector_assignee"]]
    insp = unannounced(world, mine, team)
    world.hazard()  # assigned to inspector_assignee
    own = console(mine)

    def counts(me, user) -> tuple[str, str]:
        row = next(
            r for r in rows_of(me.get("/console/inspectors"), "inspectors") if user.name in r
        )
        found = re.search(r'open-inspections">(\d+)<.*open-tickets">(\d+)<', row, re.S)
        return found.group(1), found.group(2)

    assert counts(own, team[0]) == ("1", "0")
    assert counts(own, team[1]) == ("1", "1")
    other = console(theirs)
    assert counts(other, team[0]) == ("0", "0")
    assert counts(other, team[1]) == ("0", "1")
    # on the enterprise's page: the planner sees it (the read is audit-logged), no other does
    assert f"/console/inspections/{insp}" in own.get(
        f"/console/enterprises/{world.ent.id}"
    ).get_data(as_text=True)
    with world.app.app_context():
        logged = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "inspection.confidential_read",
                AuditEntry.entity_id == str(insp),
            )
        ).all()
        assert logged and logged[-1].data["via"] == "console.enterprise"
    seen = other.get(f"/console/enterprises/{world.ent.id}").get_data(as_text=True)
    assert f"/console/inspections/{insp}" not in seen


def test_the_registry_pages_cost_the_same_statements_however_long(world, console, queries):
    me = console(world.users["planner"])
    team = [world.users["inspector_other"], world.users["inspector_assignee"]]
    paths = ["/console/enterprises", "/console/inspectors", f"/console/enterprises/{world.ent.id}"]

    def more() -> None:
        ent = world.make.enterprise()
        world.make.user("inspector")
        world.hazard(enterprise=ent)
        world.hazard()
        checked_in(world, ent, team)
        checked_in(world, world.ent, team)
        unannounced(world, world.users["planner"], team)

    more()
    small = {}
    for path in paths:
        with queries:
            assert me.get(path).status_code == 200
        small[path] = queries.count
    for _ in range(5):
        more()
    for path in paths:
        with queries:
            page = me.get(path)
        assert page.status_code == 200
        assert queries.count == small[path], (path, queries.statements)
    assert len(rows_of(me.get(paths[0]), "enterprises")) == 8
