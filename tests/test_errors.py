"""Every error has the one JSON shape with a stable code; nothing malformed causes a 500."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin_h(make, login):
    return login(make.user("admin"))


def test_unknown_route_is_404_json(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_wrong_method_is_405_json(client):
    resp = client.delete("/api/v1/auth/token")
    assert resp.status_code == 405 and resp.json["code"] == "method_not_allowed"


def test_missing_token_is_401_json(client):
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401 and resp.json["code"] == "auth.required"
    assert resp.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("body", ["{not json", "[1,2", "\xff\xfe", ""])
def test_invalid_json_is_4xx(client, body):
    resp = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert resp.status_code in (400, 422)
    assert resp.json["code"] in ("bad_request", "validation_error")


def test_wrong_types_and_unknown_fields_are_422(client, admin_h):
    resp = client.post(
        "/api/v1/users",
        headers=admin_h,
        json={"username": 5, "password": [], "role": "king", "extra": 1},
    )
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"
    assert {"username", "password", "role", "extra", "jurisdiction"} <= set(resp.json["errors"])


def test_json_array_body_is_422(client):
    resp = client.post("/api/v1/auth/token", json=[1, 2, 3])
    assert resp.status_code == 422


def test_bad_uuid_in_path_is_404(client, admin_h):
    resp = client.get("/api/v1/users/not-a-uuid", headers=admin_h)
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_body_over_limit_is_413(test_db, tmp_path):
    from tests.conftest import make_test_app

    app = make_test_app(test_db, tmp_path, MAX_CONTENT_LENGTH=1024)
    resp = app.test_client().post(
        "/api/v1/auth/token", data="x" * 5000, content_type="application/json"
    )
    assert resp.status_code == 413 and resp.json["code"] == "request_too_large"


def test_bad_query_args_are_422(client, admin_h):
    resp = client.get("/api/v1/users?role=emperor", headers=admin_h)
    assert resp.status_code == 422 and "role" in resp.json["errors"]
    resp = client.get("/api/v1/users?page=-1", headers=admin_h)
    assert resp.status_code == 422


def test_health_and_docs(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/api/v1/openapi.json").json["info"]["title"] == "Fieldsafe"
    assert b"swagger" in client.get("/docs").data.lower()
