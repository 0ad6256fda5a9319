"""四不两直 / 双随机 confidentiality: a planned or dispatched visit changes no report, for anyone.

Reports count an inspection only once it is checked in. The test takes every report (every
grouping, every export) as every role, plans an unannounced inspection (and dispatches another)
through the API, and takes them all again: not one figure, row or cell may differ. Then it checks
the first one in and shows that the same reports do move, so the comparison has teeth.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook

from app.inspections.models import Inspection
from tests.reports.conftest import NOW

REQUESTS: list[tuple[str, dict[str, str]]] = [
    *[("/api/v1/reports/hazards", {"by": by}) for by in ("jurisdiction", "industry", "grade")],
    ("/api/v1/reports/hazards", {"by": "source"}),
    *[("/api/v1/reports/inspections", {"by": by}) for by in ("jurisdiction", "industry", "type")],
    ("/api/v1/reports/major-hazards", {}),
    ("/api/v1/reports/hazards/export", {}),
    ("/api/v1/reports/inspections/export", {"by": "type"}),
    ("/api/v1/reports/inspections/export", {}),
    ("/api/v1/reports/major-hazards/export", {}),
]


def _content(resp: Any) -> Any:
    if resp.mimetype.endswith("spreadsheetml.sheet"):
        wb = load_workbook(io.BytesIO(resp.data))
        return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
    return resp.json


def _snapshot(get: Any, world: Any) -> dict[tuple[str, str, str], Any]:
    snap = {}
    for who in world.users:
        for path, params in REQUESTS:
            resp = get(who, path, **params)
            snap[(who, path, str(params))] = (resp.status_code, _content(resp))
    return snap


def test_planned_unannounced_inspection_changes_no_report(get, world, client, login, db_session):
    before = _snapshot(get, world)
    assert (
        before[("coordinator", "/api/v1/reports/inspections", "{'by': 'jurisdiction'}")][0] == 200
    )
    assert before[("enterprise", "/api/v1/reports/hazards", "{'by': 'jurisdiction'}")][0] == 403

    team = [str(world.users["inspector"].id), str(world.users["inspector2"].id)]
    planner = login(world.users["planner"])
    planned = client.post(
        "/api/v1/inspections",
        json={
            "type": "unannounced",
            "enterprise_id": str(world.ents["e4"].id),
            "inspector_ids": team,
            "dispatch_at": (NOW + timedelta(days=2)).isoformat(),
        },
        headers=planner,
    )
    assert planned.status_code == 201, planned.json
    assert planned.json["status"] == "planned"
    dispatched = client.post(
        "/api/v1/inspections",
        json={
            "type": "unannounced",
            "enterprise_id": str(world.ents["e3"].id),
            "inspector_ids": team,
        },
        headers=planner,
    )
    assert dispatched.status_code == 201, dispatched.json
    assert dispatched.json["status"] == "dispatched"

    after = _snapshot(get, world)
    changed = [key for key in before if before[key] != after[key]]
    assert changed == []

    # Once checked in, the visit counts (the comparison above could have caught a leak).
    insp = db_session.get(Inspection, uuid.UUID(planned.json["id"]))
    insp.status = "in_progress"
    insp.check_in_received_at = NOW
    db_session.commit()
    body = get("coordinator", "/api/v1/reports/inspections").json
    jiangsulu = next(r for r in body["rows"] if r["key"] == "jiangsulu")
    assert jiangsulu["inspections"] == 2
    assert jiangsulu["by_type"]["unannounced"] == 1
