"""The planner's console pages: sampling plans (create, commit, draw, redraw) and 四不两直."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from app.db import session
from app.inspections.models import Inspection
from app.planning.models import SamplingPlan

GOOD = {
    "name": "2026年第四季度燃气餐饮双随机抽查",
    "industries": "gas_catering",
    "rate_high": "1",
    "rate_medium": "1",
    "rate_low": "1",
    "team_size": "2",
    "exclude_inspected_within_days": "0",
}


def plan_count(app) -> int:
    with app.app_context():
        return session.scalar(select(func.count(SamplingPlan.id))) or 0


def test_the_plan_pages_are_for_planners(world, console):
    me = console(world.users["coordinator"])
    assert me.get("/console/plans").status_code == 403
    assert me.get("/console/dispatch").status_code == 403


def test_a_bad_plan_is_the_form_again_with_the_reasons_and_writes_nothing(world, console):
    me = console(world.users["planner"], accept_language="zh")
    assert me.get("/console/plans/new").status_code == 200
    refused = me.post(
        "/console/plans/new",
        {**GOOD, "rate_low": "0", "team_size": "1", "window_start": "2026-12-05T09:00"},
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert page.count('class="field-error"') >= 3
    assert re.search(r"[\u4e00-\u9fff]", page)
    assert plan_count(world.app) == 0


def test_create_commit_draw_and_redraw_with_a_reason(world, console):
    for _ in range(3):
        world.make.user("inspector", jurisdiction="changning")
    me = console(world.users["planner"])
    created = me.post(
        "/console/plans/new",
        {**GOOD, "window_start": "2026-12-05T09:00", "window_end": "2026-12-20T17:00"},
    )
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    url = created.headers["Location"]
    plan_id = url.rsplit("/", 1)[1]
    page = me.get(url).get_data(as_text=True)
    assert 'id="commit"' in page

    def version() -> str:
        with world.app.app_context():
            return str(session.get(SamplingPlan, uuid.UUID(plan_id)).version)

    stale = me.post(f"{url}/commit", {"version": "999"})
    assert stale.status_code == 412
    assert me.post(f"{url}/commit", {"version": version()}).status_code == 302
    assert me.post(f"{url}/draw", {"version": version()}).status_code == 302
    page = me.get(url).get_data(as_text=True)
    assert f'href="/public/sampling/{plan_id}"' in page
    assert world.ent.name in page and 'class="list draw-result"' in page
    refused = me.post(f"{url}/commit", {"version": version()})
    assert refused.status_code == 422 and 'class="field-error"' in refused.get_data(as_text=True)
    again = me.post(f"{url}/commit", {"version": version(), "reason": "抽取时名录有误"})
    assert again.status_code == 302
    assert me.post(f"{url}/draw", {"version": version()}).status_code == 302
    page = me.get(url).get_data(as_text=True)
    assert "抽取时名录有误" in page and 'id="draw-2"' in page
    listed = me.get("/console/plans").get_data(as_text=True)
    assert GOOD["name"] in listed
    # another planner's plan is not there
    assert console(world.make.user("planner")).get(url).status_code == 404


def test_dispatching_an_unannounced_inspection_only_its_team_sees(world, console):
    team = [world.make.user("inspector") for _ in range(2)]
    me = console(world.users["planner"])
    page = me.get("/console/dispatch").get_data(as_text=True)
    assert world.ent.name in page and team[0].name in page
    refused = me.post(
        "/console/dispatch",
        {"enterprise": "没有这家企业", "inspector_ids": [str(u.id) for u in team]},
    )
    assert refused.status_code == 422 and 'class="field-error"' in refused.get_data(as_text=True)
    one = me.post(
        "/console/dispatch", {"enterprise": world.ent.name, "inspector_ids": [str(team[0].id)]}
    )
    assert one.status_code == 422
    with world.app.app_context():
        assert (
            session.scalar(
                select(func.count()).select_from(
                    select(Inspection).where(Inspection.type == "unannounced").subquery()
                )
            )
            == 0
        )
    done = me.post(
        "/console/dispatch",
        {
            "enterprise": world.ent.name,
            "inspector_ids": [str(u.id) for u in team],
            "window_start": "2026-12-05T09:00",
            "window_end": "2026-12-05T17:00",
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    with world.app.app_context():
        insp = session.scalars(select(Inspection).where(Inspection.type == "unannounced")).one()
        insp_id = insp.id
    client = world.client
    path = f"/api/v1/inspections/{insp_id}"
    assert client.get(path, headers=world.login(team[0])).status_code == 200
    assert client.get(path, headers=world.headers("inspector_other")).status_code == 404
    assert client.get(path, headers=world.headers("enterprise")).status_code == 404
    assert world.ent.name in me.get("/console/dispatch").get_data(as_text=True)
    # and in the console: the planner and the team see its page, nobody else
    page = f"/console/inspections/{insp_id}"
    assert me.get(page).status_code == 200
    assert console(team[1]).get(page).status_code == 200
    assert console(world.users["inspector_other"]).get(page).status_code == 404
    assert console(world.users["enterprise"]).get(page).status_code == 404
    assert console(world.users["coordinator"]).get(page).status_code == 404


def test_a_large_draw_shows_its_progress_until_the_worker_has_drawn_it(world, console):
    from app.planning.services import run_draw_jobs
    from app.settings import override_settings

    for _ in range(3):
        world.make.user("inspector", jurisdiction="changning")
    override_settings(world.app, draw_inline_max_population=0)
    me = console(world.users["planner"], accept_language="zh")
    created = me.post("/console/plans/new", GOOD)
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    url = created.headers["Location"]
    plan_id = uuid.UUID(url.rsplit("/", 1)[1])

    def version() -> str:
        with world.app.app_context():
            return str(session.get(SamplingPlan, plan_id).version)

    assert me.post(f"{url}/commit", {"version": version()}).status_code == 302
    assert me.post(f"{url}/draw", {"version": version()}).status_code == 302
    page = me.get(url).get_data(as_text=True)
    assert 'id="draw-progress"' in page and "抽取已排队" in page
    assert '<meta http-equiv="refresh"' in page and 'id="draw"' not in page
    with world.app.app_context():
        assert run_draw_jobs() == 1
    page = me.get(url).get_data(as_text=True)
    assert 'id="draw-progress"' not in page and '<meta http-equiv="refresh"' not in page
    assert 'class="list draw-result"' in page
