"""Reading tickets costs a fixed number of SQL statements, whatever the page size."""

from __future__ import annotations

from typing import Any

from tests.hazards.helpers import World


def _list_cost(world: World, queries: Any, expected: int) -> int:
    headers = world.headers("coordinator")
    with queries:
        resp = world.client.get("/api/v1/hazards?page_size=100", headers=headers)
    assert resp.status_code == 200, resp.json
    assert len(resp.json) == expected
    assert all(h["enterprise"]["name"] and h["overdue"] is False for h in resp.json)
    return queries.count


def test_listing_tickets_costs_the_same_statements_for_5_as_for_25(world: World, queries: Any):
    for _ in range(5):
        world.hazard()
    five = _list_cost(world, queries, 5)
    for _ in range(20):
        world.hazard(enterprise=world.other_ent)
    twenty_five = _list_cost(world, queries, 25)
    assert twenty_five == five


def test_reading_a_ticket_costs_the_same_statements_however_long_its_timeline(
    world: World, queries: Any
):
    hid = world.hazard()
    headers = world.headers("coordinator")
    with queries:
        assert world.client.get(f"/api/v1/hazards/{hid}", headers=headers).status_code == 200
    short = queries.count
    for n in range(10):
        resp = world.act(hid, "coordinator", {"action": "comment", "note": f"第{n}次"})
        assert resp.status_code == 200, resp.json
    with queries:
        resp = world.client.get(f"/api/v1/hazards/{hid}", headers=headers)
    assert resp.status_code == 200 and len(resp.json["timeline"]) == 11
    assert queries.count == short
