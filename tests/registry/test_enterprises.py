"""The enterprise registry: CRUD, scope, filters."""

from __future__ import annotations

import random

from app.registry.uscc import make_uscc

RNG = random.Random(11)


def body(**kw):
    """Return a valid create body."""
    data = {
        "name": "上海测试餐饮管理有限公司",
        "uscc": make_uscc(RNG),
        "industry": "gas_catering",
        "jurisdiction": "huayanglu",
        "address": "长宁路1号",
        "risk_level": "high",
        "location": {"lat": 31.2195, "lon": 121.4265},
        "principal": {"name": "张伟", "phone": "13800000000"},
    }
    data.update(kw)
    return data


def test_planner_registers_and_reads_an_enterprise(client, make, login):
    headers = login(make.user("planner"))
    resp = client.post("/api/v1/enterprises", headers=headers, json=body())
    assert resp.status_code == 201, resp.json
    ent = resp.json
    assert ent["location"] == {"lat": 31.2195, "lon": 121.4265}
    assert ent["principal"] == {"name": "张伟", "phone": "13800000000"}
    assert resp.headers["ETag"]
    got = client.get(f"/api/v1/enterprises/{ent['id']}", headers=headers)
    assert got.status_code == 200 and got.json["uscc"] == ent["uscc"]


def test_bad_uscc_location_industry_are_422(client, make, login):
    headers = login(make.user("planner"))
    good = make_uscc(RNG)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    resp = client.post("/api/v1/enterprises", headers=headers, json=body(uscc=bad))
    assert resp.status_code == 422 and "uscc" in resp.json["errors"]
    resp = client.post(
        "/api/v1/enterprises",
        headers=headers,
        json=body(location={"lat": 39.9, "lon": 116.4}, industry="mining"),
    )
    assert resp.status_code == 422
    assert set(resp.json["errors"]) == {"location", "industry"}


def test_duplicate_uscc_is_409(client, make, login):
    headers = login(make.user("planner"))
    data = body()
    assert client.post("/api/v1/enterprises", headers=headers, json=data).status_code == 201
    resp = client.post("/api/v1/enterprises", headers=headers, json={**data, "name": "另一个"})
    assert resp.status_code == 409 and resp.json["code"] == "registry.duplicate_uscc"


def test_patch_with_if_match(client, make, login):
    headers = login(make.user("planner"))
    ent = make.enterprise()
    got = client.get(f"/api/v1/enterprises/{ent.id}", headers=headers)
    etag = got.headers["ETag"]
    resp = client.patch(
        f"/api/v1/enterprises/{ent.id}",
        headers={**headers, "If-Match": etag},
        json={"risk_level": "high"},
    )
    assert resp.status_code == 200 and resp.json["risk_level"] == "high"
    assert resp.json["version"] == ent.version + 1
    stale = client.patch(
        f"/api/v1/enterprises/{ent.id}",
        headers={**headers, "If-Match": etag},
        json={"risk_level": "low"},
    )
    assert stale.status_code == 412
    missing = client.patch(f"/api/v1/enterprises/{ent.id}", headers=headers, json={"name": "x"})
    assert missing.status_code == 428


def test_only_planners_and_admins_edit(client, make, login):
    headers = login(make.user("inspector"))
    assert client.post("/api/v1/enterprises", headers=headers, json=body()).status_code == 403
    ent = make.enterprise()
    resp = client.patch(f"/api/v1/enterprises/{ent.id}", headers=headers, json={"name": "x"})
    assert resp.status_code == 403


def test_scope_street_staff_and_enterprise_accounts(client, make, login):
    mine = make.enterprise(jurisdiction="huayanglu")
    other = make.enterprise(jurisdiction="xinhualu")
    street = login(make.user("inspector", jurisdiction="huayanglu"))
    ids = {e["id"] for e in client.get("/api/v1/enterprises?page_size=100", headers=street).json}
    assert str(mine.id) in ids and str(other.id) not in ids
    assert client.get(f"/api/v1/enterprises/{other.id}", headers=street).status_code == 404
    account = login(make.user("enterprise", jurisdiction="huayanglu", enterprise_id=mine.id))
    listed = client.get("/api/v1/enterprises", headers=account).json
    assert [e["id"] for e in listed] == [str(mine.id)]
    assert client.get(f"/api/v1/enterprises/{other.id}", headers=account).status_code == 404
    # A street planner cannot register an enterprise in another street.
    planner = login(make.user("planner", jurisdiction="huayanglu"))
    resp = client.post("/api/v1/enterprises", headers=planner, json=body(jurisdiction="xinhualu"))
    assert resp.status_code == 422 and "jurisdiction" in resp.json["errors"]


def test_filters(client, make, login):
    make.enterprise(
        name="甲燃气餐饮店", industry="gas_catering", risk_level="high", jurisdiction="huayanglu"
    )
    make.enterprise(
        name="乙仓储有限公司",
        industry="factory_warehouse",
        risk_level="low",
        jurisdiction="xinhualu",
    )
    headers = login(make.user("planner"))

    def names(query):
        resp = client.get(f"/api/v1/enterprises?{query}&page_size=100", headers=headers)
        assert resp.status_code == 200, resp.json
        return {e["name"] for e in resp.json}

    assert "甲燃气餐饮店" in names("industry=gas_catering")
    assert "乙仓储有限公司" not in names("industry=gas_catering")
    assert names("jurisdiction=xinhualu") >= {"乙仓储有限公司"}
    assert "甲燃气餐饮店" not in names("jurisdiction=xinhualu")
    assert "乙仓储有限公司" not in names("risk_level=high")
    assert names("q=仓储") == {"乙仓储有限公司"}
    assert names("q=100%25") == set()
    assert client.get("/api/v1/enterprises?risk_level=extreme", headers=headers).status_code == 422
