"""Log in, refresh with rotation, reuse detection, logout, device revocation, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.auth.models import Token


def _login(client, username, password="password-123", device="phone"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password, "device_name": device},
    )


def test_login_returns_tokens_and_me_works(client, make):
    user = make.user("inspector")
    resp = _login(client, user.username)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["user"]["username"] == user.username
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json == {
        "id": str(user.id),
        "username": user.username,
        "name": user.name,
        "role": "inspector",
        "jurisdiction": "changning",
        "department": "emergency",
        "enterprise_id": None,
        "locale": None,
    }


def test_tokens_are_stored_hashed(client, make, db_session):
    user = make.user()
    body = _login(client, user.username).json
    hashes = set(db_session.execute(select(Token.token_hash)).scalars())
    assert body["access_token"] not in hashes and body["refresh_token"] not in hashes
    assert len(hashes) == 2


def test_wrong_password_is_401_and_audited(client, make, db_session):
    user = make.user()
    resp = _login(client, user.username, "wrong-password")
    assert resp.status_code == 401 and resp.json["code"] == "auth.invalid_credentials"
    assert _login(client, "nobody", "x").json["code"] == "auth.invalid_credentials"
    actions = db_session.execute(select(AuditEntry.action)).scalars().all()
    assert actions.count("auth.login_failed") == 2


def test_refresh_rotates_and_old_refresh_token_reuse_revokes_family(client, make):
    user = make.user()
    first = _login(client, user.username).json
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    new = second.json
    assert new["refresh_token"] != first["refresh_token"]
    headers = {"Authorization": f"Bearer {new['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # A stolen copy of the first refresh token is replayed: the whole family dies.
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json["code"] == "auth.refresh_reused"
    assert client.get("/api/v1/me", headers=headers).json["code"] == "auth.revoked"
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 401


def test_refresh_reuse_does_not_touch_other_devices(client, make):
    user = make.user()
    phone = _login(client, user.username, device="phone").json
    tablet = _login(client, user.username, device="tablet").json
    client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tablet['access_token']}"})
    assert me.status_code == 200


def test_logout_revokes_the_login(client, make):
    user = make.user()
    body = _login(client, user.username).json
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}
        ).status_code
        == 401
    )


def test_expired_access_token_is_refused(app, client, make):
    user = make.user()
    body = _login(client, user.username).json
    later = datetime.now(UTC) + timedelta(hours=2)
    app.config["CLOCK"] = lambda: later
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert resp.status_code == 401 and resp.json["code"] == "auth.token_expired"


def test_admin_lists_and_revokes_devices(client, make, login):
    admin = make.user("admin")
    user = make.user()
    body = _login(client, user.username, device="lost phone").json
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    admin_h = login(admin)
    devices = client.get(f"/api/v1/devices?user_id={user.id}", headers=admin_h).json
    assert [d["name"] for d in devices] == ["lost phone"]
    resp = client.post(f"/api/v1/devices/{devices[0]['id']}/revoke", headers=admin_h)
    assert resp.status_code == 200 and resp.json["revoked_at"]
    assert client.get("/api/v1/me", headers=headers).json["code"] == "auth.revoked"
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}
        ).status_code
        == 401
    )


def test_non_admin_cannot_revoke_devices(client, make, login):
    user = make.user()
    resp = client.get("/api/v1/devices", headers=login(user))
    assert resp.status_code == 403 and resp.json["code"] == "auth.forbidden"


def test_login_rate_limited_per_account_and_address(test_db, tmp_path, make):
    from tests.conftest import make_test_app

    app = make_test_app(test_db, tmp_path, LOGIN_ACCOUNT_FAILURE_LIMIT="3 per minute")
    client = app.test_client()
    user = make.user()
    codes = [_login(client, user.username, "bad-password").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    resp = _login(client, user.username)
    assert resp.status_code == 429 and resp.json["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0
    # The account is limited from another address too.
    other = client.post(
        "/api/v1/auth/token",
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
        json={"username": user.username, "password": "password-123"},
    )
    assert other.status_code == 429
