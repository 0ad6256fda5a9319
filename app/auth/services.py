"""Passwords, tokens, devices and the request's caller: who may call what."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select, update

from app.audit.services import record
from app.auth.models import Device, Token
from app.db import session
from app.errors import DomainError, not_found
from app.i18n import _
from app.org.models import User


def _hasher() -> PasswordHasher:
    params = current_app.config.get("ARGON2_PARAMS") or {}
    return PasswordHasher(**params)


def hash_password(password: str) -> str:
    """Return the Argon2id hash of `password`."""
    return _hasher().hash(password)


def _check_password(user: User | None, password: str) -> bool:
    if user is None:
        # Spend the same time as a real check, so response times do not reveal usernames.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """Return the stored form of an opaque token (its SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _issue_pair(user: User, device: Device, family_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    access_ttl = current_app.config["ACCESS_TOKEN_TTL"]
    session.add_all(
        [
            Token(
                token_hash=token_hash(access),
                kind="access",
                user_id=user.id,
                device_id=device.id,
                family_id=family_id,
                issued_at=now,
                expires_at=now + timedelta(seconds=access_ttl),
            ),
            Token(
                token_hash=token_hash(refresh),
                kind="refresh",
                user_id=user.id,
                device_id=device.id,
                family_id=family_id,
                issued_at=now,
                expires_at=now + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"]),
            ),
        ]
    )
    session.flush()
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": access_ttl,
        "user": user,
    }


def issue_tokens(user: User, device_name: str = "", *, now: datetime) -> dict[str, Any]:
    """Register a device for `user` and issue its first token pair."""
    device = Device(user_id=user.id, name=device_name or "", last_seen_at=now)
    session.add(device)
    session.flush()
    return _issue_pair(user, device, uuid.uuid4(), now)


def check_credentials(username: str, password: str) -> User:
    """Return the active user whose password this is; else record the failure and refuse (401,
    kept on record: ``persist``)."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if not _check_password(user, password) or user is None or not user.active:
        record(
            "auth.login_failed",
            "user",
            getattr(user, "id", None),
            {"username": username[:80]},
            actor=user,
        )
        raise DomainError(
            "auth.invalid_credentials", 401, _("Wrong username or password."), persist=True
        )
    return user


def login(
    username: str, password: str, device_name: str | None, *, now: datetime
) -> dict[str, Any]:
    """Check a password and issue tokens for a new device session."""
    user = check_credentials(username, password)
    result = issue_tokens(user, device_name or "", now=now)
    record("auth.login", "user", user.id, {"device": device_name or ""}, actor=user)
    return result


def console_login(username: str, password: str) -> User:
    """Check a password for a session of the staff console (no device, no tokens)."""
    user = check_credentials(username, password)
    record("auth.login", "user", user.id, {"device": "console"}, actor=user)
    return user


def refresh(refresh_token: str, *, now: datetime) -> dict[str, Any]:
    """Rotate a refresh token; reuse of an already-rotated one revokes the whole family."""
    tok = session.execute(
        select(Token)
        .where(Token.token_hash == token_hash(refresh_token), Token.kind == "refresh")
        .with_for_update()
    ).scalar_one_or_none()
    invalid = DomainError(
        "auth.invalid_token", 401, _("The refresh token is not valid; log in again.")
    )
    if tok is None or tok.revoked_at is not None or tok.expires_at <= now:
        raise invalid
    device = session.get(Device, tok.device_id)
    user = session.get(User, tok.user_id)
    if device is None or device.revoked_at is not None or user is None or not user.active:
        raise invalid
    if tok.rotated_at is not None:
        _revoke_family(tok.family_id, now)
        record(
            "auth.refresh_reused",
            "device",
            device.id,
            {"family_id": str(tok.family_id)},
            actor=user,
        )
        raise DomainError(
            "auth.refresh_reused",
            401,
            _(
                "This refresh token was already used; every session of this device "
                "login is revoked. Log in again."
            ),
            persist=True,
        )
    tok.rotated_at = now
    # The access token issued with it is superseded too.
    pair = _issue_pair(user, device, tok.family_id, now)
    record("auth.refresh", "device", device.id, actor=user)
    return pair


def refresh_family(refresh_token: str) -> uuid.UUID | None:
    """Return the token family a refresh token belongs to, or None for an unknown token."""
    if not refresh_token:
        return None
    return session.execute(
        select(Token.family_id).where(
            Token.token_hash == token_hash(refresh_token), Token.kind == "refresh"
        )
    ).scalar_one_or_none()


def _revoke_family(family_id: uuid.UUID, now: Any) -> None:
    session.execute(
        update(Token)
        .where(Token.family_id == family_id, Token.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def logout(actor: User, family_id: uuid.UUID, device_id: uuid.UUID, *, now: datetime) -> None:
    """Revoke every token of the caller's login (``family_id``, of the token they used)."""
    _revoke_family(family_id, now)
    record("auth.logout", "device", device_id, actor=actor)


def list_devices(user_id: uuid.UUID | None) -> Any:
    """Query devices (all, or one user's), newest first."""
    stmt = select(Device).order_by(Device.created_at.desc())
    if user_id:
        stmt = stmt.where(Device.user_id == user_id)
    return stmt


def revoke_device(actor: User, device_id: uuid.UUID, *, now: datetime) -> Device:
    """Revoke a lost device: its tokens stop working at once."""
    device = session.get(Device, device_id)
    if device is None:
        raise not_found("device")
    if device.revoked_at is None:
        device.revoked_at = now
        session.execute(
            update(Token)
            .where(Token.device_id == device.id, Token.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        record("device.revoke", "device", device.id, {"user_id": str(device.user_id)}, actor=actor)
    session.flush()
    return device
