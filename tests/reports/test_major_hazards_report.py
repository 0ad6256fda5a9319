"""GET /api/v1/reports/major-hazards: the 动态清零 list, most overdue first, scoped."""

from __future__ import annotations

URL = "/api/v1/reports/major-hazards"


def test_open_major_hazards_most_overdue_first(get, world):
    resp = get("coordinator", URL)
    assert resp.status_code == 200, resp.json
    body = resp.json
    ids = [r["hazard_id"] for r in body["rows"]]
    # h6 (38 days overdue), h2 (5 days overdue), then h4 (rectified: not overdue); h7 is closed.
    assert ids == [str(world.hazards[k]) for k in ("h6", "h2", "h4")]
    h6, h2, h4 = body["rows"]
    assert h6["overdue"] is True and h6["days_overdue"] == 38 and h6["days_open"] == 69
    assert h6["escalation_level"] == 4 and h6["escalation"] == "曝光"
    assert h6["listed"] is True and h6["has_plan"] is False
    assert h6["jurisdiction"] == "xinhualu" and h6["jurisdiction_name"] == "新华路街道"
    assert h6["enterprise"]["id"] == str(world.ents["e3"].id)
    assert h6["enterprise"]["name"] == world.ents["e3"].name
    assert h6["deadline"] == "2026-02-10T04:00:00Z"
    assert h6["industry_name"] == "燃气餐饮"
    assert (h2["days_overdue"], h2["days_open"], h2["status"]) == (5, 18, "rectifying")
    assert h2["has_plan"] is True and h2["escalation"] == "通报"
    assert (h4["overdue"], h4["days_overdue"], h4["status"]) == (False, 0, "rectified")
    assert body["totals"] == {
        "open": 3,
        "overdue": 2,
        "listed": 3,
        "without_plan": 2,
        "escalation_levels": {"1": 1, "2": 1, "3": 0, "4": 1},
    }


def test_filters_and_street_scope(get, world):
    body = get("street_coordinator", URL).json
    assert [r["hazard_id"] for r in body["rows"]] == [str(world.hazards["h2"])]
    body = get("planner", URL, jurisdiction="xinhualu").json
    assert [r["hazard_id"] for r in body["rows"]] == [str(world.hazards[k]) for k in ("h6", "h4")]
    # A street outside the caller's scope is simply empty.
    assert get("street_coordinator", URL, jurisdiction="xinhualu").json["rows"] == []
    assert get("planner", URL, industry="high_rise").json["rows"] == []
    assert get("planner", URL, industry="nonsense").status_code == 422


def test_enterprise_and_inspector_are_refused(get):
    for who in ("enterprise", "inspector"):
        assert get(who, URL).status_code == 403
        assert get(who, URL + "/export").status_code == 403
