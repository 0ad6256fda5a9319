"""Input rules: no deadline before the hazard was found; public reports take numbers as numbers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.hazards.models import Hazard
from tests.hazards.helpers import T0, sha, z


def test_a_deadline_before_found_at_is_refused(world):
    body = {
        "grade": "general",
        "description": "后厨灭火器过期",
        "photos": [sha("ext")],
        "found_at": z(T0 + timedelta(days=30)),
        "deadline": z(T0 + timedelta(days=10)),  # in the future, yet before it was found
    }
    resp = world.client.post("/api/v1/hazards", json=body, headers=world.headers("enterprise"))
    assert resp.status_code == 422, resp.json
    assert resp.json["code"] == "validation_error" and "deadline" in resp.json["errors"]
    body["deadline"] = z(T0 + timedelta(days=40))
    resp = world.client.post("/api/v1/hazards", json=body, headers=world.headers("enterprise"))
    assert resp.status_code == 201, resp.json


def test_every_demo_ticket_is_due_after_it_was_found(app, db_session):
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    db_session.expire_all()
    hazards = db_session.execute(select(Hazard)).scalars().all()
    assert hazards
    assert [h.number for h in hazards if h.deadline <= h.found_at] == []


def test_a_public_report_refuses_coordinates_sent_as_strings(client):
    report = {"description": "某餐馆后厨液化气钢瓶放在地下室", "jurisdiction": "huayanglu"}
    resp = client.post(
        "/api/v1/public/reports", json={**report, "location": {"lat": "31.2", "lon": 121.4}}
    )
    assert resp.status_code == 422, resp.json
    assert resp.json["errors"] == {"location": {"lat": ["Not a valid number."]}}
    resp = client.post(
        "/api/v1/public/reports", json={**report, "location": {"lat": 31.2, "lon": 121}}
    )
    assert resp.status_code == 201, resp.json
