"""Who may see an inspection and its findings: the one confidentiality rule (四不两直).

Until check-in an inspection is visible only to its planner and to its assigned inspectors, and
to those only from ``dispatch_at``; never to the target enterprise. Every read goes through
:func:`visibility_clause` (lists, detail, findings, counts, statistics, the sync feed, photos),
and every read of a not-yet-started inspection is written to the audit log with its reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, union
from sqlalchemy.orm import Session

from app.audit.services import Event, record_all
from app.clock import utcnow
from app.db import cites_photo, session
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.org.models import User
from app.org.services import jurisdiction_filter

#: States after check-in: the inspection is no longer confidential.
STARTED_STATES = ("in_progress", "submitted", "reviewed", "closed")
#: Findings an enterprise account may see: those of inspections that were reviewed.
ENTERPRISE_FINDINGS_STATES = ("reviewed", "closed")


def started_clause() -> ColumnElement[bool]:
    """SQL: the inspection was checked in (it is no longer confidential)."""
    return or_(Inspection.check_in_received_at.is_not(None), Inspection.status.in_(STARTED_STATES))


def is_started(insp: Inspection) -> bool:
    """Tell whether the inspection was checked in (no longer confidential)."""
    return insp.check_in_received_at is not None or insp.status in STARTED_STATES


def visibility_clause(user: User, now: datetime | Any = None) -> ColumnElement[bool]:
    """SQL condition: the inspections `user` may see at `now` (see the module docstring).

    `now` may be a bind parameter, for a statement built once and run at any time.

    - its planner, always;
    - an assigned inspector, from ``dispatch_at`` on (no dispatch time: at once);
    - after check-in, staff whose jurisdiction scope covers the inspection;
    - after check-in, the inspected enterprise's own account;
    - nobody else — administrators included — before check-in.
    """
    if now is None:
        now = utcnow()
    if user.role == "enterprise":
        if user.enterprise_id is None:
            return false()
        return and_(started_clause(), Inspection.enterprise_id == user.enterprise_id)
    return or_(*_staff_alternatives(user, now))


def viewer_key(user: User) -> tuple[Any, ...]:
    """What :func:`visibility_clause` reads of `user` and of the app: two users with the same key
    get the same condition, so a statement built on it may be kept and run for either."""
    return (
        current_app.config["DISTRICT_CODE"],
        user.id,
        user.role,
        user.jurisdiction_code,
        user.enterprise_id,
    )


def _staff_alternatives(user: User, now: datetime | Any) -> list[ColumnElement[bool]]:
    """The rule's alternatives for staff: planner, assigned from dispatch, in scope once started
    (in that order: ``own_work_ids`` takes the first two)."""
    assigned = exists().where(
        InspectionInspector.inspection_id == Inspection.id,
        InspectionInspector.user_id == user.id,
    )
    dispatched = or_(Inspection.dispatch_at.is_(None), Inspection.dispatch_at <= now)
    return [
        Inspection.planner_id == user.id,
        and_(assigned, dispatched),
        and_(started_clause(), jurisdiction_filter(user, Inspection.jurisdiction_code)),
    ]


def visible_ids(user: User, now: datetime | None = None) -> Select[Any]:
    """Return a one-column select of the ids of the inspections `user` may see at `now`.

    The same set as :func:`visibility_clause`, as a union of its alternatives: each part reads
    its own index (``planner_id``, the team's ``user_id``, ``jurisdiction_code``), where one
    ``OR`` of them reads every inspection of the district (docs/scaling.md). For the sync
    scope's reconcile, which reads the set on every pull page.
    """
    now = now or utcnow()
    if user.role == "enterprise":
        return select(Inspection.id).where(visibility_clause(user, now))
    parts = union(*(select(Inspection.id).where(a) for a in _staff_alternatives(user, now)))
    ids = parts.subquery()
    return select(ids.c[0])


def own_work_ids(user: User, now: datetime | None = None) -> Select[Any]:
    """Return a one-column select of the ids of the inspections staff `user` sees as their own
    work at `now`: the rule's alternatives but the jurisdiction's (planned by them, or on
    their team from dispatch on), each through its own index. What they may see outside
    their jurisdiction is exactly these (a street's staff see no other street's)."""
    now = now or utcnow()
    own = _staff_alternatives(user, now)[:2]
    return select(union(*(select(Inspection.id).where(a) for a in own)).subquery().c[0])


def visible_inspections(user: User, now: datetime | None = None) -> Select[Any]:
    """Return ``select(Inspection)`` limited to what `user` may see; every read starts here."""
    return select(Inspection).where(visibility_clause(user, now))


def log_confidential_reads(
    user: User,
    inspections: Iterable[Inspection],
    via: str,
    now: datetime | None = None,
    db: Session | None = None,
) -> None:
    """Audit-log each read of an inspection that is not yet started (undispatched or in window)."""
    now = now or utcnow()
    events = [
        Event(
            "inspection.confidential_read",
            "inspection",
            insp.id,
            {
                "via": via,
                "reader_role": user.role,
                "dispatched": insp.dispatch_at is None or insp.dispatch_at <= now,
            },
        )
        for insp in inspections
        if not is_started(insp)
    ]
    record_all(events, actor=user, db=db)


def finding_cites_photo(user: User, sha256: str) -> bool:
    """Tell whether ``user`` sees a live finding citing the photo (a photo-citation provider).

    Findings follow their inspection's rule; an enterprise sees them once it was reviewed.
    """
    conditions = [
        Finding.deleted.is_(False),
        cites_photo(Finding.photos, sha256),
        visibility_clause(user),
    ]
    if user.role == "enterprise":
        conditions.append(Inspection.status.in_(ENTERPRISE_FINDINGS_STATES))
    finding = session.scalar(
        select(Finding.id)
        .join(Inspection, Inspection.id == Finding.inspection_id)
        .where(*conditions)
        .limit(1)
    )
    return finding is not None
