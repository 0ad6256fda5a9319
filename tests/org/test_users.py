"""Users: created and listed by admins, filtered by role; /me for every role."""

from __future__ import annotations


def test_admin_creates_user_and_password_is_argon2(client, make, login, db_session):
    from app.org.models import User

    headers = login(make.user("admin"))
    resp = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "insp-new",
            "password": "a-long-password",
            "role": "inspector",
            "jurisdiction": "huayanglu",
            "department": "emergency",
            "certificate_no": "C-1",
            "certificate_expires": "2027-06-30",
        },
    )
    assert resp.status_code == 201, resp.json
    user = db_session.get(User, __import__("uuid").UUID(resp.json["id"]))
    assert user.password_hash.startswith("$argon2id$")
    dup = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "insp-new",
            "password": "a-long-password",
            "role": "inspector",
            "jurisdiction": "huayanglu",
        },
    )
    assert dup.status_code == 409 and dup.json["code"] == "user.username_taken"
    login_resp = client.post(
        "/api/v1/auth/token", json={"username": "insp-new", "password": "a-long-password"}
    )
    assert login_resp.status_code == 200


def test_unknown_jurisdiction_is_422(client, make, login):
    resp = client.post(
        "/api/v1/users",
        headers=login(make.user("admin")),
        json={
            "username": "x-user",
            "password": "a-long-password",
            "role": "planner",
            "jurisdiction": "atlantis",
        },
    )
    assert resp.status_code == 422 and "jurisdiction" in resp.json["errors"]


def test_planner_lists_users_by_role(client, make, login):
    make.user("inspector")
    make.user("supervisor")
    resp = client.get("/api/v1/users?role=inspector", headers=login(make.user("planner")))
    assert resp.status_code == 200
    assert resp.json and {u["role"] for u in resp.json} == {"inspector"}
    assert "X-Pagination" in resp.headers


def test_inspector_cannot_list_or_create_users(client, make, login):
    headers = login(make.user("inspector"))
    assert client.get("/api/v1/users", headers=headers).status_code == 403
    assert client.post("/api/v1/users", headers=headers, json={}).status_code in (403, 422)


def test_admin_updates_inspector_registry_fields(client, make, login):
    inspector = make.user("inspector")
    ent = make.enterprise()
    resp = client.patch(
        f"/api/v1/users/{inspector.id}",
        headers=login(make.user("admin")),
        json={"certificate_expires": "2025-01-01", "conflicts": [str(ent.id)]},
    )
    assert resp.status_code == 200
    assert resp.json["conflicts"] == [str(ent.id)]
    assert resp.json["certificate_expires"] == "2025-01-01"


def test_enterprise_me_has_its_enterprise(client, make, login):
    ent = make.enterprise()
    user = make.user("enterprise", jurisdiction="huayanglu", enterprise_id=ent.id)
    me = client.get("/api/v1/me", headers=login(user)).json
    assert me["role"] == "enterprise" and me["enterprise_id"] == str(ent.id)
    assert me["department"] is None


def test_scope_filter_rules(app, make):
    from sqlalchemy import select

    from app.db import session
    from app.org.services import scope_filter
    from app.registry.models import Enterprise

    a = make.enterprise(jurisdiction="huayanglu")
    b = make.enterprise(jurisdiction="xinhualu")
    district = make.user("supervisor", jurisdiction="changning")
    street = make.user("supervisor", jurisdiction="huayanglu")
    owner = make.user("enterprise", jurisdiction="xinhualu", enterprise_id=b.id)
    with app.app_context():

        def ids(user):
            stmt = select(Enterprise.id).where(
                scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id),
                Enterprise.id.in_([a.id, b.id]),
            )
            return set(session.execute(stmt).scalars())

        assert ids(district) == {a.id, b.id}
        assert ids(street) == {a.id}
        assert ids(owner) == {b.id}
