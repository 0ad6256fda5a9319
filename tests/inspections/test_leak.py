"""The leak test: before check-in, no GET route in the OpenAPI spec shows an inspection's id to
the target enterprise, to inspectors not assigned to it, to other staff, or to the public."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select

from app.inspections.models import Inspection


def _arrange(client, make, login, app, db_session):
    ent = make.enterprise(jurisdiction="huayanglu", risk_level="high")
    team = [
        make.user("inspector", jurisdiction="xinhualu"),
        make.user("inspector", jurisdiction="jiangsulu"),
    ]
    planner_user = make.user("planner")
    planner = login(planner_user)
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "end": (now + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
    }
    # A dispatched, in-window 四不两直 inspection.
    unannounced = client.post(
        "/api/v1/inspections",
        headers=planner,
        json={
            "type": "unannounced",
            "enterprise_id": str(ent.id),
            "inspector_ids": [str(u.id) for u in team],
            "window": window,
        },
    )
    assert unannounced.status_code == 201, unannounced.json
    # A not yet dispatched one.
    later = client.post(
        "/api/v1/inspections",
        headers=planner,
        json={
            "type": "routine",
            "enterprise_id": str(ent.id),
            "inspector_ids": [str(u.id) for u in team],
            "window": window,
            "dispatch_at": (now + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        },
    )
    assert later.status_code == 201, later.json
    # A 双随机 draw over a population of just this enterprise (rate 1 for its level).
    app.config["SEED_SOURCE"] = lambda n: hashlib.sha256(b"leak-test").digest()[:n]
    plan = client.post(
        "/api/v1/sampling-plans",
        headers=planner,
        json={
            "name": "leak",
            "rates": {"high": "1", "medium": "1", "low": "1"},
            "jurisdictions": ["huayanglu"],
            "window": window,
        },
    ).json
    client.post(f"/api/v1/sampling-plans/{plan['id']}/commit", headers=planner, json={})
    drawn = client.post(f"/api/v1/sampling-plans/{plan['id']}/draw", headers=planner)
    assert drawn.status_code == 200, drawn.json
    drawn_ids = [
        str(i.id)
        for i in db_session.execute(
            select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(plan["id"]))
        ).scalars()
    ]
    assert drawn_ids
    secret_ids = [unannounced.json["id"], later.json["id"], *drawn_ids]
    return ent, team, planner_user, plan, secret_ids


def _body_text(resp) -> str:
    """Return a body as text to search; a zip (an XLSX export) is searched part by part."""
    data = resp.get_data()
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "".join(zf.read(name).decode("utf-8", "replace") for name in zf.namelist())
    return data.decode("utf-8", "replace")


def _get_operations(client) -> list[tuple[str, list[str]]]:
    """Return every GET path of the OpenAPI document with its query parameter names."""
    spec = client.get("/api/v1/openapi.json").json
    out = []
    for path, ops in sorted(spec["paths"].items()):
        if "get" in ops:
            params = [p["name"] for p in ops["get"].get("parameters", []) if p.get("in") == "query"]
            out.append((path, params))
    return out


def _fill(path: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in values:
            return values[name]
        if name.endswith("id"):
            return str(uuid.uuid4())
        return "1" if name in ("version", "number") else "x"

    return re.sub(r"\{([^}]+)\}", sub, path)


def _queries(params: list[str], values: dict[str, str], client_id: str) -> list[str]:
    """Queries to try: none, and every known id filter filled in (plus paging and sync ids)."""
    base = {"page_size": "100", "limit": "500", "client_id": client_id}
    known = {k: v for k, v in values.items() if k in params}
    full = {**{k: v for k, v in base.items() if k in params}, **known}
    plain = {k: v for k, v in base.items() if k in params}
    out = [""]
    for query in (plain, full):
        if query:
            out.append("?" + urlencode(query))
    return out


def test_no_get_route_leaks_an_unstarted_inspection(client, make, login, app, db_session):
    ent, team, planner_user, plan, secret_ids = _arrange(client, make, login, app, db_session)
    target_account = make.user("enterprise", jurisdiction="huayanglu", enterprise_id=ent.id)
    street_inspector = make.user("inspector", jurisdiction="huayanglu")
    district_inspector = make.user("inspector", jurisdiction="changning")
    others = {role: make.user(role) for role in ("supervisor", "coordinator", "planner")}
    # Admins are left out: the audit log (GET /api/v1/audit, admins only) names every
    # inspection it records, confidential ones included.
    readers = {
        "enterprise": (target_account, login(target_account)),
        "street inspector": (street_inspector, login(street_inspector)),
        "district inspector": (district_inspector, login(district_inspector)),
        "anonymous": (None, {}),
        **{f"other {role}": (u, login(u)) for role, u in others.items()},
    }
    operations = _get_operations(client)
    assert "/api/v1/inspections/{inspection_id}" in {path for path, _ in operations}
    checked = 0
    for label, (user, headers) in readers.items():
        client_id = str(uuid.uuid4())  # one device per reader, for the sync feed
        for secret in secret_ids:
            values = {
                "inspection_id": secret,
                "enterprise_id": str(ent.id),
                "sampling_plan_id": plan["id"],
                "plan_id": plan["id"],
                "entity_id": secret,
                "user_id": str(user.id) if user else str(team[0].id),
                "industry": ent.industry,
                "number": "1",
                "version": "1",
            }
            for path, params in operations:
                url = _fill(path, values)
                for query in _queries(params, values, client_id):
                    resp = client.get(url + query, headers=headers)
                    assert resp.status_code < 500, (label, url, query, resp.status_code)
                    body = _body_text(resp)
                    for sid in secret_ids:
                        assert sid not in body and uuid.UUID(sid).hex not in body, (
                            f"{label} sees inspection {sid} at GET {url}{query}"
                        )
                    checked += 1
    assert checked > 50
    # Sanity: the assigned inspector does see the dispatched one, so the walk can find ids.
    seen = client.get("/api/v1/inspections?page_size=100", headers=login(team[0])).get_data(
        as_text=True
    )
    assert secret_ids[0] in seen and secret_ids[1] not in seen
    if any(path == "/api/v1/sync/pull" for path, _ in operations):
        pulled = client.get(
            f"/api/v1/sync/pull?client_id={uuid.uuid4()}&limit=500", headers=login(team[0])
        )
        assert pulled.status_code == 200, pulled.json
        text = pulled.get_data(as_text=True)
        assert secret_ids[0] in text and secret_ids[1] not in text
