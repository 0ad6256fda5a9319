"""Hazard tickets: reading them, issuing them (from a finding, by hand) and acting on them.

Every change goes the same way: lock the ticket row, check the caller's scope (404) and the
transition table (409 ``hazard.invalid_transition``, :mod:`app.hazards.transitions`), change
it, append a timeline event (:mod:`app.hazards.timeline`: audit entry and sync feed with it) and
queue notifications (:mod:`app.hazards.notify`). Numbers come from :mod:`app.hazards.numbering`,
deadlines from :mod:`app.hazards.deadlines`, the overdue sweep is :mod:`app.hazards.sweep`.
Services flush; the request (or the CLI command / sync push) commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.changelog import record_selected
from app.checklists.services import checklist_item, get_checklist
from app.clock import isoformat
from app.db import for_update, iter_chunks, session
from app.errors import DomainError, not_found
from app.fields import DumpContext
from app.hazards import rechecks
from app.hazards.deadlines import default_deadline, next_escalation, require_future, set_deadline
from app.hazards.models import ACTIVE_STATES, ESCALATION_LEVELS, MAX_ESCALATION, Hazard
from app.hazards.notify import notify
from app.hazards.numbering import allocate_number
from app.hazards.schemas import ENTERPRISE_FIELDS, HazardDetailSchema, HazardSchema
from app.hazards.timeline import append_event, jsonable
from app.hazards.transitions import (
    INITIAL_STATE,
    Transition,
    invalid_transition,
    move,
    rule_for,
)
from app.hazards.visibility import can_see, visibility_clause
from app.http import version_etag
from app.i18n import _
from app.inspections import lifecycle
from app.inspections.models import Finding, Inspection
from app.org.models import User
from app.org.services import can_see_jurisdiction
from app.registry.models import Enterprise
from media.storage import is_sha256

STAFF_CREATORS = ("inspector", "supervisor", "coordinator")

# ---------------------------------------------------------------------------------------------
# Reads


def etag_of(hazard: Hazard) -> str:
    """Return the ticket's ETag."""
    return version_etag("hazard", hazard.id, hazard.version)


def list_hazards(user: User, args: dict[str, Any], *, now: datetime) -> Select[Any]:
    """Query the tickets `user` may see as of `now`, filtered, most urgent deadline first."""
    stmt = (
        select(Hazard)
        .where(visibility_clause(user, now))
        .options(selectinload(Hazard.enterprise), selectinload(Hazard.assignee))
    )
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


def open_hazard_counts(
    user: User, by: str, ids: Sequence[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, int]:
    """Return how many tickets not yet closed (销号) the caller may see per enterprise
    (``by="enterprise"``) or per assignee (``by="assignee"``), for ``ids`` (one statement)."""
    column = {"enterprise": Hazard.enterprise_id, "assignee": Hazard.assignee_id}[by]
    if not ids:
        return {}
    stmt = (
        select(column, func.count(Hazard.id))
        .where(visibility_clause(user, now), Hazard.status != "closed", column.in_(ids))
        .group_by(column)
    )
    return {key: int(n) for key, n in session.execute(stmt) if key is not None}


def get_hazard(user: User, hazard_id: uuid.UUID, *, now: datetime) -> Hazard:
    """Return a ticket the caller may see, with its enterprise and timeline, or 404."""
    hazard = session.get(
        Hazard,
        hazard_id,
        options=[
            selectinload(Hazard.enterprise),
            selectinload(Hazard.assignee),
            selectinload(Hazard.events),
        ],
    )
    if hazard is None or not can_see(user, hazard, now):
        raise not_found("hazard")
    return hazard


def serialize_hazard(
    hazard: Hazard, with_timeline: bool = True, *, now: datetime
) -> dict[str, Any]:
    """Return the ticket as the API shows it as of `now` (the sync feed's type "hazard")."""
    schema = HazardDetailSchema() if with_timeline else HazardSchema()
    with DumpContext({"now": now}):
        return schema.dump(hazard)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# Issue


def _photos(photos: Iterable[str] | None) -> list[str]:
    result = list(dict.fromkeys(p.strip().lower() for p in (photos or ())))
    bad = [p for p in result if not is_sha256(p)]
    if bad:
        raise DomainError(
            "validation_error",
            422,
            _("Photos are SHA-256 hex digests of uploaded photos."),
            {"photos": [_("Not a SHA-256: %(value)s", value=b[:70]) for b in bad]},
        )
    return result


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
    now: datetime,
) -> Hazard:
    """Number and issue a ticket (notice to the enterprise), with its first timeline entry."""
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
        enterprise=enterprise,
        jurisdiction_code=enterprise.jurisdiction_code,
        industry=enterprise.industry,
        item_code=item_code,
        basis=basis,
        description=description,
        photos=_photos(photos),
        found_at=found_at or now,
        status=INITIAL_STATE,
        escalation_level=0,
        listed=grade == "major",
        created_by=actor.id if actor is not None else None,
        created_at=now,
        updated_at=now,
        version=1,
    )
    set_deadline(hazard, deadline or default_deadline(grade, now))
    session.add(hazard)
    session.flush()
    append_event(
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
    notify("hazard.issued", hazard)
    return hazard


def checklist_basis(industry: str, item_code: str | None, version: int | None = None) -> Any:
    """Return the checklist item's {text, grade, basis} for a code, or None."""
    if not item_code:
        return None
    try:
        cv = get_checklist(industry, version)
    except DomainError:
        return None
    return checklist_item(cv, item_code)


def hazard_for_finding(
    finding: Finding, inspection: Inspection, actor: User, grade: str, *, now: datetime
) -> Hazard:
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
                now=now,
            )
    except IntegrityError:
        existing = session.execute(
            select(Hazard).where(Hazard.finding_id == finding.id)
        ).scalar_one_or_none()
        if existing is None:
            raise
        return existing


def enterprise_in_scope(user: User, enterprise_id: uuid.UUID | None) -> Enterprise:
    """Return an enterprise `user` may raise a ticket against (its own, or in scope), or 404."""
    ent = session.get(Enterprise, enterprise_id) if enterprise_id else None
    if ent is None:
        raise not_found("enterprise")
    if user.role == "enterprise":
        if user.enterprise_id != ent.id:
            raise not_found("enterprise")
    elif not can_see_jurisdiction(user, ent.jurisdiction_code):
        raise not_found("enterprise")
    return ent


def create_hazard(user: User, data: dict[str, Any], *, now: datetime) -> Hazard:
    """Issue a ticket by hand: an enterprise's self-report (for itself) or staff supervision."""
    if user.role == "enterprise":
        source = "self_report"
        enterprise = enterprise_in_scope(user, data.get("enterprise_id") or user.enterprise_id)
    elif user.role in STAFF_CREATORS:
        source = "supervision"
        if not data.get("enterprise_id"):
            raise DomainError(
                "validation_error",
                422,
                _("Name the enterprise the hazard was found at."),
                {"enterprise_id": [_("Missing data for required field.")]},
            )
        enterprise = enterprise_in_scope(user, data["enterprise_id"])
    else:
        raise DomainError(
            "auth.forbidden",
            403,
            _(
                "Hazards are reported by enterprises (self-report) or by inspectors, supervisors "
                "and coordinators (supervision)."
            ),
        )
    if data.get("source") and data["source"] != source:
        raise DomainError(
            "validation_error",
            422,
            _("Your account reports hazards as '%(source)s'.", source=source),
            {
                "source": [
                    _("Must be '%(source)s' for a %(role)s account.", source=source, role=user.role)
                ]
            },
        )
    item = checklist_basis(enterprise.industry, data.get("item_code"))
    return issue_hazard(
        source=source,
        enterprise=enterprise,
        grade=data["grade"],
        description=data["description"],
        actor=user,
        photos=data.get("photos") or [],
        found_at=data.get("found_at") or now,
        deadline=require_future(data.get("deadline"), "deadline", now),
        item_code=data.get("item_code"),
        basis=data.get("basis") or (item or {}).get("basis"),
        note=data.get("note", ""),
        now=now,
    )


# ---------------------------------------------------------------------------------------------
# Actions


def _lock_visible(user: User, hazard_id: uuid.UUID, now: datetime) -> Hazard:
    hazard = session.execute(
        for_update(select(Hazard).where(Hazard.id == hazard_id))
    ).scalar_one_or_none()
    if hazard is None or not can_see(user, hazard, now):
        raise not_found("hazard")
    return hazard


def apply_action(
    user: User,
    hazard_id: uuid.UUID,
    data: dict[str, Any],
    check_etag: Callable[[str], None] | None = None,
    device_at: datetime | None = None,
    *,
    now: datetime,
) -> Hazard:
    """Apply one action ({action, …}) to a ticket by the transition table; return the ticket."""
    hazard = _lock_visible(user, hazard_id, now)
    if check_etag is not None:
        check_etag(etag_of(hazard))
    action = data["action"]
    rule = rule_for(user, hazard, action, now)
    HANDLERS[action](hazard, user, data, rule, device_at, now)
    session.flush()
    return hazard


def _assign(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
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
            _(
                "Assign the ticket to an active inspector, supervisor or coordinator whose "
                "jurisdiction covers it, or to the enterprise's own account."
            ),
            {"assignee_id": [_("Not a possible assignee for this ticket.")]},
        )
    deadline = require_future(data.get("deadline"), "deadline", now)
    previous = h.deadline
    h.assignee_id = assignee.id
    if deadline is not None:
        set_deadline(h, deadline)
    append_event(
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
    notify("hazard.assigned", h, assignee=assignee.username)


PLAN_PARTS = (
    "goals",
    "measures",
    "funds_and_materials",
    "people_and_duties",
    "safety_measures",
    "emergency_plan",
)


def _start(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
    plan = data.get("plan")
    if h.grade == "major":
        missing = [p for p in PLAN_PARTS if not (plan or {}).get(p)]
        if missing:
            raise DomainError(
                "hazard.plan_required",
                422,
                _(
                    "A major hazard needs its rectification plan (治理方案) before work starts: "
                    "goals, measures, funds and materials, people and duties, safety measures "
                    "and an emergency plan."
                ),
                {"plan": [_("Missing: %(parts)s.", parts=", ".join(missing))]},
            )
    h.plan = jsonable(plan) if plan else None
    before = move(h, rule)
    append_event(
        h,
        user,
        "start",
        note=data.get("note", ""),
        from_status=before,
        data={"plan": h.plan},
        now=now,
    )


def _submit(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
    photos = _photos(data.get("photos"))
    if not photos or not (data.get("note") or "").strip():
        raise DomainError(
            "hazard.evidence_required",
            422,
            _("Describe what was done and attach photos of the rectified site."),
            {"photos": [_("At least one photo.")]}
            if not photos
            else {"note": [_("Say what was done.")]},
        )
    before = move(h, rule)
    append_event(
        h,
        user,
        "submit_rectification",
        note=data["note"],
        photos=photos,
        from_status=before,
        now=now,
    )


def _recheck(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, device_at: Any, now: datetime
) -> None:
    result = data.get("result")
    assert isinstance(rule.to, dict)
    if result not in rule.to:
        raise invalid_transition(
            user,
            h,
            "recheck",
            f"A recheck of an {h.status} ticket can only pass (an on-the-spot fix); "
            "a hazard not yet fixed stays open."
            if h.status == "open"
            else "",
        )
    if h.status == "open" and h.grade != "general":
        raise invalid_transition(
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
            _("A passed re-inspection needs photo proof."),
            {"photos": [_("At least one photo.")]},
        )
    extra: dict[str, Any] = {"result": result, "on_the_spot": h.status == "open"}
    visit = None
    if data.get("inspection_id") is not None:
        visit = rechecks.visit_for(user, h, data["inspection_id"], now)
        extra["inspection_id"] = str(visit.id)
    location = data.get("location") or (rechecks.check_in_location(visit) if visit else None)
    if location is None and visit is None and data.get("location_required"):
        raise DomainError(
            "recheck.location_required",
            422,
            _("A recheck outside a recheck inspection must say where it was made; send location."),
            {"location": [_("Required without inspection_id.")]},
        )
    if location is not None:
        extra["location"] = location
    if result == "fail":
        deadline = require_future(data.get("deadline"), "deadline", now) or default_deadline(
            h.grade, now
        )
        extra["previous_deadline"] = h.deadline
        set_deadline(h, deadline)
        extra["deadline"] = deadline
    before = move(h, rule, result)
    append_event(
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
    if visit is not None:
        rechecks.record_result(visit, h, result, user, now)


def _close(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
    before = move(h, rule)
    h.closed_at = now
    h.next_escalation_at = None
    append_event(h, user, "close", note=data.get("note", ""), from_status=before, now=now)
    notify("hazard.closed", h)
    if h.inspection_id is not None:
        _close_inspection_if_done(h.inspection_id, user, now)


def _close_inspection_if_done(inspection_id: uuid.UUID, user: User, now: datetime) -> None:
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
    lifecycle.move(
        insp,
        "close",
        actor=user,
        now=now,
        data={"reason": "all tickets closed"},
        who=lifecycle.SYSTEM,
    )


def escalate_step(h: Hazard, actor: User | None, note: str, now: datetime, auto: bool) -> None:
    """Raise the ticket one escalation level (by hand or by the sweep) and announce it."""
    h.escalation_level += 1
    h.escalated_at = now
    h.next_escalation_at = next_escalation(h)
    label = ESCALATION_LEVELS[h.escalation_level]
    append_event(
        h,
        actor,
        "escalate",
        note=note,
        from_status=h.status,
        data={"level": h.escalation_level, "label": label, "automatic": auto},
        now=now,
    )
    notify("hazard.escalated", h, note=note)


def _escalate(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
    if h.escalation_level >= MAX_ESCALATION:
        raise DomainError(
            "hazard.escalation_max",
            409,
            _(
                "The ticket is already at the top of the ladder (%(level)s).",
                level=ESCALATION_LEVELS[MAX_ESCALATION],
            ),
        )
    escalate_step(h, user, data.get("note", ""), now, auto=False)


def _request_extension(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
    if h.extension_request:
        raise DomainError(
            "hazard.extension_pending",
            409,
            _("An extension request is already waiting for a decision."),
        )
    until = data["until"]
    if until <= h.deadline:
        raise DomainError(
            "validation_error",
            422,
            _("An extension must end after the current deadline."),
            {"until": [_("Must be later than %(deadline)s.", deadline=isoformat(h.deadline))]},
        )
    h.extension_request = {
        "until": isoformat(until),
        "reason": data["reason"],
        "by": str(user.id),
        "by_name": user.username,
        "at": isoformat(now),
    }
    append_event(
        h,
        user,
        "request_extension",
        note=data["reason"],
        from_status=h.status,
        data={"until": until, "deadline": h.deadline},
        now=now,
    )


def _decide_extension(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, _device_at: Any, now: datetime
) -> None:
    req = h.extension_request
    if not req:
        raise DomainError(
            "hazard.no_extension_request",
            409,
            _("There is no extension request to decide."),
        )
    approve = bool(data["approve"])
    previous = h.deadline
    until = datetime.fromisoformat(req["until"].replace("Z", "+00:00"))
    if approve:
        set_deadline(h, until)
    h.extension_request = None
    append_event(
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
        now=now,
    )


def _comment(
    h: Hazard, user: User, data: dict[str, Any], rule: Transition, device_at: Any, now: datetime
) -> None:
    note = (data.get("note") or "").strip()
    if not note:
        raise DomainError(
            "validation_error", 422, _("Write the comment."), {"note": [_("Must not be empty.")]}
        )
    append_event(
        h,
        user,
        "comment",
        note=note,
        photos=_photos(data.get("photos")),
        from_status=h.status,
        device_at=device_at,
        now=now,
    )


#: each action's handler: (ticket, actor, body, rule, device time, now)
HANDLERS: dict[str, Callable[[Hazard, User, dict[str, Any], Transition, Any, datetime], None]] = {
    "recheck": _recheck,
    "assign": _assign,
    "start": _start,
    "submit_rectification": _submit,
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
    inspection_id: uuid.UUID | None = None,
    location: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> Hazard:
    """Record a re-inspection (the sync mutation hazard.recheck calls this); DomainError if not.

    On a recheck inspection (``inspection_id``) the place defaults to the check-in's; outside
    one, the device must say where the recheck was made (``location``).
    """
    hid, user = _hazard_and_actor(hazard_id, actor)
    data = {
        "action": "recheck",
        "result": result,
        "note": note,
        "photos": list(photos),
        "deadline": deadline,
        "inspection_id": inspection_id,
        "location": location,
        "location_required": True,
    }
    return apply_action(user, hid, data, device_at=at, now=now)


def comment_hazard(
    hazard_id: uuid.UUID | User,
    actor: User | uuid.UUID,
    note: str,
    photos: Sequence[str] = (),
    *,
    now: datetime,
) -> Hazard:
    """Add a comment (the sync mutation hazard.comment calls this); DomainError if refused."""
    hid, user = _hazard_and_actor(hazard_id, actor)
    data = {"action": "comment", "note": note, "photos": list(photos)}
    return apply_action(user, hid, data, now=now)


def republish_for(edited: Mapping[uuid.UUID, frozenset[str]]) -> None:
    """Put the tickets of edited enterprises back into the devices' feed, where the edit
    changed what a ticket shows of its enterprise (``schemas.ENTERPRISE_FIELDS``).

    The registry's ``edited`` hook (``app.wiring``); a ticket's version stays, as an
    inspection's does (``app.inspections.services.republish_for``).
    """
    ids = [eid for eid, changed in edited.items() if changed & ENTERPRISE_FIELDS]
    h = Hazard
    for chunk in iter_chunks(ids, 500):
        stmt = select(h.id, h.version, h.jurisdiction_code, h.enterprise_id, h.inspection_id)
        record_selected("hazard", stmt.where(h.enterprise_id.in_(chunk)))
