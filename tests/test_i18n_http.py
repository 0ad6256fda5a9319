"""The API answers in Chinese unless asked otherwise: Accept-Language: en gets English, and a
user's own setting (PATCH /me) counts before the header, for every kind of refusal: a service's,
a validation error, a 404, a rate limit and a sync push's rejected mutation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from app.extensions import limiter
from tests.conftest import make_test_app

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    """A client that names no language, as a browser with none configured."""
    return FlaskClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def admin(make: Any, login: Callable[..., dict[str, str]]) -> dict[str, str]:
    return login(make.user("admin"))


def _speaking(client: FlaskClient, auth: dict[str, str], locale: str | None) -> dict[str, str]:
    """Set the signed-in user's own language through the API; return their headers."""
    resp = client.patch("/api/v1/me", json={"locale": locale}, headers=auth)
    assert resp.status_code == 200, resp.json
    assert resp.json["locale"] == locale
    return auth


def _says(resp: Any, language: str, message: str) -> None:
    assert resp.headers["Content-Language"] == language
    assert "Accept-Language" in resp.headers["Vary"]
    assert resp.json["message"] == message, resp.json


# ------------------------------------------------------------------------ an error from a service

TAKEN_ZH = "该用户名已被使用，请另选一个。"
TAKEN_EN = "That username is taken; choose another."


def _create_taken(client: FlaskClient, headers: dict[str, str]) -> Any:
    body = {
        "username": "taken-name",
        "password": "a-long-password",
        "role": "inspector",
        "jurisdiction": "changning",
    }
    client.post("/api/v1/users", json=body, headers=headers)
    resp = client.post("/api/v1/users", json=body, headers=headers)
    assert resp.status_code == 409 and resp.json["code"] == "user.username_taken"
    return resp


def test_a_service_refusal_is_chinese_by_default(browser, admin):
    _says(_create_taken(browser, admin), "zh", TAKEN_ZH)


def test_a_service_refusal_is_english_when_asked(browser, admin):
    _says(_create_taken(browser, {**admin, **EN}), "en", TAKEN_EN)


def test_the_users_setting_counts_before_the_header(browser, admin):
    _speaking(browser, admin, "en")
    _says(_create_taken(browser, {**admin, **ZH}), "en", TAKEN_EN)
    _speaking(browser, admin, "zh")
    _says(_create_taken(browser, {**admin, **EN}), "zh", TAKEN_ZH)
    _speaking(browser, admin, None)  # back to following the browser
    _says(_create_taken(browser, {**admin, **EN}), "en", TAKEN_EN)


# --------------------------------------------------------------------------- a validation error


def test_validation_errors_speak_the_language_field_by_field(browser, admin):
    resp = browser.post("/api/v1/users", json={"role": "king", "extra": 1}, headers=admin)
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"
    _says(resp, "zh", "请求中有字段不符合要求，详见errors。")
    assert resp.json["errors"]["username"] == ["此项为必填项。"]
    assert resp.json["errors"]["extra"] == ["无法识别的字段。"]
    assert resp.json["errors"]["role"][0].startswith("须为以下之一：inspector")

    resp = browser.post("/api/v1/users", json={"role": "king"}, headers={**admin, **EN})
    _says(resp, "en", "The request has invalid fields; see errors.")
    assert resp.json["errors"]["username"] == ["Missing data for required field."]

    _speaking(browser, admin, "en")
    resp = browser.post("/api/v1/users", json={}, headers={**admin, **ZH})
    _says(resp, "en", "The request has invalid fields; see errors.")
    assert resp.json["errors"]["username"] == ["Missing data for required field."]


def test_a_schemas_own_message_and_a_bound_are_translated(browser, admin):
    resp = browser.get("/api/v1/reports/hazards?month=2026-3", headers=admin)
    assert resp.status_code == 422
    assert resp.json["errors"]["month"] == ["月份无效，请按YYYY-MM格式填写。"]
    resp = browser.get("/api/v1/users?page_size=100000", headers=admin)
    assert resp.status_code == 422
    assert resp.json["errors"]["page_size"] == ["须不小于1且不大于100。"]


# --------------------------------------------------------------------------- a 404


def test_a_404_names_what_is_missing_in_the_language(browser, admin):
    path = f"/api/v1/users/{uuid.uuid4()}"
    resp = browser.get(path, headers=admin)
    assert resp.status_code == 404 and resp.json["code"] == "user.not_found"
    _says(resp, "zh", "未找到该用户，或其不在您的权限范围内。")
    _says(
        browser.get(path, headers={**admin, **EN}),
        "en",
        "No such user, or it is outside your scope.",
    )
    _speaking(browser, admin, "en")
    _says(
        browser.get(path, headers={**admin, **ZH}),
        "en",
        "No such user, or it is outside your scope.",
    )
    nowhere = browser.get("/api/v1/no-such-thing")
    assert nowhere.json["message"].startswith("该地址下没有内容")


# --------------------------------------------------------------------------- a rate limit


@pytest.fixture
def strict(test_db: Any, tmp_path: Any) -> FlaskClient:
    """A client of an app that locks an account after two failed logins."""
    app = make_test_app(test_db, tmp_path, LOGIN_ACCOUNT_FAILURE_LIMIT="2 per minute")
    return FlaskClient(app, app.response_class)


def _locked(client: FlaskClient, username: str, headers: dict[str, str]) -> Any:
    for _attempt in range(2):
        client.post("/api/v1/auth/token", json={"username": username, "password": "wrong"})
    resp = client.post(
        "/api/v1/auth/token", json={"username": username, "password": "wrong"}, headers=headers
    )
    assert resp.status_code == 429 and resp.json["code"] == "rate_limited"
    return resp


def test_a_rate_limit_is_chinese_by_default_and_english_when_asked(strict, make):
    zh = _locked(strict, make.user().username, {})
    seconds = zh.json["retry_after"]
    assert zh.headers["Content-Language"] == "zh"
    assert zh.json["message"] == f"该账号登录失败次数过多，请{seconds}秒后再试。"
    en = _locked(strict, make.user().username, EN)
    assert en.headers["Content-Language"] == "en"
    assert en.json["message"] == (
        f"Too many failed logins for this account; retry in {en.json['retry_after']} seconds."
    )


def test_a_rate_limit_on_a_signed_in_route_speaks_the_users_language(app, browser, make, login):
    """Every limit Fieldsafe ships guards a route used before sign-in (login, refresh, 群众举报),
    where only the header can count; a limit on a signed-in route knows the caller."""

    @app.get("/api/v1/i18n-limited")
    @limiter.limit("1 per minute", key_func=lambda: f"user:{g.user.id}")
    def limited() -> dict[str, bool]:
        return {"ok": True}

    auth = _speaking(browser, login(make.user()), "en")
    assert browser.get("/api/v1/i18n-limited", headers={**auth, **ZH}).status_code == 200
    resp = browser.get("/api/v1/i18n-limited", headers={**auth, **ZH})
    assert resp.status_code == 429 and resp.headers["Content-Language"] == "en"
    assert resp.json["message"] == (
        f"Too many requests; retry in {resp.json['retry_after']} seconds."
    )
    other = login(make.user())
    browser.get("/api/v1/i18n-limited", headers=other)
    resp = browser.get("/api/v1/i18n-limited", headers=other)
    assert resp.json["message"] == f"请求过于频繁，请{resp.json['retry_after']}秒后再试。"


# --------------------------------------------------------------------------- a sync push rejection


def _push(client: FlaskClient, headers: dict[str, str], client_id: str) -> Any:
    body = {
        "client_id": client_id,
        "mutations": [
            {"id": 1, "name": "finding.put", "args": {"id": "x", "inspection_id": None}},
            {"id": 2, "name": "inspection.delete", "args": {}},
        ],
    }
    resp = client.post("/api/v1/sync/push", json=body, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json["results"]


def test_a_push_rejection_is_worded_in_the_language_and_replayed_as_answered(browser, make, login):
    auth = login(make.user("inspector"))
    client_id = str(uuid.uuid4())
    bad, unknown = _push(browser, auth, client_id)
    assert bad["status"] == "rejected" and bad["code"] == "validation_error"
    assert bad["message"] == "此条变更中有字段不符合要求，请修正后重新录入。"
    assert bad["errors"] == {"id": ["不是有效的UUID。"], "inspection_id": ["此项不能为空值。"]}
    assert unknown["code"] == "sync.unknown_mutation"
    assert unknown["message"] == "无法识别的变更类型'inspection.delete'，请更新应用或放弃此条变更。"
    # A replay answers the stored result: the words of the first answer, whoever asks again.
    assert _push(browser, {**auth, **EN}, client_id) == [bad, unknown]

    bad, unknown = _push(browser, {**auth, **EN}, str(uuid.uuid4()))
    assert bad["message"] == "The change has invalid fields; correct them and record it again."
    assert bad["errors"] == {
        "id": ["Not a valid UUID."],
        "inspection_id": ["Field may not be null."],
    }
    assert unknown["message"] == (
        "Unknown mutation 'inspection.delete'; update the app or drop this change."
    )

    _speaking(browser, auth, "en")
    bad, _unknown = _push(browser, {**auth, **ZH}, str(uuid.uuid4()))
    assert bad["errors"]["id"] == ["Not a valid UUID."]


def test_a_malformed_push_envelope_is_translated_too(browser, make, login):
    auth = login(make.user("inspector"))
    resp = browser.post(
        "/api/v1/sync/push", json={"client_id": "x", "mutations": [{"id": 1}]}, headers=auth
    )
    assert resp.status_code == 422
    assert resp.json["errors"]["client_id"] == ["不是有效的UUID。"]
    assert resp.json["errors"]["mutations.0.name"] == ["此项为必填项。"]


# --------------------------------------------------------------------------- the setting itself


def test_the_language_setting_is_the_users_own_and_documented(browser, make, login):
    auth = login(make.user("inspector"))
    assert browser.get("/api/v1/me", headers=auth).json["locale"] is None
    refused = browser.patch("/api/v1/me", json={"locale": "fr"}, headers=auth)
    assert refused.status_code == 422
    assert refused.json["errors"]["locale"] == ["须为以下之一：zh, en。"]
    missing = browser.patch("/api/v1/me", json={}, headers={**auth, **EN})
    assert missing.json["errors"]["locale"] == ["Missing data for required field."]
    changed = browser.patch("/api/v1/me", json={"locale": "en"}, headers={**auth, **ZH})
    assert changed.headers["Content-Language"] == "en"  # the answer speaks the new language
    assert browser.get("/api/v1/me", headers=auth).json["locale"] == "en"

    doc = browser.get("/api/v1/openapi.json").json
    patch = doc["paths"]["/api/v1/me"]["patch"]
    body = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    locale = doc["components"]["schemas"][body]["properties"]["locale"]
    assert locale["enum"] == ["zh", "en", None] and "Accept-Language" in locale["description"]
    assert "locale" in doc["components"]["schemas"]["Me"]["properties"]


def test_the_servers_own_refusals_are_chinese_too(browser):
    resp = browser.delete("/api/v1/me")
    assert (
        resp.status_code == 405
        and resp.json["message"] == "此地址不接受DELETE请求，请使用GET或PATCH。"
    )
    resp = browser.post("/api/v1/auth/token", data=b'{"a" 1}', content_type="application/json")
    assert resp.json["message"] == "请求内容不是有效的JSON：第1行第6列缺少“:”。"
