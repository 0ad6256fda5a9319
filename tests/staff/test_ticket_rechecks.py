"""A ticket's recheck visits (复查) in the console: on the ticket's page with their results, and
on the visit's page the tickets it covers; a visit not yet checked in shows only to its planner
and team, as through the API."""

from __future__ import annotations

import re

from tests.hazards.helpers import sha, z
from tests.sync.test_push import Push

SITE = {"lat": 31.2195, "lon": 121.4265, "accuracy": 6.0}


def rechecks_of(page) -> str:
    html = page.get_data(as_text=True)
    found = re.search(r'id="ticket-rechecks">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, html[:2000]
    return found.group(1)


def test_a_ticket_shows_its_recheck_visits_and_their_results(world, client, console, clock):
    hid = world.hazard(status="rectified")
    team = [world.users["inspector_recheck"], world.make.user("inspector")]
    resp = client.post(
        "/api/v1/inspections",
        json={
            "type": "recheck",
            "enterprise_id": str(world.ent.id),
            "inspector_ids": [str(u.id) for u in team],
            "industry": "gas_catering",
            "hazard_ids": [str(hid)],
        },
        headers=world.login(world.users["planner"]),
    )
    assert resp.status_code == 201, resp.json
    visit = resp.json["id"]
    ticket = f"/console/hazards/{hid}"
    planner = console(world.users["planner"], accept_language="zh")
    waiting = rechecks_of(planner.get(ticket))
    assert f'href="/console/inspections/{visit}"' in waiting and "待复查" in waiting
    # before check-in the visit is the planner's and the team's secret
    for who in ("coordinator", "enterprise"):
        assert "/console/inspections/" not in rechecks_of(console(world.users[who]).get(ticket))
    dev = Push(client, world.login(team[0]))
    dev.send(
        ("inspection.check_in", {"inspection_id": visit, "at": z(clock.now), "location": SITE})
    )
    done = dev.send(
        (
            "hazard.recheck",
            {
                "hazard_id": str(hid),
                "result": "pass",
                "note": "复查合格",
                "photos": [sha("recheck")],
                "at": z(clock.now),
                "inspection_id": visit,
            },
        )
    )
    assert done.json["results"][0]["status"] == "applied", done.json
    coordinator = console(world.users["coordinator"], accept_language="zh")
    passed = rechecks_of(coordinator.get(ticket))
    assert "复查通过" in passed and team[0].name in passed
    # the enterprise sees the visit once it happened, without a link to the inspection page
    own = rechecks_of(console(world.users["enterprise"], accept_language="zh").get(ticket))
    assert "复查通过" in own and "/console/inspections/" not in own
    # the visit's page lists the tickets it rechecked, with the result
    page = planner.get(f"/console/inspections/{visit}").get_data(as_text=True)
    covered = re.search(r'id="covered-tickets">(.*?)</section>', page, re.S).group(1)
    assert f'href="/console/hazards/{hid}"' in covered and "复查通过" in covered
