"""Walk every route with every role: only the deliberately public ones answer without a token.

New routes are covered automatically; a route that should be public must be added to PUBLIC here
and decorated with @public, so making something public is always a visible, reviewed decision.
"""

from __future__ import annotations

import re
import uuid

import pytest

from app.org.models import ROLES

# (rule, method) pairs that answer without a token.
PUBLIC = {
    ("/api/v1/openapi.json", "GET"),
    ("/api/v1/auth/token", "POST"),
    ("/api/v1/auth/refresh", "POST"),
    ("/api/v1/public/sampling-results", "GET"),
    ("/api/v1/public/sampling-results/<uuid:plan_id>/draws/<int:number>", "GET"),  # once disclosed
    ("/api/v1/public/reports", "POST"),
    # a document's verification: anyone holding a paper copy (docs/documents.md)
    ("/api/v1/public/documents/<string:code>", "GET"),
    ("/api/v1/public/documents/<string:code>/verify", "POST"),
    ("/api/v1/media/uploads", "OPTIONS"),
    ("/api/v1/media/files/<path:key>", "GET"),  # local signed URLs: the signature is the credential
}
NOT_API = ("/static/", "/healthz", "/readyz", "/docs")


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(NOT_API) or not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted(rule.methods - {"HEAD"}):
            if method == "OPTIONS" and (rule.rule, "OPTIONS") not in PUBLIC:
                continue  # CORS preflight carries no token by design
            yield rule, method


def _fill(rule) -> str:
    url = rule.rule
    for arg in rule.arguments:
        converter = re.search(rf"<(?:([^:<>]+):)?{arg}>", url)
        kind = converter.group(1) if converter else None
        value = {"uuid": str(uuid.uuid4()), "int": "1"}.get(kind or "", "x")
        if kind is None and arg.endswith("id"):
            value = str(uuid.uuid4())
        url = re.sub(rf"<(?:[^:<>]+:)?{arg}>", value, url)
    return url


def test_every_non_public_route_needs_a_token(app, client):
    checked = 0
    for rule, method in _routes(app):
        resp = client.open(_fill(rule), method=method, json={})
        if (rule.rule, method) in PUBLIC:
            assert resp.status_code != 401, (rule.rule, method)
        else:
            assert resp.status_code == 401, (rule.rule, method, resp.status_code)
            assert resp.json["code"] == "auth.required"
        checked += 1
    assert checked >= 10


def test_a_bad_token_is_refused_everywhere(app, client):
    headers = {"Authorization": "Bearer forged-token"}
    for rule, method in _routes(app):
        if (rule.rule, method) in PUBLIC:
            continue
        resp = client.open(_fill(rule), method=method, json={}, headers=headers)
        assert resp.status_code == 401, (rule.rule, method)


@pytest.mark.parametrize("role", ROLES)
def test_no_route_errors_for_any_role(app, client, make, login, role):
    """Every route answers a well-formed 2xx/4xx for every role (random ids → 404, never 500)."""
    kw = {}
    if role == "enterprise":
        kw["enterprise_id"] = make.enterprise().id
    headers = login(make.user(role, **kw))
    for rule, method in _routes(app):
        resp = client.open(_fill(rule), method=method, json={}, headers=headers)
        assert resp.status_code < 500, (role, rule.rule, method, resp.status_code, resp.data[:300])
        if resp.status_code >= 400:
            assert "code" in resp.json, (rule.rule, method)
