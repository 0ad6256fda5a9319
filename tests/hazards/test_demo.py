"""`fieldsafe demo` includes tickets in every state, overdue and escalated ones, reports."""

from __future__ import annotations

from sqlalchemy import func, select

from app.hazards.models import HAZARD_STATES, Hazard
from app.public_reports.models import PublicReport


def test_demo_tickets_cover_every_state_and_loading_is_idempotent(app, client, login, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert runner.invoke(args=["demo"]).exit_code == 0
    db_session.expire_all()
    # the tickets of the documents demo (app/demo/documents.py) come from its inspection
    hazards = db_session.execute(select(Hazard).where(Hazard.source != "inspection")).scalars()
    hazards = list(hazards)
    assert len(hazards) == 10
    assert {h.status for h in hazards} == set(HAZARD_STATES)
    assert {h.source for h in hazards} == {"self_report", "supervision", "public_report"}
    assert {h.escalation_level for h in hazards} >= {0, 2, 4}
    assert db_session.scalar(select(func.count()).select_from(PublicReport)) == 3

    resp = client.get("/api/v1/hazards?overdue=true", headers=login("coordinator"))
    assert len(resp.json) >= 2
    own = client.get("/api/v1/hazards", headers=login("enterprise1")).json
    assert {h["status"] for h in own} == {"open", "rectifying"}
    major = next(h for h in own if h["grade"] == "major")
    assert major["listed"] and major["plan"]
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
