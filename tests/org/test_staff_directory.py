"""GET /api/v1/staff: the people a coordinator assigns and a supervisor reviews, by name."""

from __future__ import annotations

from typing import Any


def test_a_street_coordinator_sees_its_street_and_district_staff_by_name(
    client: Any, make: Any, login: Any
) -> None:
    coordinator = make.user("coordinator", jurisdiction="huayanglu", name="华阳协调员")
    here = make.user("inspector", jurisdiction="huayanglu", name="华阳检查员", phone="13800000001")
    district = make.user("supervisor", jurisdiction="changning", name="区监管员")
    elsewhere = make.user("inspector", jurisdiction="xinhualu", name="新华检查员")
    make.user("inspector", jurisdiction="huayanglu", name="离职检查员", active=False)
    ent = make.enterprise(jurisdiction="huayanglu")
    make.user("enterprise", jurisdiction="huayanglu", enterprise_id=ent.id, name="企业账号")

    resp = client.get("/api/v1/staff?page_size=100", headers=login(coordinator))
    assert resp.status_code == 200, resp.json
    by_id = {row["id"]: row for row in resp.json}
    assert str(here.id) in by_id and str(district.id) in by_id and str(coordinator.id) in by_id
    assert str(elsewhere.id) not in by_id
    names = {row["name"] for row in resp.json}
    assert "离职检查员" not in names and "企业账号" not in names
    row = by_id[str(here.id)]
    assert row == {
        "id": str(here.id),
        "name": "华阳检查员",
        "role": "inspector",
        "department": "emergency",
        "jurisdiction": "huayanglu",
        "certificate_no": here.certificate_no,
        "phone": "13800000001",
    }
    assert "username" not in row and "password_hash" not in row


def test_filters_and_who_sees_phones(client: Any, make: Any, login: Any) -> None:
    supervisor = make.user("supervisor", jurisdiction="changning", department_code="emergency")
    target = make.user("inspector", jurisdiction="xinhualu", name="张检查", phone="13800000002")
    make.user("inspector", jurisdiction="xinhualu", name="李检查")

    resp = client.get(
        "/api/v1/staff",
        query_string={"role": "inspector", "jurisdiction": "xinhualu", "q": "张"},
        headers=login(supervisor),
    )
    assert resp.status_code == 200, resp.json
    assert [row["id"] for row in resp.json] == [str(target.id)]
    assert resp.json[0]["phone"] is None  # supervisors do not chase by phone


def test_inspectors_and_enterprises_may_not_read_the_directory(
    client: Any, make: Any, login: Any
) -> None:
    inspector = make.user("inspector")
    ent = make.enterprise()
    account = make.user("enterprise", jurisdiction="huayanglu", enterprise_id=ent.id)
    for who in (inspector, account):
        resp = client.get("/api/v1/staff", headers=login(who))
        assert resp.status_code == 403 and resp.json["code"] == "auth.forbidden"
    bad = client.get("/api/v1/staff?role=enterprise", headers=login(make.user("coordinator")))
    assert bad.status_code == 422 and "role" in bad.json["errors"]
