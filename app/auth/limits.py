"""Login and refresh limits, as Flask-Limiter limits on the two token routes.

- Failed logins per account (``LOGIN_ACCOUNT_FAILURE_LIMIT``): tiers of a minute, an hour and a
  day, so a guesser waits longer and longer while a colleague on the same address is untouched.
- Failed logins per address (``LOGIN_ADDRESS_FAILURE_LIMIT``): stops one address spraying a
  password over many accounts, far above what a street office's typos add up to.
- All logins per address (``LOGIN_ADDRESS_LIMIT``): a ceiling on the password hashing one
  address can make the server do, high enough for a shift start behind one NAT address.
- Refreshes per token family (``REFRESH_FAMILY_LIMIT``), and refused refreshes per address
  (``REFRESH_ADDRESS_FAILURE_LIMIT``): devices behind one address do not share a budget.

Only refused attempts (401) count against the failure limits (``deduct_when``); a successful
login never does. The counters live in Flask-Limiter's storage (``RATELIMIT_STORAGE_URI``),
Redis in production, so every worker and machine sees the same counts. docs/auth.md gives the
numbers and the reasons for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address

from app.auth.services import refresh_family
from app.extensions import limiter
from app.i18n import _l


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _refused(response: Response) -> bool:
    """Count an attempt only when its credentials or token were refused."""
    return response.status_code == 401


def _body_field(name: str) -> str:
    # The strict parse of the body (app.http.check_request_input) ran before the view's limits.
    # The console's sign-in form posts the same fields as a form (app/staff/routes.py).
    body = g.get("json_body")
    if not isinstance(body, dict) and request.mimetype == "application/x-www-form-urlencoded":
        body = request.form
    value = body.get(name) if body is not None and hasattr(body, "get") else None
    return value if isinstance(value, str) else ""


def account_key() -> str:
    """Key a login attempt by the account it names, whatever the address."""
    return "account:" + _body_field("username")


def address_key() -> str:
    """Key a request by the client's address (the proxy's X-Forwarded-For, see TRUSTED_PROXIES)."""
    return "address:" + (get_remote_address() or "")


def family_key() -> str:
    """Key a refresh by the token family (one device login) its refresh token belongs to."""
    if "refresh_family_key" not in g:
        family = refresh_family(_body_field("refresh_token"))
        g.refresh_family_key = f"family:{family}" if family else ""
    return str(g.refresh_family_key)


def _unknown_family() -> bool:
    # An unknown token has no family to count against; the per-address limit catches those.
    return not family_key()


def _stack(view: Callable[..., Any], decorators: list[Any]) -> Callable[..., Any]:
    for decorate in decorators:
        view = decorate(view)
    return view


def login_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """Apply the login limits to the token view."""
    return _stack(
        view,
        [
            limiter.limit(
                _setting("LOGIN_ACCOUNT_FAILURE_LIMIT"),
                key_func=account_key,
                deduct_when=_refused,
                scope="login-account-failures",
                error_message=_l("Too many failed logins for this account"),
            ),
            limiter.limit(
                _setting("LOGIN_ADDRESS_FAILURE_LIMIT"),
                key_func=address_key,
                deduct_when=_refused,
                scope="login-address-failures",
                error_message=_l("Too many failed logins from this address"),
            ),
            limiter.limit(
                _setting("LOGIN_ADDRESS_LIMIT"),
                key_func=address_key,
                scope="login-address",
                error_message=_l("Too many logins from this address"),
            ),
        ],
    )


def refresh_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """Apply the refresh limits to the refresh view."""
    return _stack(
        view,
        [
            limiter.limit(
                _setting("REFRESH_FAMILY_LIMIT"),
                key_func=family_key,
                exempt_when=_unknown_family,
                scope="refresh-family",
                error_message=_l("Too many refreshes for this device login"),
            ),
            limiter.limit(
                _setting("REFRESH_ADDRESS_FAILURE_LIMIT"),
                key_func=address_key,
                deduct_when=_refused,
                scope="refresh-address-failures",
                error_message=_l("Too many refused refresh tokens from this address"),
            ),
        ],
    )
