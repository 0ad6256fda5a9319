"""Sampling plans over HTTP: create, commit, draw, redraw, verify, publish."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Text, cast, select

from app.inspections.models import Inspection
from app.planning import draw as drawlib
from app.planning import services
from app.planning.models import SamplingDraw
from app.registry.models import Enterprise

STREETS = ["huayanglu", "jiangsulu", "xinhualu", "zhoujiaqiao"]
RATES = {"high": "0.5", "medium": "0.3", "low": "0.2"}


class Seeds:
    """A deterministic seed source for the RNG seam."""

    def __init__(self) -> None:
        self.n = 0
        self.given: list[bytes] = []

    def __call__(self, size: int) -> bytes:
        self.n += 1
        seed = hashlib.sha256(f"plan-seed-{self.n}".encode()).digest()[:size]
        self.given.append(seed)
        return seed


@pytest.fixture
def seeds(app):
    source = Seeds()
    app.config["SEED_SOURCE"] = source
    return source


@pytest.fixture
def district(make):
    """Forty enterprises over four streets, eight inspectors (one expired, one conflicted)."""
    levels = ["high", "medium", "low", "low"]
    ents = [
        make.enterprise(
            jurisdiction=STREETS[i % 4],
            risk_level=levels[i % 4],
            industry="gas_catering" if i % 5 else "high_rise",
        )
        for i in range(40)
    ]
    inspectors = [make.user("inspector", jurisdiction=STREETS[i % 4]) for i in range(6)]
    inspectors.append(
        make.user("inspector", jurisdiction="changning", certificate_expires=date(2020, 1, 1))
    )
    inspectors.append(
        make.user("inspector", jurisdiction="changning", conflicts=[str(e.id) for e in ents[:10]])
    )
    return ents, inspectors


def plan_body(**kw):
    body = {
        "name": "2026年第四季度燃气餐饮双随机抽查",
        "rates": RATES,
        "team_size": 2,
        "cross_jurisdiction": True,
        "exclude_inspected_within_days": 90,
    }
    body.update(kw)
    return body


def create_commit_draw(client, headers, **kw):
    plan = client.post("/api/v1/sampling-plans", headers=headers, json=plan_body(**kw))
    assert plan.status_code == 201, plan.json
    pid = plan.json["id"]
    committed = client.post(f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={})
    assert committed.status_code == 200, committed.json
    drawn = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers)
    assert drawn.status_code == 200, drawn.json
    return committed.json, drawn.json


@pytest.mark.parametrize(
    "change, field",
    [
        ({"rates": {"high": "0.5", "medium": "0.2", "low": "0"}}, "rates"),
        ({"rates": {"high": "0.5", "medium": "0.2"}}, "rates"),
        ({"rates": {"high": "0.5", "medium": "0.2", "low": "1.5"}}, "rates"),
        ({"team_size": 1}, "team_size"),
        ({"industries": ["mining"]}, "industries"),
        ({"jurisdictions": ["atlantis"]}, "jurisdictions"),
    ],
)
def test_plan_parameters_are_validated(client, make, login, change, field):
    resp = client.post(
        "/api/v1/sampling-plans", headers=login(make.user("planner")), json=plan_body(**change)
    )
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]


def test_only_planners_plan(client, make, login):
    for role in ("inspector", "admin", "enterprise"):
        kw = {"enterprise_id": make.enterprise().id} if role == "enterprise" else {}
        headers = login(make.user(role, **kw))
        assert (
            client.post("/api/v1/sampling-plans", headers=headers, json=plan_body()).status_code
            == 403
        )
        assert client.get("/api/v1/sampling-plans", headers=headers).status_code == 403


def test_commit_publishes_commitment_and_draw_reveals_seed(
    client, make, login, seeds, district, db_session, app
):
    ents, inspectors = district
    headers = login(make.user("planner"))
    plan = client.post(
        "/api/v1/sampling-plans", headers=headers, json=plan_body(industries=["gas_catering"])
    ).json
    assert plan["status"] == "draft" and plan["draws"] == []
    pid = plan["id"]
    assert client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).json["code"] == (
        "sampling_plan.not_committed"
    )

    committed = client.post(f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={}).json
    (d1,) = committed["draws"]
    seed = seeds.given[0]
    assert d1["seed_commitment"] == hashlib.sha256(seed).hexdigest()
    assert d1["seed"] is None and d1["result"] is None
    assert d1["population_count"] == 32  # 40 minus the 8 high-rise ones
    assert d1["pool_count"] == 8
    public = client.get("/api/v1/public/sampling-results").json
    (pub,) = [p for p in public if p["id"] == pid]
    assert pub["draws"][0]["seed_commitment"] == d1["seed_commitment"]
    assert pub["draws"][0]["seed"] is None
    again = client.post(f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={})
    assert again.status_code == 409

    drawn = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).json
    (d1,) = drawn["draws"]
    assert drawn["status"] == "drawn" and d1["status"] == "drawn"
    assert d1["seed"] == seed.hex()
    result = d1["result"]
    reasons = {(x["kind"], x["reason"]) for x in result["exclusions"]}
    assert ("inspector", "certificate_expired") in reasons
    assert ("jurisdiction", "same_jurisdiction") in reasons
    expected = drawlib.draw(
        seed,
        db_draw(db_session, pid).population,
        db_draw(db_session, pid).pool,
        drawlib.DrawParams.from_dict(d1["params"]),
    )
    assert result["result_digest"] == expected.result_digest

    insps = (
        db_session.execute(select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(pid)))
        .scalars()
        .all()
    )
    assert len(insps) == len(result["teams"]) > 0
    by_ent = {str(i.enterprise_id): i for i in insps}
    cert_expired = str(inspectors[6].id)
    conflicted = inspectors[7]
    for team in result["teams"]:
        insp = by_ent[team["enterprise_id"]]
        assert insp.type == "double_random" and insp.status == "dispatched"
        assigned = {str(u) for u in insp.inspector_ids}
        assert assigned == set(team["inspector_ids"])
        assert cert_expired not in assigned
        if team["enterprise_id"] in conflicted.conflicts:
            assert str(conflicted.id) not in assigned

    runner = app.test_cli_runner()
    out = runner.invoke(args=["sampling", "verify", pid])
    assert out.exit_code == 0, out.output


def db_draw(db_session, pid, number=1):
    db_session.expire_all()
    return db_session.execute(
        select(SamplingDraw).where(
            SamplingDraw.plan_id == uuid.UUID(pid), SamplingDraw.number == number
        )
    ).scalar_one()


def test_redraw_needs_a_reason_and_keeps_the_first_draw(
    client, make, login, seeds, district, db_session, app
):
    headers = login(make.user("planner"))
    _, drawn = create_commit_draw(client, headers)
    pid = drawn["id"]
    first_teams = drawn["draws"][0]["result"]["teams"]
    assert client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).json["code"] == (
        "sampling_plan.already_drawn"
    )
    no_reason = client.post(f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={})
    assert (
        no_reason.status_code == 422 and no_reason.json["code"] == "sampling_plan.reason_required"
    )

    recommit = client.post(
        f"/api/v1/sampling-plans/{pid}/commit",
        headers=headers,
        json={"reason": "两名检查人员临时借调，重新抽取"},
    )
    assert recommit.status_code == 200
    redrawn = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers).json
    d1, d2 = redrawn["draws"]
    assert d1["status"] == "superseded" and d1["result"]["teams"] == first_teams
    assert d1["seed"] == seeds.given[0].hex()
    assert d2["status"] == "drawn" and d2["reason"] == "两名检查人员临时借调，重新抽取"
    assert d2["seed"] == seeds.given[1].hex() != d1["seed"]

    insps = (
        db_session.execute(select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(pid)))
        .scalars()
        .all()
    )
    cancelled = [i for i in insps if i.status == "cancelled"]
    live = [i for i in insps if i.status != "cancelled"]
    assert len(cancelled) == len(first_teams)
    assert all("redraw 2" in i.cancel_reason for i in cancelled)
    assert len(live) == len(d2["result"]["teams"])
    out = app.test_cli_runner().invoke(args=["sampling", "verify", pid])
    assert out.exit_code == 0, out.output


def test_cli_verify_detects_tampering(client, make, login, seeds, district, db_session, app):
    headers = login(make.user("planner"))
    _, drawn = create_commit_draw(client, headers)
    pid = drawn["id"]
    row = db_draw(db_session, pid)
    result = json.loads(json.dumps(row.result))
    team = result["teams"][0]
    others = [p["id"] for p in row.pool if p["id"] not in team["inspector_ids"]]
    team["inspector_ids"][0] = others[0]
    row.result = result
    db_session.commit()
    out = app.test_cli_runner().invoke(args=["sampling", "verify", pid])
    assert out.exit_code == 1
    assert f"team for {team['enterprise_id']}" in out.output

    # Tampering with an inspection (not the record) is caught too.
    row = db_draw(db_session, pid)
    row.result = drawn["draws"][0]["result"]
    insp = (
        db_session.execute(select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(pid)))
        .scalars()
        .first()
    )
    db_session.delete(insp)
    db_session.commit()
    out = app.test_cli_runner().invoke(args=["sampling", "verify", pid])
    assert out.exit_code == 1 and "no inspection for drawn target" in out.output
    out = app.test_cli_runner().invoke(args=["sampling", "verify", str(uuid.uuid4())])
    assert out.exit_code == 1


def test_other_planners_do_not_see_a_plan(client, make, login, seeds, district):
    _, drawn = create_commit_draw(client, login(make.user("planner")))
    other = login(make.user("planner"))
    assert client.get(f"/api/v1/sampling-plans/{drawn['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/sampling-plans", headers=other).json == []


def test_public_results_disclose_after_check_in_without_personal_data(
    client, make, login, seeds, district, db_session
):
    ents, inspectors = district
    headers = login(make.user("planner"))
    _, drawn = create_commit_draw(client, headers)
    pid = drawn["id"]

    def published():
        resp = client.get("/api/v1/public/sampling-results")
        assert resp.status_code == 200
        (pub,) = [p for p in resp.json if p["id"] == pid]
        return resp, pub

    resp, pub = published()
    assert pub["draws"][0]["seed"] is None and pub["outcomes"] == []
    assert pub["draws"][0]["result_digest"] == drawn["draws"][0]["result_digest"]
    assert client.get(f"/api/v1/public/sampling-results/{pid}/draws/1").status_code == 404
    text = resp.get_data(as_text=True)
    for insp in inspectors:
        assert str(insp.id) not in text and insp.username not in text
    for ent in ents:
        assert ent.name not in text  # no target is revealed before check-in

    from app.clock import utcnow

    for insp in db_session.execute(
        select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(pid))
    ).scalars():
        insp.status, insp.check_in_received_at = "in_progress", utcnow()
    db_session.commit()
    resp, pub = published()
    assert pub["draws"][0]["seed"] == seeds.given[0].hex()
    assert len(pub["outcomes"]) == len(drawn["draws"][0]["result"]["teams"])
    text = resp.get_data(as_text=True)
    for insp in inspectors:
        assert str(insp.id) not in text and insp.username not in text and insp.name not in text
    assert "principal" not in text and "phone" not in text
    record = client.get(f"/api/v1/public/sampling-results/{pid}/draws/1").json
    assert drawlib.verify(record) == []


def test_every_bad_rate_is_reported_under_its_level(client, make, login):
    rates = {"high": "0", "medium": "abc", "extreme": "0.1"}  # low is missing
    resp = client.post(
        "/api/v1/sampling-plans",
        headers=login(make.user("planner")),
        json=plan_body(rates=rates),
    )
    assert resp.status_code == 422, resp.json
    assert set(resp.json["errors"]["rates"]) == {"high", "medium", "low", "extreme"}


def test_recorded_inspections_and_frozen_population_are_what_verification_recomputes(
    client, make, login, seeds, district, db_session
):
    ents, inspectors = district
    # One enterprise inspected by the registry's date, one by a checked-in inspection.
    registry_date = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # 21 Nov in China
    db_session.get(Enterprise, ents[1].id).last_inspected_at = registry_date
    insp_id = make.inspection(ents[2].id, inspectors[:2], now=datetime(2026, 11, 1, tzinfo=UTC))
    checked_in = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    db_session.get(Inspection, insp_id).check_in_received_at = checked_in
    # China's date at the edges of its midnight (16:00 UTC), the later of the two dates winning.
    db_session.get(Enterprise, ents[3].id).last_inspected_at = datetime(
        2026, 11, 10, 15, 59, 59, 999999, tzinfo=UTC
    )
    edge = make.inspection(ents[4].id, inspectors[2:4], now=datetime(2026, 11, 1, tzinfo=UTC))
    db_session.get(Inspection, edge).check_in_received_at = datetime(2026, 11, 30, 16, tzinfo=UTC)
    db_session.get(Enterprise, ents[4].id).last_inspected_at = datetime(2026, 11, 29, tzinfo=UTC)
    later = make.inspection(ents[6].id, inspectors[2:4], now=datetime(2026, 10, 1, tzinfo=UTC))
    db_session.get(Inspection, later).check_in_received_at = datetime(2026, 10, 2, tzinfo=UTC)
    db_session.get(Enterprise, ents[6].id).last_inspected_at = datetime(2026, 10, 5, tzinfo=UTC)
    db_session.flush()
    headers = login(make.user("planner"))
    _, drawn = create_commit_draw(client, headers, industries=["gas_catering"])
    pid = drawn["id"]
    stored = db_draw(db_session, pid)

    # The frozen population and pool, written out from the registries here (not by the code).
    last = {
        ents[1].id: "2026-11-21",
        ents[2].id: "2026-11-25",
        ents[3].id: "2026-11-10",
        ents[4].id: "2026-12-01",
        ents[6].id: "2026-10-05",
    }
    expected_population = sorted(
        (
            {
                "id": str(e.id),
                "risk_level": e.risk_level,
                "jurisdiction": e.jurisdiction_code,
                "last_inspected_at": last.get(e.id),
            }
            for e in ents
            if e.industry == "gas_catering"
        ),
        key=lambda r: r["id"],
    )
    assert stored.population == expected_population
    expected_pool = sorted(
        (
            {
                "id": str(u.id),
                "jurisdiction": u.jurisdiction_code,
                "department": u.department_code,
                "certificate_expires": u.certificate_expires.isoformat(),
                "conflicts": sorted(u.conflicts),
            }
            for u in inspectors
        ),
        key=lambda r: r["id"],
    )
    assert stored.pool == expected_pool
    # The columns hold the canonical JSON their digests are taken of, byte for byte.
    raw = db_session.execute(
        select(cast(SamplingDraw.population, Text), cast(SamplingDraw.pool, Text)).where(
            SamplingDraw.id == stored.id
        )
    ).one()
    assert raw[0].encode() == drawlib.canonical_json(expected_population)
    assert hashlib.sha256(raw[0].encode()).hexdigest() == stored.population_digest
    assert hashlib.sha256(raw[1].encode()).hexdigest() == stored.pool_digest

    # Verification recomputes the stored result bit for bit ...
    record = services.draw_record(stored)
    assert drawlib.verify(record) == []
    fresh = drawlib.draw(
        bytes.fromhex(stored.seed),
        stored.population,
        stored.pool,
        drawlib.DrawParams.from_dict(stored.params),
        stored.algorithm_version,
    )
    assert fresh.to_dict() == stored.result
    assert drawlib.canonical_json(fresh.to_dict()) == drawlib.canonical_json(stored.result)
    # ... and the inspections created are exactly its teams: one per team, same inspectors.
    rows = (
        db_session.execute(
            select(Inspection).where(
                Inspection.sampling_plan_id == uuid.UUID(pid), Inspection.id != insp_id
            )
        )
        .scalars()
        .all()
    )
    created = {str(i.enterprise_id): sorted(str(u) for u in i.inspector_ids) for i in rows}
    teams = {t.enterprise_id: sorted(t.inspector_ids) for t in fresh.teams}
    assert len(rows) == len(fresh.teams) > 0
    assert created == teams
    by_id = {e.id: e for e in ents}
    for insp in rows:
        ent = by_id[insp.enterprise_id]
        assert insp.type == "double_random"
        assert (insp.jurisdiction_code, insp.industry) == (ent.jurisdiction_code, ent.industry)


def _draw_statements(client, headers, queries, industry):
    plan = client.post(
        "/api/v1/sampling-plans", headers=headers, json=plan_body(industries=[industry])
    )
    assert plan.status_code == 201, plan.json
    pid = plan.json["id"]
    with queries:
        resp = client.post(f"/api/v1/sampling-plans/{pid}/commit", headers=headers, json={})
    assert resp.status_code == 200, resp.json
    commit = queries.count
    with queries:
        resp = client.post(f"/api/v1/sampling-plans/{pid}/draw", headers=headers)
    assert resp.status_code == 200, resp.json
    teams = len(resp.json["draws"][-1]["result"]["teams"])
    return commit, queries.count, teams


def test_draw_statements_do_not_grow_with_the_population(client, make, login, seeds, queries):
    for i in range(8):
        make.user("inspector", jurisdiction=STREETS[i % 4])
    levels = ["high", "medium", "low", "low"]
    sizes = {"hot_work": 4, "gas_catering": 12, "high_rise": 120}
    for industry, n in sizes.items():
        for i in range(n):
            make.enterprise(
                jurisdiction=STREETS[i % 4], risk_level=levels[i % 4], industry=industry
            )
    headers = login(make.user("planner"))
    _draw_statements(client, headers, queries, "hot_work")  # warm caches (checklists, …)
    commit_small, draw_small, teams_small = _draw_statements(
        client, headers, queries, "gas_catering"
    )
    commit_large, draw_large, teams_large = _draw_statements(client, headers, queries, "high_rise")
    assert teams_large >= 5 * teams_small > 0
    assert commit_large == commit_small
    assert draw_large == draw_small
