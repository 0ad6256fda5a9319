"""Scopes (who sees which jurisdiction or enterprise) and user administration."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.exc import IntegrityError

from app.audit.services import record
from app.auth.services import hash_password
from app.db import for_update, session
from app.errors import MESSAGES, DomainError, not_found
from app.i18n import _
from app.org.models import ROLES, STAFF_ROLES, Department, Jurisdiction, User
from app.registry.models import Enterprise


def is_district_level(user: User) -> bool:
    """District-level staff (of the district itself, not a street) see the whole district."""
    return (
        user.role != "enterprise" and user.jurisdiction_code == current_app.config["DISTRICT_CODE"]
    )


def can_see_jurisdiction(user: User, code: str) -> bool:
    """Tell whether staff `user` may see records of jurisdiction `code`."""
    if user.role == "enterprise":
        return False
    return is_district_level(user) or user.jurisdiction_code == code


def jurisdiction_filter(user: User, column: Any) -> ColumnElement[bool]:
    """Return a SQL condition limiting `column` (a jurisdiction code) to the user's scope."""
    if user.role == "enterprise":
        return false()
    if is_district_level(user):
        return true()
    return column == user.jurisdiction_code


def scope_filter(user: User, jurisdiction_col: Any, enterprise_col: Any) -> ColumnElement[bool]:
    """Limit a query of enterprise-owned records: own enterprise, own street, or the district."""
    if user.role == "enterprise":
        return enterprise_col == user.enterprise_id if user.enterprise_id else false()
    return jurisdiction_filter(user, jurisdiction_col)


def get_user(user_id: uuid.UUID, lock: bool = False) -> User:
    """Return a user or 404; with `lock`, locked for a write."""
    if lock:
        user = session.execute(for_update(select(User).where(User.id == user_id))).scalar()
    else:
        user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return user


def list_users(args: dict[str, Any]) -> Select[User]:
    """Query users with optional role and jurisdiction filters."""
    stmt = select(User).order_by(User.username)
    if args.get("role"):
        stmt = stmt.where(User.role == args["role"])
    if args.get("jurisdiction"):
        stmt = stmt.where(User.jurisdiction_code == args["jurisdiction"])
    if args.get("department"):
        stmt = stmt.where(User.department_code == args["department"])
    return stmt


#: Who may read the staff directory (to assign, review and coordinate by name).
DIRECTORY_ROLES = ("coordinator", "supervisor", "planner", "admin")
#: Who may see colleagues' phone numbers in it (they chase work by phone).
PHONE_ROLES = ("coordinator", "admin")


def staff_directory(user: User, args: dict[str, Any]) -> Select[User]:
    """Select the active staff in the caller's scope, by name (the route paginates).

    District-level callers see the whole district; a street's staff see their street and the
    district's own staff (who also take work in every street). Enterprise accounts are never
    listed. Filters: ``role``, ``department``, ``jurisdiction`` and ``q`` (part of the name).
    """
    stmt = select(User).where(User.active.is_(True), User.role.in_(STAFF_ROLES))
    if not is_district_level(user):
        district = current_app.config["DISTRICT_CODE"]
        stmt = stmt.where(User.jurisdiction_code.in_((user.jurisdiction_code, district)))
    if args.get("role"):
        stmt = stmt.where(User.role == args["role"])
    if args.get("department"):
        stmt = stmt.where(User.department_code == args["department"])
    if args.get("jurisdiction"):
        stmt = stmt.where(User.jurisdiction_code == args["jurisdiction"])
    if args.get("q"):
        stmt = stmt.where(User.name.contains(args["q"], autoescape=True))
    return stmt.order_by(User.jurisdiction_code, User.role, User.name, User.id)


def directory_entries(viewer: User, staff: list[User]) -> list[dict[str, Any]]:
    """Describe a page of the directory for ``viewer``: phones only for roles that chase work."""
    show_phone = viewer.role in PHONE_ROLES
    return [
        {
            "id": u.id,
            "name": u.name,
            "role": u.role,
            "department_code": u.department_code,
            "jurisdiction_code": u.jurisdiction_code,
            "certificate_no": u.certificate_no,
            "phone": u.phone if show_phone else None,
        }
        for u in staff
    ]


def _check_refs(data: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if "role" in data and data["role"] not in ROLES:
        errors["role"] = [_("Must be one of: %(choices)s.", choices=", ".join(ROLES))]
    if data.get("jurisdiction") and session.get(Jurisdiction, data["jurisdiction"]) is None:
        errors["jurisdiction"] = [_("Unknown jurisdiction code.")]
    if data.get("department") and session.get(Department, data["department"]) is None:
        errors["department"] = [_("Unknown department code.")]
    if data.get("role") == "enterprise" and not data.get("enterprise_id"):
        errors["enterprise_id"] = [_("An enterprise account needs its enterprise.")]
    if data.get("enterprise_id") and session.get(Enterprise, data["enterprise_id"]) is None:
        errors["enterprise_id"] = [_("Unknown enterprise.")]
    if errors:
        raise DomainError("validation_error", 422, _(MESSAGES[422]), errors)


def create_user(actor: User, data: dict[str, Any]) -> User:
    """Create a user account (admins only)."""
    _check_refs(data)
    user = User(
        username=data["username"],
        password_hash=hash_password(data["password"]),
        name=data.get("name", ""),
        role=data["role"],
        jurisdiction_code=data["jurisdiction"],
        department_code=data.get("department"),
        enterprise_id=data.get("enterprise_id"),
        phone=data.get("phone"),
        certificate_no=data.get("certificate_no"),
        certificate_expires=data.get("certificate_expires"),
        conflicts=[str(c) for c in data.get("conflicts", [])],
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise DomainError(
            "user.username_taken", 409, _("That username is taken; choose another.")
        ) from exc
    record(
        "user.create", "user", user.id, {"username": user.username, "role": user.role}, actor=actor
    )
    return user


def update_user(actor: User, user: User, data: dict[str, Any]) -> User:
    """Change a user's profile, role, scope or inspector registry fields (admins only)."""
    _check_refs(
        {**data, "enterprise_id": data.get("enterprise_id", user.enterprise_id)}
        if data.get("role") == "enterprise"
        else data
    )
    changes: dict[str, Any] = {}
    mapping = {
        "name": "name",
        "role": "role",
        "jurisdiction": "jurisdiction_code",
        "department": "department_code",
        "enterprise_id": "enterprise_id",
        "phone": "phone",
        "certificate_no": "certificate_no",
        "certificate_expires": "certificate_expires",
        "active": "active",
    }
    for key, attr in mapping.items():
        if key in data and getattr(user, attr) != data[key]:
            changes[key] = [getattr(user, attr), data[key]]
            setattr(user, attr, data[key])
    if "conflicts" in data:
        new = sorted({str(c) for c in data["conflicts"]})
        if new != sorted(user.conflicts or []):
            changes["conflicts"] = [user.conflicts, new]
            user.conflicts = new
    if data.get("password"):
        user.password_hash = hash_password(data["password"])
        changes["password"] = ["***", "***"]
    if changes:
        user.version += 1
        record("user.update", "user", user.id, {"changes": changes}, actor=actor)
    session.flush()
    return user


def set_locale(user: User, locale: str | None) -> User:
    """Set the language a user reads the API in (None: follow the browser); users set their own."""
    if user.locale != locale:
        # Not a change of the profile admins edit (users.version, the ETag): a user's own
        # preference, the last choice wins.
        record("user.locale", "user", user.id, {"locale": [user.locale, locale]}, actor=user)
        user.locale = locale
    session.flush()
    return user


def list_jurisdictions() -> list[Jurisdiction]:
    """Return the district and its streets/towns."""
    return list(
        session.execute(
            select(Jurisdiction).order_by(Jurisdiction.level, Jurisdiction.code)
        ).scalars()
    )


def list_departments() -> list[Department]:
    """Return the departments."""
    return list(session.execute(select(Department).order_by(Department.code)).scalars())
