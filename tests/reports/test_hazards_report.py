"""GET /api/v1/reports/hazards: figures for the known fixture set, grouping, scope, roles."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

URL = "/api/v1/reports/hazards"

HUAYANGLU = {
    "found": 4,  # h1, h2, h3 (03-01 00:30 China time), h7
    "closed": 2,  # h1, h7
    "open": 2,  # h2, h3
    "overdue": 1,  # h2 (rectifying past its deadline); h3 not yet due
    "major_found": 2,  # h2, h7
    "major_closed": 1,
    "major_open": 1,
    "rectification_rate": 0.5,
    "major_rectification_rate": 0.5,
    "escalated": 1,
    "escalation_levels": {"1": 0, "2": 1, "3": 0, "4": 0},
    "listed": 2,
    "closed_in_period": 2,  # h1, h7
}
XINHUALU = {
    "found": 1,  # h4; h5 is 02-28 23:30 China time, h6 January
    "closed": 0,
    "open": 1,
    "overdue": 0,  # h4 is rectified: the enterprise has acted
    "major_found": 1,
    "major_closed": 0,
    "major_open": 1,
    "rectification_rate": 0.0,
    "major_rectification_rate": 0.0,
    "escalated": 1,
    "escalation_levels": {"1": 1, "2": 0, "3": 0, "4": 0},
    "listed": 1,
    "closed_in_period": 1,  # h5, found in February
}
ZERO = {
    "found": 0,
    "closed": 0,
    "open": 0,
    "overdue": 0,
    "major_found": 0,
    "major_closed": 0,
    "major_open": 0,
    "rectification_rate": None,
    "major_rectification_rate": None,
    "escalated": 0,
    "escalation_levels": {"1": 0, "2": 0, "3": 0, "4": 0},
    "listed": 0,
    "closed_in_period": 0,
}
TOTALS = {
    "found": 5,
    "closed": 2,
    "open": 3,
    "overdue": 1,
    "major_found": 3,
    "major_closed": 1,
    "major_open": 2,
    "rectification_rate": 0.4,
    "major_rectification_rate": 0.3333,
    "escalated": 2,
    "escalation_levels": {"1": 1, "2": 1, "3": 0, "4": 0},
    "listed": 3,
    "closed_in_period": 3,
}


def _rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in body["rows"]}


def _stats(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("key", "name")}


def test_by_jurisdiction_for_district_staff(get):
    resp = get("coordinator", URL)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["by"] == "jurisdiction"
    assert body["period"]["from"] == "2026-03-01"
    assert body["period"]["to"] == "2026-03-31"
    assert body["period"]["start"] == "2026-02-28T16:00:00Z"
    assert body["period"]["end"] == "2026-03-31T16:00:00Z"
    assert body["period"]["timezone"] == "Asia/Shanghai"
    assert body["as_of"] == "2026-03-20T04:00:00Z"
    assert body["scope"] == {
        "jurisdiction": "changning",
        "jurisdiction_name": "长宁区",
        "district_level": True,
    }
    rows = _rows(body)
    # Every street is listed, those with nothing too.
    assert len(rows) == 10
    assert rows["huayanglu"]["name"] == "华阳路街道"
    assert _stats(rows["huayanglu"]) == HUAYANGLU
    assert _stats(rows["xinhualu"]) == XINHUALU
    assert _stats(rows["jiangsulu"]) == ZERO
    assert body["totals"] == TOTALS


def test_by_grade_source_and_industry(get):
    rows = _rows(get("planner", URL, by="grade").json)
    assert list(rows) == ["general", "major"]
    assert rows["general"]["name"] == "一般隐患"
    assert (rows["general"]["found"], rows["general"]["closed"]) == (2, 1)  # h1, h3
    assert (rows["major"]["found"], rows["major"]["closed"], rows["major"]["overdue"]) == (3, 1, 1)
    assert rows["major"]["closed_in_period"] == 1 and rows["general"]["closed_in_period"] == 2

    rows = _rows(get("planner", URL, by="source").json)
    assert list(rows) == ["inspection", "self_report", "public_report", "supervision"]
    assert {k: r["found"] for k, r in rows.items()} == {
        "inspection": 2,
        "self_report": 1,
        "public_report": 1,
        "supervision": 1,
    }
    assert rows["supervision"]["closed_in_period"] == 2  # h5 (found in February) and h7

    body = get("admin", URL, by="industry").json
    rows = _rows(body)
    assert len(rows) == 10 and rows["gas_catering"]["name"] == "燃气餐饮"
    assert rows["gas_catering"]["found"] == 3  # h1, h2, h4
    assert rows["high_rise"]["found"] == 2  # h3, h7
    assert rows["hot_work"]["found"] == 0
    assert body["totals"] == TOTALS


def test_explicit_period_and_month(get):
    feb = get("coordinator", URL, month="2026-02").json
    assert (feb["period"]["from"], feb["period"]["to"]) == ("2026-02-01", "2026-02-28")
    assert feb["totals"]["found"] == 1  # h5 (02-28 23:30 China time)
    assert feb["totals"]["closed"] == 1
    assert feb["totals"]["closed_in_period"] == 0  # h5 was closed in March
    q1 = get("coordinator", URL, **{"from": "2026-01-01", "to": "2026-03-31"}).json
    assert q1["totals"]["found"] == 7
    assert q1["totals"]["overdue"] == 2  # h2 and h6
    assert q1["totals"]["escalation_levels"] == {"1": 1, "2": 1, "3": 0, "4": 1}
    one_day = get("coordinator", URL, **{"from": "2026-03-01", "to": "2026-03-01"}).json
    assert one_day["totals"]["found"] == 1  # h3 only
    # Only `to`: from the first day of that month.
    only_to = get("coordinator", URL, to="2026-02-15").json
    assert only_to["period"]["from"] == "2026-02-01"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-31", "to": "2026-03-01"},
        {"month": "2026-3"},
        {"month": "2026-03", "from": "2026-03-01"},
        {"from": "not-a-date"},
        {"from": "1999-12-31"},
        {"to": "9999-12-31"},
        {"by": "enterprise"},
    ],
)
def test_bad_arguments_are_422(get, params):
    resp = get("coordinator", URL, **params)
    assert resp.status_code == 422, resp.json
    assert resp.json["code"] == "validation_error"


def test_street_staff_see_their_street_only(get):
    body = get("street_coordinator", URL).json
    assert body["scope"]["district_level"] is False
    assert [r["key"] for r in body["rows"]] == ["huayanglu"]
    assert _stats(body["rows"][0]) == HUAYANGLU
    assert body["totals"] == HUAYANGLU
    body = get("street_supervisor", URL, by="grade").json
    assert body["totals"] == XINHUALU


@pytest.mark.parametrize("who", ["enterprise", "inspector"])
def test_enterprises_and_inspectors_are_refused(get, who):
    for path in (URL, URL + "/export"):
        resp = get(who, path)
        assert resp.status_code == 403
        assert resp.json["code"] == "auth.forbidden"


def test_statement_count_does_not_grow_with_rows(app, get, make, db_session, world):
    """Aggregated by the database: more hazards, the same number of SQL statements."""
    from tests.reports.conftest import NOW, _hazard

    def count_statements() -> int:
        seen: list[str] = []
        engine = db_session.get_bind().engine

        def _count(*_args: Any) -> None:
            seen.append("x")

        event.listen(engine, "before_cursor_execute", _count)
        try:
            assert get("coordinator", URL).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", _count)
        return len(seen)

    get("coordinator", URL)  # warm up: the token is issued
    before = count_statements()
    ent = world.ents["e4"]
    db_session.add_all(
        _hazard(ent, grade="general", source="supervision", found_at=NOW, deadline=NOW)
        for _ in range(40)
    )
    db_session.commit()
    after = count_statements()
    assert after == before
    assert get("coordinator", URL).json["totals"]["found"] == TOTALS["found"] + 40
