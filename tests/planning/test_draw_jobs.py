"""Large draws handed to the worker: 202, progress, the worker's run, resumption, idempotency."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.clock import utcnow
from app.db import session
from app.inspections.models import Inspection
from app.planning import draw as drawlib
from app.planning import services
from app.planning.models import SamplingDraw
from app.settings import override_settings
from tests.planning.test_plans import db_draw, plan_body
from tests.planning.test_plans import district as district  # noqa: F401 - fixture
from tests.planning.test_plans import seeds as seeds  # noqa: F401 - fixture

# Columns an inspection of a draw gets from the plan and its target (ids and times aside).
COMPARED = ("enterprise_id", "type", "status", "jurisdiction_code", "industry", "planner_id")


@pytest.fixture
def large(app):
    """Every draw of more than 10 enterprises is a large one, run by the worker."""
    override_settings(app, draw_inline_max_population=10)


def commit(client, headers, **kw):
    plan = client.post("/api/v1/sampling-plans", headers=headers, json=plan_body(**kw))
    assert plan.status_code == 201, plan.json
    pid = plan.json["id"]
    resp = client.post(f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={})
    assert resp.status_code == 200, resp.json
    return pid


def run_jobs(app, **kw) -> int:
    with app.app_context():
        return services.run_draw_jobs(**kw)


def inspections(db_session, pid) -> list[Inspection]:
    db_session.expire_all()
    return list(
        db_session.scalars(
            select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(pid))
        ).all()
    )


def teams_of(rows) -> dict[str, list[str]]:
    return {str(i.enterprise_id): sorted(str(u) for u in i.inspector_ids) for i in rows}


def test_a_large_draw_is_queued_and_the_worker_draws_it_as_inline(
    client, app, make, login, seeds, district, db_session, large
):
    planner = make.user("planner")
    headers = login(planner)
    pid = commit(client, headers)
    queued = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers)
    assert queued.status_code == 202, queued.json
    assert queued.json["draw"] == {"state": "queued", "done": 0, "total": None}
    assert queued.json["status"] == "committed" and queued.json["draws"][-1]["seed"] is None
    assert inspections(db_session, pid) == []

    progress: list[int] = []
    assert run_jobs(app, chunk=3, after_chunk=progress.append) == 1
    plan = client.get(f"/api/v1/sampling-plans/{pid}", headers=headers).json
    stored = db_draw(db_session, pid)
    total = len(stored.result["teams"])
    assert total > 6
    assert plan["status"] == "drawn"
    assert plan["draw"] == {"state": "done", "done": total, "total": total}
    assert progress == [min(n, total) for n in range(3, total + 3, 3)]
    # The record verifies and recomputes bit for bit from the committed inputs ...
    assert drawlib.verify(services.draw_record(stored)) == []
    fresh = drawlib.draw(
        bytes.fromhex(stored.seed),
        stored.population,
        stored.pool,
        drawlib.DrawParams.from_dict(stored.params),
        stored.algorithm_version,
    )
    assert drawlib.canonical_json(fresh.to_dict()) == drawlib.canonical_json(stored.result)
    assert stored.drawn_by == planner.id and stored.drawn_at == stored.job_requested_at
    with app.app_context():
        assert services.verify_plan(session, uuid.UUID(pid)) == []
    # ... and the inspections are its teams, one each, as an inline draw makes them.
    rows = inspections(db_session, pid)
    assert teams_of(rows) == {t.enterprise_id: sorted(t.inspector_ids) for t in fresh.teams}
    assert len(rows) == total
    audit = db_session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_id == pid, AuditEntry.action == "sampling_plan.draw"
        )
    ).all()
    assert [a.actor_id for a in audit] == [planner.id]

    # The same committed inputs drawn inline (a second plan, same seed): the same inspections.
    app.config["SEED_SOURCE"] = lambda n: bytes.fromhex(stored.seed)[:n]
    override_settings(app, draw_inline_max_population=10_000)
    pid2 = commit(client, headers)
    inline = client.post(f"/api/v1/sampling-plans/{pid2}/draw", headers=headers)
    assert inline.status_code == 200, inline.json
    assert inline.json["draw"] == {"state": "done", "done": total, "total": total}
    assert inline.json["draws"][-1]["result"] == stored.result

    def shape(rows):
        return sorted(
            (tuple(str(getattr(i, c)) for c in COMPARED), sorted(map(str, i.inspector_ids)))
            for i in rows
        )

    assert shape(inspections(db_session, pid2)) == shape(rows)


def test_an_interrupted_draw_job_resumes_without_duplicating_inspections(
    client, app, make, login, seeds, district, db_session, large
):
    headers = login(make.user("planner"))
    pid = commit(client, headers)
    assert client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).status_code == 202

    def crash_after_two_chunks(done: int) -> None:
        if done >= 6:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError, match="worker killed"):
        run_jobs(app, chunk=3, after_chunk=crash_after_two_chunks)
    plan = client.get(f"/api/v1/sampling-plans/{pid}", headers=headers).json
    assert plan["status"] == "committed"
    assert plan["draw"]["state"] == "queued" and plan["draw"]["done"] == 6
    assert len(inspections(db_session, pid)) == 6

    assert run_jobs(app, chunk=3) == 1
    stored = db_draw(db_session, pid)
    rows = inspections(db_session, pid)
    total = len(stored.result["teams"])
    assert len(rows) == total == len({i.enterprise_id for i in rows})
    assert teams_of(rows) == {
        t["enterprise_id"]: sorted(t["inspector_ids"]) for t in stored.result["teams"]
    }
    assert stored.job_state == "done" and stored.job_attempts == 2
    with app.app_context():
        assert services.verify_plan(session, uuid.UUID(pid)) == []


def test_a_job_whose_worker_died_is_taken_again_once_silent(
    client, app, make, login, seeds, district, db_session, large
):
    headers = login(make.user("planner"))
    pid = commit(client, headers)
    assert client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).status_code == 202
    # A worker took it and died (no exception handler ran): the job is left running.
    with app.app_context():
        assert services.claim_draw_job(utcnow()) is not None
    assert run_jobs(app) == 0
    later = utcnow() + timedelta(seconds=services.DRAW_JOB_STALE_SECONDS + 1)
    assert run_jobs(app, clock=lambda: later) == 1
    assert db_draw(db_session, pid).job_state == "done"


def test_a_job_tried_too_often_fails_with_a_stable_code(
    client, app, make, login, seeds, district, db_session, large
):
    headers = login(make.user("planner"))
    pid = commit(client, headers)
    assert client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).status_code == 202
    draw = db_draw(db_session, pid)
    draw.job_attempts = services.DRAW_JOB_MAX_ATTEMPTS
    db_session.commit()
    assert run_jobs(app) == 0
    plan = client.get(f"/api/v1/sampling-plans/{pid}", headers=headers).json
    assert plan["draw"]["state"] == "failed"
    assert plan["draw"]["error"] == "sampling_draw.attempts_exhausted"
    assert plan["status"] == "committed" and inspections(db_session, pid) == []


def test_a_repeated_draw_answers_the_same_202_then_as_a_drawn_plan(
    client, app, make, login, seeds, district, db_session, large
):
    headers = login(make.user("planner"))
    pid = commit(client, headers)
    first = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers)
    again = client.post(
        f"/api/v1/sampling-plans/{pid}/draw", headers={**headers, "If-Match": '"stale"'}
    )
    assert first.status_code == again.status_code == 202
    assert again.json == first.json and again.headers["ETag"] == first.headers["ETag"]
    jobs = db_session.scalars(
        select(SamplingDraw).where(SamplingDraw.plan_id == uuid.UUID(pid))
    ).all()
    assert [d.job_state for d in jobs] == ["queued"]
    # A redraw cannot be committed under a queued draw.
    refused = client.post(
        f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={"reason": "again"}
    )
    assert refused.status_code == 409
    assert run_jobs(app) == 1
    done = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers)
    assert done.status_code == 409 and done.json["code"] == "sampling_plan.already_drawn"
    assert run_jobs(app) == 0


def test_fieldsafe_worker_runs_the_queued_draw(
    client, app, make, login, seeds, district, db_session, large
):
    headers = login(make.user("planner"))
    pid = commit(client, headers)
    assert client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).status_code == 202
    out = app.test_cli_runner().invoke(args=["worker", "--once", "--no-sweep"])
    assert out.exit_code == 0, out.output
    assert "draws: 1 done" in out.output
    plan = client.get(f"/api/v1/sampling-plans/{pid}", headers=headers).json
    assert plan["status"] == "drawn" and plan["draw"]["state"] == "done"
