"""Public reports (群众举报): anonymous intake with an optional photo, staff triage in scope.

A report becomes a ticket only when staff verify it: :func:`verify_public_report` opens it
through the hazards' own :func:`~app.hazards.services.issue_hazard`. The inline photo is
stored through :func:`app.media.services.store_photo`, like any other upload.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, select
from sqlalchemy.orm import selectinload

from app.audit.services import record
from app.db import for_update, session
from app.errors import DomainError, not_found
from app.hazards.deadlines import require_future
from app.hazards.models import Hazard
from app.hazards.services import checklist_basis, enterprise_in_scope, issue_hazard
from app.hazards.timeline import SystemActor
from app.http import version_etag
from app.i18n import _
from app.media.services import store_photo
from app.org.models import Jurisdiction, User
from app.org.services import is_district_level
from app.public_reports.models import PublicReport
from app.settings import get_settings
from media.errors import MediaError

#: The roles that triage reports.
REPORT_STAFF = ("coordinator", "supervisor")


def report_scope(user: User) -> ColumnElement[bool]:
    """SQL: the reports `user` triages (their street's; unplaced ones go to district staff)."""
    if user.role not in REPORT_STAFF:
        return false()
    if is_district_level(user):
        return PublicReport.id.is_not(None)
    return PublicReport.jurisdiction_code == user.jurisdiction_code


def photo_visible(user: User, sha256: str) -> bool:
    """Tell whether a photo is the one of a report `user` triages (for GET /media/{sha256})."""
    if user.role not in REPORT_STAFF:
        return False
    stmt = select(PublicReport.id).where(PublicReport.photo_sha256 == sha256, report_scope(user))
    return session.execute(stmt.limit(1)).first() is not None


def submit_public_report(data: dict[str, Any], *, now: datetime) -> PublicReport:
    """Receive an anonymous report (with an optional inline photo, stored through media)."""
    jurisdiction = data.get("jurisdiction")
    sha = _store_report_photo(data["photo"], now) if data.get("photo") else None
    if jurisdiction and session.get(Jurisdiction, jurisdiction) is None:
        raise DomainError(
            "validation_error",
            422,
            _("Choose a street from the list, or leave it empty."),
            {"jurisdiction": [_("Unknown jurisdiction code.")]},
        )
    location = data.get("location") or {}
    report = PublicReport(
        description=data["description"],
        address=data.get("address", ""),
        lat=location.get("lat"),
        lon=location.get("lon"),
        jurisdiction_code=jurisdiction,
        enterprise_name=data.get("enterprise_name", ""),
        contact=data.get("contact"),
        photo_sha256=sha,
        status="pending",
        received_at=now,
    )
    session.add(report)
    session.flush()
    record(
        "public_report.receive",
        "public_report",
        report.id,
        {"jurisdiction": jurisdiction, "photo": sha},
        actor=SystemActor,
    )
    return report


def _store_report_photo(data: bytes, now: datetime) -> str:
    """Store an inline photo as any upload is stored (no uploader: the reporter is anonymous)."""
    limit = get_settings().public_report_max_photo_bytes
    if len(data) > limit:
        raise DomainError(
            "validation_error",
            422,
            _("The photo is too large; send a smaller one."),
            {"photo": [_("At most %(limit)s bytes.", limit=limit)]},
        )
    try:
        obj, _created = store_photo(data, actor=None, now=now, via="public_report")
    except MediaError as err:
        raise DomainError(err.code, err.status, err.message, {"photo": [err.message]}) from None
    return obj.sha256


def _require_report_staff(user: User) -> None:
    if user.role not in REPORT_STAFF:
        raise DomainError(
            "auth.forbidden", 403, _("Public reports are triaged by coordinators and supervisors.")
        )


def list_public_reports(user: User, args: dict[str, Any]) -> Select[Any]:
    """Query the reports a coordinator or supervisor triages (their jurisdiction; unplaced ones
    go to district-level staff)."""
    _require_report_staff(user)
    stmt = select(PublicReport).where(report_scope(user)).options(selectinload(PublicReport.hazard))
    if args.get("status"):
        stmt = stmt.where(PublicReport.status == args["status"])
    return stmt.order_by(PublicReport.received_at.desc())


def _lock_report(
    user: User, report_id: uuid.UUID, check_etag: Callable[[str], None] | None
) -> PublicReport:
    _require_report_staff(user)
    report = session.execute(
        for_update(select(PublicReport).where(PublicReport.id == report_id, report_scope(user)))
    ).scalar_one_or_none()
    if report is None:
        raise not_found("public_report")
    if check_etag is not None:
        check_etag(version_etag("public_report", report.id, report.version))
    return report


def get_public_report(user: User, report_id: uuid.UUID) -> PublicReport:
    """Return one report (staff in scope)."""
    _require_report_staff(user)
    report = session.execute(
        select(PublicReport)
        .where(PublicReport.id == report_id, report_scope(user))
        .options(selectinload(PublicReport.hazard))
    ).scalar_one_or_none()
    if report is None:
        raise not_found("public_report")
    return report


def verify_public_report(
    user: User,
    report_id: uuid.UUID,
    data: dict[str, Any],
    check_etag: Callable[[str], None] | None = None,
    *,
    now: datetime,
) -> Hazard:
    """Confirm a report (查实): issue its public_report ticket; a retry returns the same ticket."""
    report = _lock_report(user, report_id, check_etag)
    if report.status == "verified":
        existing = session.execute(
            select(Hazard).where(Hazard.public_report_id == report.id)
        ).scalar_one()
        return existing
    if report.status != "pending":
        raise DomainError(
            "public_report.already_decided", 409, _("This report was already rejected.")
        )
    enterprise = enterprise_in_scope(user, data["enterprise_id"])
    item = checklist_basis(enterprise.industry, data.get("item_code"))
    hazard = issue_hazard(
        source="public_report",
        enterprise=enterprise,
        grade=data["grade"],
        description=data.get("description") or report.description,
        actor=user,
        photos=[report.photo_sha256] if report.photo_sha256 else [],
        found_at=report.received_at,
        deadline=require_future(data.get("deadline"), "deadline", now),
        item_code=data.get("item_code"),
        basis=(item or {}).get("basis"),
        public_report_id=report.id,
        note=data.get("note", ""),
        now=now,
    )
    report.status, report.decided_by, report.decided_at = "verified", user.id, now
    report.decision_note = data.get("note", "")
    report.version += 1
    record(
        "public_report.verify",
        "public_report",
        report.id,
        {"hazard_id": str(hazard.id), "number": hazard.number},
        actor=user,
    )
    session.flush()
    return hazard


def reject_public_report(
    user: User,
    report_id: uuid.UUID,
    data: dict[str, Any],
    check_etag: Callable[[str], None] | None = None,
    *,
    now: datetime,
) -> PublicReport:
    """Reject a report that did not check out (查无实据), with the reason."""
    report = _lock_report(user, report_id, check_etag)
    if report.status == "rejected":
        return report
    if report.status != "pending":
        raise DomainError(
            "public_report.already_decided", 409, _("This report was already verified.")
        )
    report.status, report.decided_by, report.decided_at = "rejected", user.id, now
    report.decision_note = data["note"]
    report.version += 1
    record("public_report.reject", "public_report", report.id, {"note": data["note"]}, actor=user)
    session.flush()
    return report
