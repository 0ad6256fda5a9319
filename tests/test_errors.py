"""Every error has the one JSON shape with a stable code; nothing malformed causes a 500."""

from __future__ import annotations

import re
import uuid

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


# --- regressions found by fuzzing (tests/test_fuzz_api.py); each of these was a 500 --------

JSON = "application/json"


class _Any:
    def __eq__(self, other):
        return isinstance(other, str)


ANY_MESSAGE = _Any()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 5000 + b"]" * 5000, "nests deeper"),  # RecursionError in json.loads
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nests deeper"),
        (b'{"username": ' + b"9" * 5000 + b"}", "longer than"),  # int digit limit ValueError
        (b'{"username": NaN}', "NaN"),  # accepted before; not JSON (RFC 8259)
        (b'{"username": -Infinity}', "Infinity"),
        (b'{"username": 1e999}', "beyond the range"),  # parsed as inf before
    ],
)
def test_json_beyond_rfc_8259_is_400(client, admin_h, body, says):
    for path, headers in (("/api/v1/users", admin_h), ("/api/v1/auth/token", {})):
        resp = client.post(path, data=body, content_type=JSON, headers=headers)
        assert resp.status_code == 400, (path, resp.json)
        assert resp.json["code"] == "bad_request" and says in resp.json["message"]


def test_nul_and_lone_surrogates_in_json_strings_are_422(client, admin_h):
    body = b'{"username": "a\\u0000b", "conflicts": ["ok", "\\ud800"], "x\\u0000": 1}'
    resp = client.post("/api/v1/users", data=body, content_type=JSON, headers=admin_h)
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"
    assert set(resp.json["errors"]) == {"username", "conflicts", "x?"}
    assert list(resp.json["errors"]["conflicts"]) == ["1"]


def test_strict_json_keeps_what_is_valid():
    from app.http import strict_json_loads

    # An escaped surrogate pair is one valid character (an emoji), not a lone surrogate.
    assert strict_json_loads(b'{"a": "\\ud83d\\ude00", "b": [1.5, -2, null]}') == {
        "a": "\U0001f600",
        "b": [1.5, -2, None],
    }
    assert strict_json_loads(b"[" * 32 + b"]" * 32) is not None  # exactly the depth limit
    for scalar in (b"-7.6e248", b'"x"', b"null", b"true", b"12"):
        strict_json_loads(scalar)  # a TypeError here was a 500, found by the fuzz test


def test_nul_in_query_is_422_and_in_path_404(client, admin_h):
    # PostgreSQL refuses NUL in text parameters: these were DataErrors (500) there.
    resp = client.get("/api/v1/enterprises?q=a%00b", headers=admin_h)
    assert resp.status_code == 422 and resp.json["errors"] == {"q": [ANY_MESSAGE]}
    resp = client.get("/api/v1/checklists/%00", headers=admin_h)
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


@pytest.mark.parametrize("page", ["1000001", "9223372036854775807", "9" * 30])
def test_huge_page_numbers_are_422(client, admin_h, page):
    # OFFSET beyond the database's integers was an OverflowError (SQLite) or DataError (PG).
    for path, headers in (("/api/v1/users", admin_h), ("/api/v1/public/sampling-results", {})):
        resp = client.get(f"{path}?page={page}", headers=headers)
        assert resp.status_code == 422, (path, resp.json)
        assert "page" in resp.json["errors"]
    assert client.get("/api/v1/users?page=1000000", headers=admin_h).status_code == 200


@pytest.mark.parametrize("number", ["2147483648", "9" * 30])
def test_huge_integers_in_paths_are_404(client, admin_h, number):
    for path in (
        f"/api/v1/checklists/hot_work/versions/{number}",
        f"/api/v1/public/sampling-results/{uuid.uuid4()}/draws/{number}",
    ):
        resp = client.get(path, headers=admin_h)
        assert resp.status_code == 404 and resp.json["code"] == "not_found", path


@pytest.mark.parametrize(
    ("moment", "status"),
    [
        ("0001-01-01T00:00:00+14:00", 422),  # valid RFC 3339, but before year 1 in UTC
        ("9999-12-31T23:59:59-14:00", 422),  # after year 9999 in UTC
        ("0001-01-01T00:00:00Z", 200),
    ],
)
def test_times_outside_utc_range_are_422(client, admin_h, moment, status):
    # UTCDateTime's astimezone(UTC) overflowed while binding the filter: a 500.
    resp = client.get("/api/v1/audit", query_string={"since": moment}, headers=admin_h)
    assert resp.status_code == status, resp.json
    if status == 422:
        assert resp.json["code"] == "validation_error"


def test_values_the_database_refuses_are_422(test_db, tmp_path):
    """The safety net: OverflowError and DataError from the database layer are the client's."""
    from sqlalchemy.exc import DataError

    from tests.conftest import make_test_app

    app = make_test_app(test_db, tmp_path)

    @app.get("/boom/<kind>")
    def boom(kind):
        if kind == "overflow":
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        raise DataError("SELECT 1", {}, Exception("integer out of range"))

    for kind in ("overflow", "data"):
        resp = app.test_client().get(f"/boom/{kind}")
        assert resp.status_code == 422 and resp.json["code"] == "validation_error"


def test_openapi_documents_the_real_error_body(client):
    error = client.get("/api/v1/openapi.json").json["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["type"] == "string"
    assert error["properties"]["status"]["type"] == "integer"


def test_a_body_that_is_not_json_is_415_where_json_is_expected(client, make, login):
    planner = login(make.user("planner"))
    ent = make.enterprise()
    etag = client.get(f"/api/v1/enterprises/{ent.id}", headers=planner).headers["ETag"]
    # Was a 200 that changed nothing: the parser saw no JSON body at all.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        resp = client.patch(
            f"/api/v1/enterprises/{ent.id}",
            data=b'{"address": "fuzz road 1"}',
            headers={**planner, "If-Match": etag},
            content_type=content_type,
        )
        assert resp.status_code == 415, (content_type, resp.json)
        assert resp.json["code"] == "unsupported_media_type"
    got = client.get(f"/api/v1/enterprises/{ent.id}", headers=planner).json
    assert got["address"] == ent.address
    # A view without a JSON body (draw, logout) does not care; an empty body is no body.
    resp = client.post("/api/v1/auth/token", data=b"", content_type="text/plain")
    assert resp.status_code == 422


# --- every 404 and 405 under /api/v1 is the JSON error body, in our words ------------------


def _api_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")]


def test_a_malformed_id_in_any_api_path_is_the_json_404(app, client, admin_h):
    checked = 0
    for rule in _api_rules(app):
        if "<uuid:" not in rule.rule:
            continue
        path = re.sub(r"<uuid:[^>]+>", "not-a-uuid", rule.rule)
        path = re.sub(r"<(?:int:)?[^>]+>", "1", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(path, method=method, headers=admin_h, json={})
            assert resp.status_code == 404, (method, path, resp.status_code)
            assert resp.mimetype == "application/json", (method, path)
            assert resp.json["code"] == "not_found" and resp.json["status"] == 404
            assert "ids are UUIDs" in resp.json["message"]
            checked += 1
    assert checked >= 15
    resp = client.get("/api/v1/hazards/not-a-uuid", headers=admin_h)
    assert resp.json["message"].startswith("Nothing here")


def test_a_wrong_method_on_any_api_route_is_the_json_405(app, client, admin_h):
    checked = 0
    for rule in _api_rules(app):
        wrong = sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - rule.methods)
        if not wrong:
            continue
        path = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), rule.rule)
        path = re.sub(r"<(?:int:|path:)?[^>]+>", "1", path)
        resp = client.open(path, method=wrong[0], headers=admin_h)
        if resp.status_code == 404:  # another rule with the same shape matched first
            continue
        assert resp.status_code == 405, (wrong[0], path, resp.status_code)
        assert resp.mimetype == "application/json"
        assert resp.json["code"] == "method_not_allowed"
        assert f"{wrong[0]} is not allowed here" in resp.json["message"]
        assert resp.headers["Allow"]
        checked += 1
    assert checked > 20
