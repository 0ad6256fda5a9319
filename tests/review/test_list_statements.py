"""Lists cost a fixed number of SQL statements, however long the page (schemas do not query).

Each test measures one list at two sizes and asserts the same statement count: a list that ran
one query per row would grow by the difference in rows.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from app.db import session
from app.inspections.models import Finding, Inspection, InspectionInspector
from tests.hazards.helpers import T0, sha


def _submitted_inspection(world: Any, n_findings: int = 2) -> uuid.UUID:
    ent = world.make.enterprise(industry="gas_catering", jurisdiction="huayanglu")
    with world.app.app_context():
        insp = Inspection(
            type="routine",
            status="submitted",
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry="gas_catering",
            check_in_at=T0,
            check_in_received_at=T0 + timedelta(seconds=5),
            check_in_lat=31.2195,
            check_in_lon=121.4265,
            check_in_distance_m=12.0,
            check_in_far=False,
            submitted_at=T0 + timedelta(hours=1),
        )
        session.add(insp)
        session.flush()
        for who in ("inspector_other", "inspector_assignee"):
            session.add(InspectionInspector(inspection_id=insp.id, user_id=world.users[who].id))
        for i in range(n_findings):
            session.add(
                Finding(
                    id=uuid.uuid4(),
                    inspection_id=insp.id,
                    item_code=f"GAS-0{i + 1}",
                    result="fail",
                    note="漏气",
                    grade="general",
                    photos=[sha(f"{insp.id}-{i}")],
                    recorded_at=T0 + timedelta(minutes=20),
                )
            )
        session.commit()
        return insp.id


def _count(queries: Any, world: Any, url: str, who: str) -> tuple[int, Any]:
    with queries:
        resp = world.client.get(url, headers=world.headers(who))
    assert resp.status_code == 200, resp.json
    return queries.count, resp.json


def test_inspection_list_costs_the_same_for_3_rows_as_for_12(world: Any, queries: Any) -> None:
    url = "/api/v1/inspections?page_size=100&status=submitted"
    for _ in range(3):
        _submitted_inspection(world)
    world.headers("supervisor_other")  # log in outside the measurement
    few, body = _count(queries, world, url, "supervisor_other")
    assert len(body) == 3
    for _ in range(9):
        _submitted_inspection(world)
    many, body = _count(queries, world, url, "supervisor_other")
    assert len(body) == 12
    assert all(item["enterprise"]["name"] for item in body)
    assert many == few


def test_review_queue_costs_the_same_for_3_inspections_as_for_12(world: Any, queries: Any) -> None:
    url = "/api/v1/review/queue?page_size=100"
    for _ in range(3):
        _submitted_inspection(world)
    world.headers("supervisor_other")
    few, body = _count(queries, world, url, "supervisor_other")
    assert len(body) == 3
    for _ in range(9):
        _submitted_inspection(world)
    many, body = _count(queries, world, url, "supervisor_other")
    assert len(body) == 12
    assert many == few


def test_enterprise_list_costs_the_same_for_few_rows_as_for_many(world: Any, queries: Any) -> None:
    url = "/api/v1/enterprises?page_size=100"
    world.headers("planner")
    few, body = _count(queries, world, url, "planner")
    for _ in range(10):
        world.make.enterprise(industry="gas_catering", jurisdiction="huayanglu")
    many, body2 = _count(queries, world, url, "planner")
    assert len(body2) == len(body) + 10
    assert many == few
