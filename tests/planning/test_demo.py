"""`fieldsafe demo` gives inspector1 and inspector2 dispatched work of every type."""

from __future__ import annotations

from sqlalchemy import func, select

from app.inspections.models import Inspection
from app.planning.models import SamplingPlan


def test_demo_has_a_drawn_plan_and_work_of_every_type(app, client, login, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    count = db_session.scalar(select(func.count()).select_from(Inspection))
    assert runner.invoke(args=["demo"]).exit_code == 0
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(Inspection)) == count

    plan = db_session.execute(select(SamplingPlan)).scalar_one()
    assert plan.status == "drawn" and plan.cross_jurisdiction
    assert runner.invoke(args=["sampling", "verify", str(plan.id)]).exit_code == 0

    for username in ("inspector1", "inspector2"):
        resp = client.get("/api/v1/inspections?page_size=100", headers=login(username))
        assert resp.status_code == 200
        # Besides this work, the review demo's two visits wait in the supervisor's queue, and
        # the documents demo's visit and recheck carry their documents (app/demo/documents.py).
        planned = [i for i in resp.json if not i["documents"]]
        work = [i for i in planned if i["status"] != "submitted"]
        assert len(planned) - len(work) == 2
        assert all(i["status"] == "dispatched" for i in work)
        assert {i["type"] for i in work} == {
            "unannounced",
            "routine",
            "complaint",
            "recheck",
            "double_random",
        }
    # The demo enterprise account sees none of it, and neither does inspector3.
    for username in ("enterprise1", "inspector3"):
        assert client.get("/api/v1/inspections", headers=login(username)).json == []
