"""Login protection with the shipped limits: failures per account and per address, refreshes
per token family; a street office behind one address is never locked out by its own logins."""

from __future__ import annotations

import pytest

from app.config import DEFAULTS
from tests.conftest import make_test_app

OFFICE = {"REMOTE_ADDR": "203.0.113.7"}  # one NAT address for a whole street office
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.20"}
LIMITS = (
    "LOGIN_ACCOUNT_FAILURE_LIMIT",
    "LOGIN_ADDRESS_FAILURE_LIMIT",
    "LOGIN_ADDRESS_LIMIT",
    "REFRESH_FAMILY_LIMIT",
    "REFRESH_ADDRESS_FAILURE_LIMIT",
)


@pytest.fixture
def shipped(test_db, tmp_path):
    """A client of an app with the limits as shipped (the test suite's own are generous)."""
    app = make_test_app(test_db, tmp_path, **{name: DEFAULTS[name] for name in LIMITS})
    return app.test_client()


def _login(client, username, password="password-123", environ=OFFICE):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base=environ,
    )


def _refresh(client, token, environ=OFFICE):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token}, environ_base=environ)


def test_forty_colleagues_behind_one_address_all_log_in(shipped, make):
    users = [make.user() for _ in range(40)]
    # A few mistype their password first, as people do at 8:30.
    for user in users[:8]:
        assert _login(shipped, user.username, "pasword-123").status_code == 401
    codes = [_login(shipped, u.username).status_code for u in users]
    assert codes == [200] * 40


def test_thirty_wrong_passwords_lock_the_account_not_the_colleague(shipped, make):
    victim, colleague = make.user(), make.user()
    codes = [_login(shipped, victim.username, f"guess-{n}").status_code for n in range(30)]
    assert codes == [401] * 5 + [429] * 25
    locked = _login(shipped, victim.username)  # even the right password waits
    assert locked.status_code == 429 and locked.json["code"] == "rate_limited"
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    assert 0 < locked.json["retry_after"] <= 60
    assert "this account" in locked.json["message"] and "retry in" in locked.json["message"]
    # The lock is the account's, from any address; the colleague next to them logs in.
    assert _login(shipped, victim.username, environ=ELSEWHERE).status_code == 429
    assert _login(shipped, colleague.username).status_code == 200


def test_successful_logins_are_never_counted_against_the_user(shipped, make):
    user = make.user()
    assert [_login(shipped, user.username).status_code for _ in range(12)] == [200] * 12
    codes = [_login(shipped, user.username, "wrong").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_an_address_spraying_many_accounts_is_stopped(shipped, make):
    users = [make.user() for _ in range(35)]
    codes = [_login(shipped, u.username, "Password1!").status_code for u in users]
    assert codes == [401] * 30 + [429] * 5
    sprayed = _login(shipped, users[0].username, "Password1!")
    assert sprayed.status_code == 429 and "this address" in sprayed.json["message"]
    # The accounts themselves are not locked: their owners log in from elsewhere.
    assert _login(shipped, users[-1].username, environ=ELSEWHERE).status_code == 200


def test_refresh_is_limited_per_token_family_not_per_address(shipped, make):
    users = [make.user().username for _ in range(3)]
    devices = {name: _login(shipped, name).json["refresh_token"] for name in users}
    # Monday morning: every device behind the office address refreshes, ten times each.
    for _ in range(10):
        for name, token in devices.items():
            resp = _refresh(shipped, token)
            assert resp.status_code == 200, resp.json
            devices[name] = resp.json["refresh_token"]
    looping = _refresh(shipped, devices[users[0]])  # the eleventh in a minute: a loop
    assert looping.status_code == 429 and "device login" in looping.json["message"]
    assert int(looping.headers["Retry-After"]) > 0
    # Another login of the same user is another family, with its own budget.
    again = _login(shipped, users[0]).json["refresh_token"]
    assert _refresh(shipped, again).status_code == 200


def test_refused_refresh_tokens_are_limited_per_address(shipped, make):
    codes = [_refresh(shipped, f"forged-{n}").status_code for n in range(32)]
    assert codes == [401] * 30 + [429] * 2
    user = make.user()
    token = _login(shipped, user.username, environ=ELSEWHERE).json["refresh_token"]
    assert _refresh(shipped, token, environ=ELSEWHERE).status_code == 200


def test_behind_a_trusted_proxy_the_client_address_is_counted(test_db, tmp_path, make):
    app = make_test_app(
        test_db, tmp_path, TRUSTED_PROXIES=1, LOGIN_ADDRESS_FAILURE_LIMIT="3 per minute"
    )
    client = app.test_client()
    user = make.user()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # the reverse proxy, the same for every client

    def attempt(client_address, password="wrong"):
        return client.post(
            "/api/v1/auth/token",
            json={"username": user.username, "password": password},
            headers={"X-Forwarded-For": client_address},
            environ_base=proxy,
        )

    assert [attempt("203.0.113.9").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert attempt("203.0.113.10", "password-123").status_code == 200


@pytest.mark.parametrize("key", ["RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION"])
def test_app_wide_limits_refuse_to_start_rather_than_be_ignored(test_db, tmp_path, key):
    """Limits are checked by their routes' decorators only (app._limits_on_routes_only)."""
    with pytest.raises(RuntimeError, match=key):
        make_test_app(test_db, tmp_path, **{key: "100/minute"})


def test_no_request_runs_the_limiters_app_wide_check(shipped):
    from app.extensions import limiter

    hooks = shipped.application.before_request_funcs[None]
    assert not [h for h in hooks if getattr(h, "__self__", None) is limiter]
