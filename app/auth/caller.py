"""The caller of a request: who they are, what token they came with, and what they may do.

This is the HTTP side of authentication, used by the request boundary and the routes; services
never read the request: they are handed the caller (``actor``) by the route.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from flask import g, request
from sqlalchemy import bindparam, select

from app.auth.models import Device, Token
from app.auth.services import token_hash
from app.db import session
from app.errors import MESSAGES, DomainError
from app.http import request_now
from app.i18n import _, either
from app.org.models import ROLE_NAMES, User

F = TypeVar("F", bound=Callable[..., Any])


def public(func: F) -> F:
    """Mark a view (function, MethodView class or method) as callable without a token."""
    func._public = True  # type: ignore[attr-defined]
    return func


class CallerToken(NamedTuple):
    """The access token a request came with: what logging out needs of it."""

    family_id: uuid.UUID
    device_id: uuid.UUID


#: The caller of a bearer token, and what decides whether the token still works: built once,
#: run on every request. Only the user is an ORM object (the services read it); the token's
#: and device's other columns are not read (each column costs every request).
_CALLER = (
    select(
        User,
        Token.family_id,
        Token.device_id,
        Token.expires_at,
        Token.revoked_at,
        Device.revoked_at.label("device_revoked_at"),
    )
    .join(Device, Device.id == Token.device_id)
    .join(User, User.id == Token.user_id)
    .where(Token.token_hash == bindparam("token_hash"), Token.kind == "access")
)


def authenticate_request() -> None:
    """Resolve the bearer token into g.user; raise 401 when missing or invalid."""
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise DomainError(
            "auth.required",
            401,
            _(MESSAGES[401]),
            headers={"WWW-Authenticate": "Bearer"},
        )
    now = request_now()
    row = session.execute(_CALLER, {"token_hash": token_hash(value.strip())}).one_or_none()
    if row is None:
        raise DomainError(
            "auth.invalid_token",
            401,
            _("The access token is not valid; refresh it or log in again."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = row.User
    if row.revoked_at is not None or row.device_revoked_at is not None or not user.active:
        raise DomainError(
            "auth.revoked",
            401,
            _("This token was revoked; log in again."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    if row.expires_at <= now:
        raise DomainError(
            "auth.token_expired",
            401,
            _("The access token expired; refresh it."),
            headers={"WWW-Authenticate": "Bearer"},
        )
    g.user, g.token = user, CallerToken(row.family_id, row.device_id)


def current_user() -> User:
    """Return the authenticated caller."""
    return g.user


def current_token() -> CallerToken:
    """Return the access token the caller authenticated with."""
    return g.token


def require_role(*roles: str) -> User:
    """Return the caller if their role is one of `roles`, else refuse with 403."""
    user: User = g.user
    if user.role not in roles:
        raise DomainError(
            "auth.forbidden",
            403,
            # i18n: %(roles)s lists role names (ROLE_NAMES in app/org/models.py) as alternatives.
            _(
                "This needs one of the roles: %(roles)s.",
                roles=either(ROLE_NAMES[r] for r in roles),
            ),
        )
    return user
