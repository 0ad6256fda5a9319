"""GET /api/v1/reports/inspections: 执法检查家次, findings, tickets, the 只检查不处罚 flag."""

from __future__ import annotations

from typing import Any

import pytest

URL = "/api/v1/reports/inspections"
TYPES = ("unannounced", "routine", "complaint", "recheck", "double_random")


def _types(**counts: int) -> dict[str, int]:
    return {t: counts.get(t, 0) for t in TYPES}


HUAYANGLU = {
    "inspections": 2,  # i1 (四不两直), i2 (complaint); i8 was cancelled after check-in
    "enterprises": 2,
    "planned": 1,
    "triggered": 1,
    "by_type": _types(unannounced=1, complaint=1),
    "findings_failed": 4,  # F1, F2, F4 (rejected) of i1, and i2's pending one; F5 deleted
    "findings_confirmed": 2,
    "findings_pending_review": 1,
    "hazards_issued": 2,  # h1, h2
    "major_hazards_issued": 1,
    "inspected_no_hazards": False,
}
JIANGSULU = {
    "inspections": 1,  # i3 (双随机); i4 was checked in on 02-28 China time
    "enterprises": 1,
    "planned": 1,
    "triggered": 0,
    "by_type": _types(double_random=1),
    "findings_failed": 0,
    "findings_confirmed": 0,
    "findings_pending_review": 0,
    "hazards_issued": 0,
    "major_hazards_issued": 0,
    "inspected_no_hazards": True,
}
ZERO = {
    "inspections": 0,
    "enterprises": 0,
    "planned": 0,
    "triggered": 0,
    "by_type": _types(),
    "findings_failed": 0,
    "findings_confirmed": 0,
    "findings_pending_review": 0,
    "hazards_issued": 0,
    "major_hazards_issued": 0,
    "inspected_no_hazards": False,
}
TOTALS = {
    "inspections": 3,
    "enterprises": 3,
    "planned": 2,
    "triggered": 1,
    "by_type": _types(unannounced=1, complaint=1, double_random=1),
    "findings_failed": 4,
    "findings_confirmed": 2,
    "findings_pending_review": 1,
    "hazards_issued": 2,
    "major_hazards_issued": 1,
    "inspected_no_hazards": False,
}


def _rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["key"]: {k: v for k, v in r.items() if k not in ("key", "name")} for r in body["rows"]
    }


def test_by_jurisdiction(get):
    resp = get("supervisor", URL)
    assert resp.status_code == 200, resp.json
    body = resp.json
    rows = _rows(body)
    assert len(rows) == 10
    assert rows["huayanglu"] == HUAYANGLU
    assert rows["jiangsulu"] == JIANGSULU
    # xinhualu has only dispatched, planned and cancelled visits: nothing counts.
    assert rows["xinhualu"] == ZERO
    assert body["totals"] == TOTALS
    flagged = [r["key"] for r in body["rows"] if r["inspected_no_hazards"]]
    assert flagged == ["jiangsulu"]


def test_by_type_and_industry(get):
    body = get("planner", URL, by="type").json
    assert [r["key"] for r in body["rows"]] == list(TYPES)
    names = {r["key"]: r["name"] for r in body["rows"]}
    assert names["unannounced"] == "四不两直" and names["double_random"] == "双随机"
    rows = _rows(body)
    assert rows["unannounced"]["inspections"] == 1
    assert rows["unannounced"]["hazards_issued"] == 2
    assert rows["complaint"]["findings_pending_review"] == 1
    assert rows["double_random"]["inspected_no_hazards"] is True
    assert rows["recheck"]["inspections"] == 0 and rows["routine"]["inspections"] == 0
    assert body["totals"] == TOTALS

    rows = _rows(get("admin", URL, by="industry").json)
    assert rows["gas_catering"]["inspections"] == 1
    assert rows["high_rise"]["findings_failed"] == 1
    assert rows["factory_warehouse"]["inspected_no_hazards"] is True


def test_february(get):
    body = get("coordinator", URL, month="2026-02").json
    rows = _rows(body)
    assert rows["jiangsulu"]["inspections"] == 1  # i4, 2026-02-28 23:00 China time
    assert rows["jiangsulu"]["by_type"]["recheck"] == 1
    assert rows["jiangsulu"]["triggered"] == 1
    assert body["totals"]["inspections"] == 1


def test_street_staff_see_their_street_only(get):
    body = get("street_coordinator", URL).json
    assert list(_rows(body)) == ["huayanglu"]
    assert body["totals"] == HUAYANGLU
    body = get("street_supervisor", URL).json
    assert list(_rows(body)) == ["xinhualu"]
    assert body["totals"] == ZERO


@pytest.mark.parametrize("who", ["enterprise", "inspector"])
def test_enterprises_and_inspectors_are_refused(get, who):
    assert get(who, URL).status_code == 403
    assert get(who, URL + "/export").status_code == 403
