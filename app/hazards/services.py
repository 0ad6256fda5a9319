"""Hazard tickets: issue, the one transition table, actions, the escalation sweep, public reports.

Every change goes the same way: lock the ticket row, check the caller's scope (404) and the
transition table (409 ``hazard.invalid_transition``), change it, append a timeline event, write
the hash-chained audit entry, put the ticket in the devices' sync feed and queue notifications.
Services flush; the request (or the CLI command / sync push) commits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select
from sqlalchemy.exc import IntegrityError

from app.audit.services import record
from app.changelog import record_change
from app.clock import isoformat, utcnow
from app.db import cites_photo, session
from app.errors import DomainError, not_found
from app.hazards.models import (
    ESCALATION_LEVELS,
    HAZARD_STATES,
    MAX_ESCALATION,
    Hazard,
    HazardCounter,
    HazardEvent,
    PublicReport,
)
from app.hazards.settings import responsible_department, setting
from app.http import version_etag
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.inspections.services import advance_status
from app.org.models import Jurisdiction, User
from app.org.services import can_see_jurisdiction, scope_filter
from app.registry.models import Enterprise

CHINA_TZ = timezone(timedelta(hours=8))
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: States in which the enterprise still has to act: deadlines run, the sweep escalates.
ACTIVE_STATES = ("open", "rectifying")
STAFF_CREATORS = ("inspector", "supervisor", "coordinator")

# ---------------------------------------------------------------------------------------------
# The transition table: (state, action) → who may act, and the next state.
#
# "who" is one of the actor kinds below (see actor_kinds). Anything not in this table — an
# action from another state, or by someone of another kind — answers 409 hazard.invalid_transition.

COORDINATOR = "coordinator"  # a coordinator (工作专班) who can see the ticket
PARTY = "enterprise_or_assignee"  # the ticket's enterprise account, or its assignee
RECHECKER = "recheck_inspector"  # an inspector: the assignee, or on a recheck inspection of it
CLOSER = "responsible_supervisor"  # a supervisor of the industry's responsible department
VIEWER = "viewer"  # anyone who can see the ticket
ACTOR_KINDS = (COORDINATOR, PARTY, RECHECKER, CLOSER, VIEWER)


@dataclass(frozen=True)
class Transition:
    who: str
    #: None: the state does not change; a dict: the next state by recheck result.
    to: str | dict[str, str] | None


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("open", "assign"): Transition(COORDINATOR, None),
    ("rectifying", "assign"): Transition(COORDINATOR, None),
    ("rectified", "assign"): Transition(COORDINATOR, None),
    ("open", "start"): Transition(PARTY, "rectifying"),
    ("rectifying", "submit_rectification"): Transition(PARTY, "rectified"),
    ("rectified", "recheck"): Transition(RECHECKER, {"pass": "verified", "fail": "rectifying"}),
    # 即查即改: a general hazard fixed on the spot, with photo proof.
    ("open", "recheck"): Transition(RECHECKER, {"pass": "verified"}),
    ("verified", "close"): Transition(CLOSER, "closed"),
    ("open", "escalate"): Transition(COORDINATOR, None),
    ("rectifying", "escalate"): Transition(COORDINATOR, None),
    ("open", "request_extension"): Transition(PARTY, None),
    ("rectifying", "request_extension"): Transition(PARTY, None),
    ("open", "decide_extension"): Transition(COORDINATOR, None),
    ("rectifying", "decide_extension"): Transition(COORDINATOR, None),
    **{(state, "comment"): Transition(VIEWER, None) for state in HAZARD_STATES},
}


# ---------------------------------------------------------------------------------------------
# Scope and actors


def _recheck_assignment(user: User, enterprise_col: Any, now: datetime) -> ColumnElement[bool]:
    """SQL: `user` is on a live, dispatched recheck inspection of the ticket's enterprise."""
    return exists().where(
        InspectionInspector.inspection_id == Inspection.id,
        InspectionInspector.user_id == user.id,
        Inspection.type == "recheck",
        Inspection.enterprise_id == enterprise_col,
        Inspection.status.notin_(("cancelled", "closed")),
        or_(Inspection.dispatch_at.is_(None), Inspection.dispatch_at <= now),
    )


def visibility_clause(user: User, now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the tickets `user` may see (scope, own enterprise, assigned, or on its recheck)."""
    now = now or utcnow()
    conds: list[ColumnElement[bool]] = [
        scope_filter(user, Hazard.jurisdiction_code, Hazard.enterprise_id),
        Hazard.assignee_id == user.id,
    ]
    if user.role == "inspector":
        conds.append(_recheck_assignment(user, Hazard.enterprise_id, now))
    return or_(*conds)


def can_see(user: User, hazard: Hazard) -> bool:
    """Tell whether `user` may see `hazard`."""
    if user.role == "enterprise":
        return user.enterprise_id is not None and hazard.enterprise_id == user.enterprise_id
    if hazard.assignee_id == user.id or can_see_jurisdiction(user, hazard.jurisdiction_code):
        return True
    return user.role == "inspector" and _on_recheck(user, hazard)


def _on_recheck(user: User, hazard: Hazard) -> bool:
    stmt = select(_recheck_assignment(user, hazard.enterprise_id, utcnow()))
    return bool(session.scalar(stmt))


def actor_kinds(user: User, hazard: Hazard) -> set[str]:
    """Return the kinds of actor `user` is for `hazard` (they must be able to see it)."""
    kinds = {VIEWER}
    if user.role == "coordinator":
        kinds.add(COORDINATOR)
    own_enterprise = user.role == "enterprise" and user.enterprise_id == hazard.enterprise_id
    if own_enterprise or (hazard.assignee_id is not None and hazard.assignee_id == user.id):
        kinds.add(PARTY)
    if user.role == "inspector" and (hazard.assignee_id == user.id or _on_recheck(user, hazard)):
        kinds.add(RECHECKER)
    if user.role == "supervisor" and user.department_code == responsible_department(
        hazard.industry
    ):
        kinds.add(CLOSER)
    return kinds


def allowed_actions(user: User, hazard: Hazard) -> list[str]:
    """Return the actions `user` may take on `hazard` now, by the transition table."""
    kinds = actor_kinds(user, hazard)
    return [
        action
        for (state, action), rule in TRANSITIONS.items()
        if state == hazard.status and rule.who in kinds
    ]


def photo_visible(user: User, sha256: str) -> bool:
    """Tell whether a photo is referenced by a ticket, timeline entry or report `user` may see.

    For the media package's access check on GET /media/{sha256}.
    """
    vis = visibility_clause(user)
    in_ticket = select(Hazard.id).where(vis, cites_photo(Hazard.photos, sha256)).limit(1)
    if session.execute(in_ticket).first() is not None:
        return True
    in_timeline = (
        select(HazardEvent.id)
        .join(Hazard, Hazard.id == HazardEvent.hazard_id)
        .where(vis, cites_photo(HazardEvent.photos, sha256))
        .limit(1)
    )
    if session.execute(in_timeline).first() is not None:
        return True
    if user.role in REPORT_STAFF:
        stmt = select(PublicReport.id).where(
            PublicReport.photo_sha256 == sha256, _report_scope(user)
        )
        return session.execute(stmt.limit(1)).first() is not None
    return False


# ---------------------------------------------------------------------------------------------
# Reads


def etag_of(hazard: Hazard) -> str:
    """Return the ticket's ETag."""
    return version_etag("hazard", hazard.id, hazard.version)


def is_overdue(hazard: Hazard, now: datetime | None = None) -> bool:
    """Tell whether the enterprise is late: still to act and past the deadline."""
    return hazard.status in ACTIVE_STATES and hazard.deadline <= (now or utcnow())


def list_hazards(user: User, args: dict[str, Any]) -> Select[Any]:
    """Query the tickets `user` may see, filtered, most urgent deadline first."""
    now = utcnow()
    stmt = select(Hazard).where(visibility_clause(user, now))
    for name, col in (
        ("status", Hazard.status),
        ("grade", Hazard.grade),
        ("jurisdiction", Hazard.jurisdiction_code),
        ("industry", Hazard.industry),
        ("source", Hazard.source),
        ("enterprise_id", Hazard.enterprise_id),
    ):
        if args.get(name):
            stmt = stmt.where(col == args[name])
    if args.get("assignee"):
        assignee = args["assignee"]
        stmt = stmt.where(Hazard.assignee_id == (user.id if assignee == "me" else assignee))
    if args.get("listed") is not None:
        stmt = stmt.where(Hazard.listed.is_(args["listed"]))
    if args.get("overdue") is True:
        stmt = stmt.where(Hazard.status.in_(ACTIVE_STATES), Hazard.deadline <= now)
    elif args.get("overdue") is False:
        stmt = stmt.where(or_(Hazard.status.notin_(ACTIVE_STATES), Hazard.deadline > now))
    if args.get("escalation_level") is not None:
        stmt = stmt.where(Hazard.escalation_level >= args["escalation_level"])
    return stmt.order_by(Hazard.deadline, Hazard.number)


def get_hazard(user: User, hazard_id: uuid.UUID) -> Hazard:
    """Return a ticket the caller may see, or 404."""
    hazard = session.get(Hazard, hazard_id)
    if hazard is None or not can_see(user, hazard):
        raise not_found("hazard")
    return hazard


def timeline_of(hazard: Hazard) -> list[HazardEvent]:
    """Return a ticket's timeline, oldest first."""
    stmt = select(HazardEvent).where(HazardEvent.hazard_id == hazard.id).order_by(HazardEvent.seq)
    return list(session.execute(stmt).scalars())


def enterprise_brief(hazard: Hazard) -> dict[str, Any] | None:
    """Return {id, name, address} of the ticket's enterprise."""
    ent = session.get(Enterprise, hazard.enterprise_id)
    if ent is None:
        return None
    return {"id": str(ent.id), "name": ent.name, "address": ent.address}


def serialize_hazard(hazard: Hazard, with_timeline: bool = True) -> dict[str, Any]:
    """Return the ticket as the API shows it (the sync feed uses this for type "hazard")."""
    from app.hazards.schemas import HazardDetailSchema, HazardSchema

    schema = HazardDetailSchema() if with_timeline else HazardSchema()
    return schema.dump(hazard)


# ---------------------------------------------------------------------------------------------
# Numbers, deadlines, the timeline


def allocate_number(at: datetime) -> tuple[int, int, str]:
    """Take the next number of the year (China time) under a row lock; gapless if rolled back."""
    year = at.astimezone(CHINA_TZ).year
    lock = (
        select(HazardCounter)
        .where(HazardCounter.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    counter = session.execute(lock).scalar_one_or_none()
    if counter is None:
        try:
            with session.begin_nested():
                session.add(HazardCounter(year=year, last=0))
                session.flush()
        except IntegrityError:
            pass  # another transaction created the year's row first; lock theirs
        counter = session.execute(lock).scalar_one()
    counter.last += 1
    session.flush()
    prefix = setting("HAZARD_NUMBER_PREFIX")
    return year, counter.last, f"{prefix}〔{year}〕{counter.last:04d}号"


def default_deadline(grade: str, at: datetime) -> datetime:
    """Return the default rectification deadline for a grade (FIELDSAFE_HAZARD_DEADLINE_DAYS_*)."""
    days = setting(f"HAZARD_DEADLINE_DAYS_{grade.upper()}")
    return at + timedelta(days=int(days))


def _interval() -> timedelta:
    return timedelta(days=float(setting("HAZARD_ESCALATION_INTERVAL_DAYS")))


def _next_escalation(hazard: Hazard) -> datetime | None:
    if hazard.escalation_level >= MAX_ESCALATION:
        return None
    due = hazard.deadline
    if hazard.escalated_at is not None:
        due = max(due, hazard.escalated_at + _interval())
    return due


def _set_deadline(hazard: Hazard, deadline: datetime) -> None:
    # Every deadline is written here: none may fall before the hazard was found (发现时间).
    if hazard.found_at is not None and deadline <= hazard.found_at:
        raise DomainError(
            "validation_error",
            422,
            "The deadline must be after the hazard was found.",
            {"deadline": [f"Must be later than found_at, {isoformat(hazard.found_at)}."]},
        )
    hazard.deadline = deadline
    hazard.next_escalation_at = _next_escalation(hazard)


def _future(value: datetime | None, field: str, now: datetime) -> datetime | None:
    if value is not None and value <= now:
        raise DomainError(
            "validation_error", 422, "The date must be in the future.", {field: ["Must be later."]}
        )
    return value


def _photos(photos: Iterable[str] | None) -> list[str]:
    result = list(dict.fromkeys(p.strip().lower() for p in (photos or ())))
    bad = [p for p in result if not SHA256_RE.match(p)]
    if bad:
        raise DomainError(
            "validation_error",
            422,
            "Photos are SHA-256 hex digests of uploaded photos.",
            {"photos": [f"Not a SHA-256: {b[:70]}" for b in bad]},
        )
    return result


def _actor_fields(actor: User | None) -> dict[str, Any]:
    if actor is None:
        return {"actor_id": None, "actor_name": "system", "actor_role": None}
    return {"actor_id": actor.id, "actor_name": actor.username, "actor_role": actor.role}


def _append(
    hazard: Hazard,
    actor: User | None,
    action: str,
    *,
    note: str = "",
    photos: Sequence[str] = (),
    from_status: str | None = None,
    data: dict[str, Any] | None = None,
    device_at: datetime | None = None,
    now: datetime | None = None,
) -> HazardEvent:
    """Append a timeline event, bump the version, audit-log it and put the ticket in the feed."""
    now = now or utcnow()
    last = session.scalar(
        select(HazardEvent.seq)
        .where(HazardEvent.hazard_id == hazard.id)
        .order_by(HazardEvent.seq.desc())
        .limit(1)
    )
    payload = _jsonable(data or {})
    seq = (last or 0) + 1
    note = note or ""
    if from_status is not None or action != "issue":
        hazard.version += 1
    hazard.updated_at = now
    # The audit entry first, so the timeline row is written once, complete (it is never updated).
    entry = record(
        f"hazard.{action}",
        "hazard",
        hazard.id,
        {
            "number": hazard.number,
            "event_seq": seq,
            "from": from_status,
            "to": hazard.status,
            "note": note,
            "photos": list(photos),
            "device_at": isoformat(device_at),
            **payload,
        },
        actor=actor if actor is not None else _System,
    )
    event = HazardEvent(
        hazard_id=hazard.id,
        seq=seq,
        action=action,
        at=now,
        device_at=device_at,
        note=note,
        photos=list(photos),
        from_status=from_status,
        to_status=hazard.status,
        data=payload,
        audit_seq=entry.seq,
        **_actor_fields(actor),
    )
    session.add(event)
    session.flush()
    record_change(session, "hazard", hazard)
    return event


class _System:
    """The actor of sweep steps in the audit log (no user)."""

    id = None
    username = "system"


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, datetime):
            out[k] = isoformat(v)
        elif isinstance(v, uuid.UUID):
            out[k] = str(v)
        else:
            out[k] = v
    return out


def _notify(event_type: str, hazard: Hazard, **extra: Any) -> None:
    from app.notifications.services import enqueue

    data = {
        "id": str(hazard.id),
        "number": hazard.number,
        "status": hazard.status,
        "grade": hazard.grade,
        "source": hazard.source,
        "enterprise_id": str(hazard.enterprise_id),
        "enterprise_name": (enterprise_brief(hazard) or {}).get("name"),
        "jurisdiction": hazard.jurisdiction_code,
        "industry": hazard.industry,
        "deadline": isoformat(hazard.deadline),
        "assignee_id": str(hazard.assignee_id) if hazard.assignee_id else None,
        "escalation_level": hazard.escalation_level,
        "escalation": ESCALATION_LEVELS.get(hazard.escalation_level),
        "listed": hazard.listed,
        **_jsonable(extra),
    }
    enqueue(event_type, "hazard", hazard.id, data)


# ---------------------------------------------------------------------------------------------
# Issue


def issue_hazard(
    *,
    source: str,
    enterprise: Enterprise,
    grade: str,
    description: str,
    actor: User | None,
    photos: Sequence[str] = (),
    found_at: datetime | None = None,
    deadline: datetime | None = None,
    item_code: str | None = None,
    basis: dict[str, Any] | None = None,
    finding_id: uuid.UUID | None = None,
    inspection_id: uuid.UUID | None = None,
    public_report_id: uuid.UUID | None = None,
    note: str = "",
    hazard_id: uuid.UUID | None = None,
) -> Hazard:
    """Number and issue a ticket (notice to the enterprise), with its first timeline entry."""
    now = utcnow()
    year, seq, number = allocate_number(now)
    hazard = Hazard(
        id=hazard_id or uuid.uuid4(),
        number=number,
        year=year,
        seq=seq,
        source=source,
        finding_id=finding_id,
        inspection_id=inspection_id,
        public_report_id=public_report_id,
        grade=grade,
        enterprise_id=enterprise.id,
        jurisdiction_code=enterprise.jurisdiction_code,
        industry=enterprise.industry,
        item_code=item_code,
        basis=basis,
        description=description,
        photos=_photos(photos),
        found_at=found_at or now,
        status="open",
        escalation_level=0,
        listed=grade == "major",
        created_by=actor.id if actor is not None else None,
        created_at=now,
        updated_at=now,
        version=1,
    )
    _set_deadline(hazard, deadline or default_deadline(grade, now))
    session.add(hazard)
    session.flush()
    _append(
        hazard,
        actor,
        "issue",
        note=note,
        photos=hazard.photos,
        data={
            "source": source,
            "grade": grade,
            "deadline": hazard.deadline,
            "listed": hazard.listed,
            "finding_id": finding_id,
            "public_report_id": public_report_id,
        },
        now=now,
    )
    _notify("hazard.issued", hazard)
    return hazard


def checklist_basis(industry: str, item_code: str | None, version: int | None = None) -> Any:
    """Return the checklist item's {text, grade, basis} for a code, or None."""
    if not item_code:
        return None
    from app.checklists.services import checklist_item, get_checklist

    try:
        cv = get_checklist(industry, version)
    except DomainError:
        return None
    return checklist_item(cv, item_code)


def hazard_for_finding(finding: Finding, inspection: Inspection, actor: User, grade: str) -> Hazard:
    """Return the one ticket of a confirmed failed finding, issuing it if none exists yet.

    Safe under retries and concurrent confirmations: the unique hazards.finding_id decides, and
    the losing insert (with its number) is rolled back to a savepoint, so no number is skipped.
    """
    existing = session.execute(
        select(Hazard).where(Hazard.finding_id == finding.id)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    enterprise = session.get(Enterprise, inspection.enterprise_id)
    if enterprise is None:  # pragma: no cover - foreign key
        raise not_found("enterprise")
    item = checklist_basis(inspection.industry, finding.item_code, finding.checklist_version)
    description = finding.note or (item or {}).get("text") or finding.item_code
    try:
        with session.begin_nested():
            return issue_hazard(
                source="inspection",
                enterprise=enterprise,
                grade=grade,
                description=description,
                actor=actor,
                photos=finding.photos or [],
                found_at=finding.recorded_at,
                item_code=finding.item_code,
                basis=(item or {}).get("basis"),
                finding_id=finding.id,
                inspection_id=inspection.id,
            )
    except IntegrityError:
        existing = session.execute(
            select(Hazard).where(Hazard.finding_id == finding.id)
        ).scalar_one_or_none()
        if existing is None:
            raise
        return existing


def _enterprise_in_scope(user: User, enterprise_id: uuid.UUID | None) -> Enterprise:
    ent = session.get(Enterprise, enterprise_id) if enterprise_id else None
    if ent is None:
        raise not_found("enterprise")
    if user.role == "enterprise":
        if user.enterprise_id != ent.id:
            raise not_found("enterprise")
    elif not can_see_jurisdiction(user, ent.jurisdiction_code):
        raise not_found("enterprise")
    return ent


def create_hazard(user: User, data: dict[str, Any]) -> Hazard:
    """Issue a ticket by hand: an enterprise's self-report (for itself) or staff supervision."""
    if user.role == "enterprise":
        source = "self_report"
        enterprise = _enterprise_in_scope(user, data.get("enterprise_id") or user.enterprise_id)
    elif user.role in STAFF_CREATORS:
        source = "supervision"
        if not data.get("enterprise_id"):
            raise DomainError(
                "validation_error",
                422,
                "Name the enterprise the hazard was found at.",
                {"enterprise_id": ["Missing data for required field."]},
            )
        enterprise = _enterprise_in_scope(user, data["enterprise_id"])
    else:
        raise DomainError(
            "auth.forbidden",
            403,
            "Hazards are reported by enterprises (self-report) or by inspectors, supervisors "
            "and coordinators (supervision).",
        )
    if data.get("source") and data["source"] != source:
        raise DomainError(
            "validation_error",
            422,
            f"Your account reports hazards as '{source}'.",
            {"source": [f"Must be '{source}' for a {user.role} account."]},
        )
    now = utcnow()
    item = checklist_basis(enterprise.industry, data.get("item_code"))
    return issue_hazard(
        source=source,
        enterprise=enterprise,
        grade=data["grade"],
        description=data["description"],
        actor=user,
        photos=data.get("photos") or [],
        found_at=data.get("found_at") or now,
        deadline=_future(data.get("deadline"), "deadline", now),
        item_code=data.get("item_code"),
        basis=data.get("basis") or (item or {}).get("basis"),
        note=data.get("note", ""),
    )


# ---------------------------------------------------------------------------------------------
# Actions


def _lock_visible(user: User, hazard_id: uuid.UUID) -> Hazard:
    hazard = session.execute(
        select(Hazard)
        .where(Hazard.id == hazard_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if hazard is None or not can_see(user, hazard):
        raise not_found("hazard")
    return hazard


def _invalid(user: User, hazard: Hazard, action: str, why: str = "") -> DomainError:
    allowed = allowed_actions(user, hazard)
    message = why or (
        f"'{action}' is not possible on a ticket that is {hazard.status} for a {user.role} "
        f"in your position. You may: {', '.join(allowed) or 'nothing'}."
    )
    return DomainError("hazard.invalid_transition", 409, message, allowed_actions=allowed)


def apply_action(
    user: User,
    hazard_id: uuid.UUID,
    data: dict[str, Any],
    check_etag: Callable[[str], None] | None = None,
    device_at: datetime | None = None,
) -> Hazard:
    """Apply one action ({action, …}) to a ticket by the transition table; return the ticket."""
    hazard = _lock_visible(user, hazard_id)
    if check_etag is not None:
        check_etag(etag_of(hazard))
    action = data["action"]
    rule = TRANSITIONS.get((hazard.status, action))
    if rule is None or rule.who not in actor_kinds(user, hazard):
        raise _invalid(user, hazard, action)
    HANDLERS[action](hazard, user, data, rule, device_at)
    session.flush()
    return hazard


def _assign(h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any) -> None:
    now = utcnow()
    assignee = session.get(User, data["assignee_id"])
    ok = assignee is not None and assignee.active
    if ok and assignee is not None:
        if assignee.role == "enterprise":
            ok = assignee.enterprise_id == h.enterprise_id
        else:
            ok = assignee.role in STAFF_CREATORS and can_see_jurisdiction(
                assignee, h.jurisdiction_code
            )
    if not ok or assignee is None:
        raise DomainError(
            "hazard.invalid_assignee",
            422,
            "Assign the ticket to an active inspector, supervisor or coordinator whose "
            "jurisdiction covers it, or to the enterprise's own account.",
            {"assignee_id": ["Not a possible assignee for this ticket."]},
        )
    deadline = _future(data.get("deadline"), "deadline", now)
    previous = h.deadline
    h.assignee_id = assignee.id
    if deadline is not None:
        _set_deadline(h, deadline)
    _append(
        h,
        user,
        "assign",
        note=data.get("note", ""),
        from_status=h.status,
        data={
            "assignee_id": assignee.id,
            "assignee": assignee.username,
            "deadline": h.deadline,
            "previous_deadline": previous if deadline is not None else None,
        },
        now=now,
    )
    _notify("hazard.assigned", h, assignee=assignee.username)


PLAN_PARTS = (
    "goals",
    "measures",
    "funds_and_materials",
    "people_and_duties",
    "safety_measures",
    "emergency_plan",
)


def _start(h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any) -> None:
    plan = data.get("plan")
    if h.grade == "major":
        missing = [p for p in PLAN_PARTS if not (plan or {}).get(p)]
        if missing:
            raise DomainError(
                "hazard.plan_required",
                422,
                "A major hazard needs its rectification plan (治理方案) before work starts: "
                "goals, measures, funds and materials, people and duties, safety measures and "
                "an emergency plan.",
                {"plan": [f"Missing: {', '.join(missing)}."]},
            )
    before = h.status
    h.plan = _jsonable(plan) if plan else None
    h.status = _next(rule)
    _append(h, user, "start", note=data.get("note", ""), from_status=before, data={"plan": h.plan})


def _next(rule: Transition, result: str | None = None) -> str:
    if isinstance(rule.to, dict):
        return rule.to[result or ""]
    assert rule.to is not None
    return rule.to


def _submit(h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any) -> None:
    photos = _photos(data.get("photos"))
    if not photos or not (data.get("note") or "").strip():
        raise DomainError(
            "hazard.evidence_required",
            422,
            "Describe what was done and attach photos of the rectified site.",
            {"photos": ["At least one photo."]} if not photos else {"note": ["Say what was done."]},
        )
    before = h.status
    h.status = _next(rule)
    _append(h, user, "submit_rectification", note=data["note"], photos=photos, from_status=before)


def _recheck(h: Hazard, user: User, data: dict[str, Any], rule: Transition, device_at: Any) -> None:
    now = utcnow()
    result = data.get("result")
    assert isinstance(rule.to, dict)
    if result not in rule.to:
        raise _invalid(
            user,
            h,
            "recheck",
            f"A recheck of an {h.status} ticket can only pass (an on-the-spot fix); "
            "a hazard not yet fixed stays open."
            if h.status == "open"
            else "",
        )
    if h.status == "open" and h.grade != "general":
        raise _invalid(
            user,
            h,
            "recheck",
            "Only a general hazard may be closed out on the spot; a major hazard needs its "
            "rectification plan and work first.",
        )
    photos = _photos(data.get("photos"))
    if result == "pass" and not photos:
        raise DomainError(
            "hazard.photos_required",
            422,
            "A passed re-inspection needs photo proof.",
            {"photos": ["At least one photo."]},
        )
    before = h.status
    extra: dict[str, Any] = {"result": result, "on_the_spot": before == "open"}
    if result == "fail":
        deadline = _future(data.get("deadline"), "deadline", now) or default_deadline(h.grade, now)
        extra["previous_deadline"] = h.deadline
        _set_deadline(h, deadline)
        extra["deadline"] = deadline
    h.status = _next(rule, result)
    _append(
        h,
        user,
        "recheck",
        note=data.get("note", ""),
        photos=photos,
        from_status=before,
        data=extra,
        device_at=device_at,
        now=now,
    )


def _close(h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any) -> None:
    now = utcnow()
    before = h.status
    h.status = _next(rule)
    h.closed_at = now
    h.next_escalation_at = None
    _append(h, user, "close", note=data.get("note", ""), from_status=before, now=now)
    _notify("hazard.closed", h)
    if h.inspection_id is not None:
        _close_inspection_if_done(h.inspection_id, user)


def _close_inspection_if_done(inspection_id: uuid.UUID, user: User) -> None:
    """Close a reviewed inspection once every ticket it produced is closed (闭环)."""
    insp = session.execute(
        select(Inspection)
        .where(Inspection.id == inspection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if insp is None or insp.status != "reviewed":
        return
    still_open = session.scalar(
        select(Hazard.id)
        .where(Hazard.inspection_id == inspection_id, Hazard.status != "closed")
        .limit(1)
    )
    if still_open is not None:
        return
    advance_status(insp, "closed", "inspection.closed", {"reason": "all tickets closed"}, user)


def _escalate_step(h: Hazard, actor: User | None, note: str, now: datetime, auto: bool) -> None:
    h.escalation_level += 1
    h.escalated_at = now
    h.next_escalation_at = _next_escalation(h)
    label = ESCALATION_LEVELS[h.escalation_level]
    _append(
        h,
        actor,
        "escalate",
        note=note,
        from_status=h.status,
        data={"level": h.escalation_level, "label": label, "automatic": auto},
        now=now,
    )
    _notify("hazard.escalated", h, note=note)


def _escalate(h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any) -> None:
    if h.escalation_level >= MAX_ESCALATION:
        raise DomainError(
            "hazard.escalation_max",
            409,
            "The ticket is already at the top of the ladder "
            f"({ESCALATION_LEVELS[MAX_ESCALATION]}).",
        )
    _escalate_step(h, user, data.get("note", ""), utcnow(), auto=False)


def _request_extension(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any
) -> None:
    if h.extension_request:
        raise DomainError(
            "hazard.extension_pending",
            409,
            "An extension request is already waiting for a decision.",
        )
    until = data["until"]
    if until <= h.deadline:
        raise DomainError(
            "validation_error",
            422,
            "An extension must end after the current deadline.",
            {"until": [f"Must be later than {isoformat(h.deadline)}."]},
        )
    h.extension_request = {
        "until": isoformat(until),
        "reason": data["reason"],
        "by": str(user.id),
        "by_name": user.username,
        "at": isoformat(utcnow()),
    }
    _append(
        h,
        user,
        "request_extension",
        note=data["reason"],
        from_status=h.status,
        data={"until": until, "deadline": h.deadline},
    )


def _decide_extension(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _: Any
) -> None:
    req = h.extension_request
    if not req:
        raise DomainError(
            "hazard.no_extension_request",
            409,
            "There is no extension request to decide.",
        )
    approve = bool(data["approve"])
    previous = h.deadline
    until = datetime.fromisoformat(req["until"].replace("Z", "+00:00"))
    if approve:
        _set_deadline(h, until)
    h.extension_request = None
    _append(
        h,
        user,
        "decide_extension",
        note=data.get("note", ""),
        from_status=h.status,
        data={
            "approve": approve,
            "until": until,
            "requested_by": req.get("by_name"),
            "previous_deadline": previous,
            "deadline": h.deadline,
        },
    )


def _comment(h: Hazard, user: User, data: dict[str, Any], rule: Transition, device_at: Any) -> None:
    note = (data.get("note") or "").strip()
    if not note:
        raise DomainError(
            "validation_error", 422, "Write the comment.", {"note": ["Must not be empty."]}
        )
    _append(
        h,
        user,
        "comment",
        note=note,
        photos=_photos(data.get("photos")),
        from_status=h.status,
        device_at=device_at,
    )


HANDLERS: dict[str, Callable[[Hazard, User, dict[str, Any], Transition, Any], None]] = {
    "assign": _assign,
    "start": _start,
    "submit_rectification": _submit,
    "recheck": _recheck,
    "close": _close,
    "escalate": _escalate,
    "request_extension": _request_extension,
    "decide_extension": _decide_extension,
    "comment": _comment,
}


def _hazard_and_actor(a: Any, b: Any) -> tuple[uuid.UUID, User]:
    # The documented order is (hazard_id, actor); the sync engine's handler passes
    # (actor, hazard_id). Accept both rather than make either side guess.
    if isinstance(a, User):
        return b, a
    return a, b


def recheck_hazard(
    hazard_id: uuid.UUID | User,
    actor: User | uuid.UUID,
    result: str,
    note: str,
    photos: Sequence[str],
    at: datetime | None,
    deadline: datetime | None = None,
) -> Hazard:
    """Record a re-inspection (the sync mutation hazard.recheck calls this); DomainError if not."""
    hid, user = _hazard_and_actor(hazard_id, actor)
    data = {
        "action": "recheck",
        "result": result,
        "note": note,
        "photos": list(photos),
        "deadline": deadline,
    }
    return apply_action(user, hid, data, device_at=at)


def comment_hazard(
    hazard_id: uuid.UUID | User, actor: User | uuid.UUID, note: str, photos: Sequence[str] = ()
) -> Hazard:
    """Add a comment (the sync mutation hazard.comment calls this); DomainError if refused."""
    hid, user = _hazard_and_actor(hazard_id, actor)
    return apply_action(user, hid, {"action": "comment", "note": note, "photos": list(photos)})


# ---------------------------------------------------------------------------------------------
# The sweep: due-soon and overdue notices, and escalation one step per interval


def _sweep_candidates(now: datetime) -> ColumnElement[bool]:
    soon = now + timedelta(days=float(setting("HAZARD_DUE_SOON_DAYS")))
    return and_(
        Hazard.status.in_(ACTIVE_STATES),
        or_(
            and_(
                Hazard.deadline > now,
                Hazard.deadline <= soon,
                or_(
                    Hazard.due_soon_notified_for.is_(None),
                    Hazard.due_soon_notified_for != Hazard.deadline,
                ),
            ),
            and_(
                Hazard.deadline <= now,
                or_(
                    Hazard.overdue_notified_for.is_(None),
                    Hazard.overdue_notified_for != Hazard.deadline,
                ),
            ),
            and_(
                Hazard.next_escalation_at <= now,
                Hazard.escalation_level < MAX_ESCALATION,
            ),
        ),
    )


def sweep_batch(
    now: datetime, after: uuid.UUID | None = None, batch: int = 100
) -> tuple[dict[str, int], uuid.UUID | None]:
    """Process one batch of tickets needing a notice or a step; flush; return counts and cursor.

    Rows are taken ``FOR UPDATE SKIP LOCKED``: two sweeps at once split the work, and a
    processed ticket no longer matches, so running the sweep again changes nothing more.
    The caller commits after each batch and calls again with the returned cursor until None.
    """
    stmt = (
        select(Hazard)
        .where(_sweep_candidates(now))
        .order_by(Hazard.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if after is not None:
        stmt = stmt.where(Hazard.id > after)
    rows = list(session.execute(stmt).scalars())
    counts = {"due_soon": 0, "overdue": 0, "escalated": 0}
    soon = now + timedelta(days=float(setting("HAZARD_DUE_SOON_DAYS")))
    for h in rows:
        if h.status not in ACTIVE_STATES:  # pragma: no cover - the WHERE already says so
            continue
        if now < h.deadline <= soon and h.due_soon_notified_for != h.deadline:
            h.due_soon_notified_for = h.deadline
            _notify("hazard.due_soon", h)
            counts["due_soon"] += 1
        if h.deadline <= now and h.overdue_notified_for != h.deadline:
            h.overdue_notified_for = h.deadline
            _append(
                h,
                None,
                "overdue",
                note="整改期限已过，隐患仍未整改完成。",
                from_status=h.status,
                data={"deadline": h.deadline},
                now=now,
            )
            _notify("hazard.overdue", h)
            counts["overdue"] += 1
        due = h.next_escalation_at
        if due is not None and due <= now and h.escalation_level < MAX_ESCALATION:
            label = ESCALATION_LEVELS[h.escalation_level + 1]
            _escalate_step(h, None, f"逾期未整改，自动升级督办：{label}", now, auto=True)
            counts["escalated"] += 1
    session.flush()
    return counts, (rows[-1].id if len(rows) == batch else None)


# ---------------------------------------------------------------------------------------------
# Public reports (群众举报)

REPORT_STAFF = ("coordinator", "supervisor")


def _report_scope(user: User) -> ColumnElement[bool]:
    if user.role not in REPORT_STAFF:
        return false()
    from app.org.services import is_district_level

    if is_district_level(user):
        return PublicReport.id.is_not(None)
    return PublicReport.jurisdiction_code == user.jurisdiction_code


def submit_public_report(data: dict[str, Any]) -> PublicReport:
    """Receive an anonymous report (with an optional inline photo, stored through media)."""
    jurisdiction = data.get("jurisdiction")
    sha = _store_report_photo(data["photo"]) if data.get("photo") else None
    if jurisdiction and session.get(Jurisdiction, jurisdiction) is None:
        raise DomainError(
            "validation_error",
            422,
            "Choose a street from the list, or leave it empty.",
            {"jurisdiction": ["Unknown jurisdiction code."]},
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
        received_at=utcnow(),
    )
    session.add(report)
    session.flush()
    record(
        "public_report.receive",
        "public_report",
        report.id,
        {"jurisdiction": jurisdiction, "photo": sha},
        actor=_System,
    )
    return report


def _store_report_photo(data: bytes) -> str:
    """Validate and store an inline photo through the media pipeline; return its SHA-256.

    The same checks as any upload (type sniffing, Pillow decoding under the pixel limit, EXIF,
    thumbnails, perceptual hash); the MediaObject has no uploader (the reporter is anonymous).
    """
    import hashlib
    import tempfile

    from flask import current_app

    from app.media.models import MediaObject
    from app.media.services import get_storage
    from media.errors import MediaError
    from media.ingest import ingest

    limit = int(setting("PUBLIC_REPORT_MAX_PHOTO_BYTES"))
    if len(data) > limit:
        raise DomainError(
            "validation_error",
            422,
            "The photo is too large; send a smaller one.",
            {"photo": [f"At most {limit} bytes."]},
        )
    sha = hashlib.sha256(data).hexdigest()
    spool = Path(current_app.config["MEDIA_SPOOL"])
    spool.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=spool, suffix=".part") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            result = ingest(
                tmp.name, sha, get_storage(), int(current_app.config["MEDIA_MAX_PIXELS"])
            )
        except MediaError as err:
            raise DomainError(err.code, err.status, err.message, {"photo": [err.message]}) from None
    if session.get(MediaObject, sha) is None:
        image = result.image
        try:
            with session.begin_nested():
                session.add(
                    MediaObject(
                        sha256=sha,
                        size=result.size,
                        content_type=image.content_type,
                        width=image.width,
                        height=image.height,
                        exif=image.exif.to_dict() if image.exif else None,
                        phash=image.phash,
                        uploaded_by=None,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            pass  # the same bytes were stored a moment ago by someone else
    return sha


def list_public_reports(user: User, args: dict[str, Any]) -> Select[Any]:
    """Query the reports a coordinator or supervisor triages (their jurisdiction; unplaced ones
    go to district-level staff)."""
    _require_report_staff(user)
    stmt = select(PublicReport).where(_report_scope(user))
    if args.get("status"):
        stmt = stmt.where(PublicReport.status == args["status"])
    return stmt.order_by(PublicReport.received_at.desc())


def _require_report_staff(user: User) -> None:
    if user.role not in REPORT_STAFF:
        raise DomainError(
            "auth.forbidden", 403, "Public reports are triaged by coordinators and supervisors."
        )


def _lock_report(user: User, report_id: uuid.UUID) -> PublicReport:
    _require_report_staff(user)
    report = session.execute(
        select(PublicReport)
        .where(PublicReport.id == report_id, _report_scope(user))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if report is None:
        raise not_found("public_report")
    return report


def get_public_report(user: User, report_id: uuid.UUID) -> PublicReport:
    """Return one report (staff in scope)."""
    _require_report_staff(user)
    report = session.execute(
        select(PublicReport).where(PublicReport.id == report_id, _report_scope(user))
    ).scalar_one_or_none()
    if report is None:
        raise not_found("public_report")
    return report


def verify_public_report(user: User, report_id: uuid.UUID, data: dict[str, Any]) -> Hazard:
    """Confirm a report (查实): issue its public_report ticket; a retry returns the same ticket."""
    report = _lock_report(user, report_id)
    if report.status == "verified":
        existing = session.execute(
            select(Hazard).where(Hazard.public_report_id == report.id)
        ).scalar_one()
        return existing
    if report.status != "pending":
        raise DomainError("public_report.already_decided", 409, "This report was already rejected.")
    enterprise = _enterprise_in_scope(user, data["enterprise_id"])
    now = utcnow()
    item = checklist_basis(enterprise.industry, data.get("item_code"))
    hazard = issue_hazard(
        source="public_report",
        enterprise=enterprise,
        grade=data["grade"],
        description=data.get("description") or report.description,
        actor=user,
        photos=[report.photo_sha256] if report.photo_sha256 else [],
        found_at=report.received_at,
        deadline=_future(data.get("deadline"), "deadline", now),
        item_code=data.get("item_code"),
        basis=(item or {}).get("basis"),
        public_report_id=report.id,
        note=data.get("note", ""),
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


def reject_public_report(user: User, report_id: uuid.UUID, data: dict[str, Any]) -> PublicReport:
    """Reject a report that did not check out (查无实据), with the reason."""
    report = _lock_report(user, report_id)
    if report.status == "rejected":
        return report
    if report.status != "pending":
        raise DomainError("public_report.already_decided", 409, "This report was already verified.")
    report.status, report.decided_by, report.decided_at = "rejected", user.id, utcnow()
    report.decision_note = data["note"]
    report.version += 1
    record("public_report.reject", "public_report", report.id, {"note": data["note"]}, actor=user)
    session.flush()
    return report
