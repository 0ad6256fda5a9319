"""Fixtures for the console's tests: the hazards world, and a signed-in browser-like client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.hazards.conftest import clock, world  # noqa: F401 - shared fixtures

PASSWORD = "password-123"  # tests/factories.py


def csrf_of(client: FlaskClient, path: str = "/console/login") -> str:
    """The session's CSRF token, as a page's form carries it."""
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:500]
    return found.group(1)


class Console:
    """A client signed in to the console as one user, with the session's CSRF token."""

    def __init__(self, client: FlaskClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kw)


@pytest.fixture
def console(app: Any) -> Callable[..., Console]:
    """``console(user)``: a fresh client signed in as ``user`` (a User of the factories)."""

    def _sign_in(user: Any, **headers: str) -> Console:
        client = app.test_client()
        for name, value in headers.items():
            client.environ_base[f"HTTP_{name.upper()}"] = value
        csrf = csrf_of(client)
        answer = client.post(
            "/console/login",
            data={"username": user.username, "password": PASSWORD, "csrf_token": csrf},
        )
        assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
        return Console(client, csrf_of(client, "/console/work"))

    return _sign_in
