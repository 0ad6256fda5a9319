"""Inspections: planner creation and edits, reads, and moving an inspection on.

四不两直: until check-in an inspection is visible only to its planner and to its assigned
inspectors, and to those only from ``dispatch_at``; never to the target enterprise. Every read
goes through ``visible_inspections(user)`` (lists, detail, findings, counts, statistics, the sync
feed), and every read of a not-yet-started inspection is written to the audit log with its reader.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Row, Select, Table, and_, exists, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from app.audit.bindings import touch
from app.audit.services import record
from app.changelog import record_changes, record_selected
from app.checklists.models import ChecklistVersion
from app.checklists.services import checklist_item, get_checklist, versions_in_force
from app.clock import CHINA_TZ
from app.db import for_update, iter_chunks, session
from app.errors import DomainError, not_found
from app.i18n import _
from app.inspections.eligibility import check_team
from app.inspections.lifecycle import (
    NOT_STARTED,
    PLANNER,
    allowed_actions,
    initial_state,
    move,
)
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.inspections.schemas import ENTERPRISE_FIELDS
from app.inspections.visibility import (
    ENTERPRISE_FINDINGS_STATES,
    is_started,
    log_confidential_reads,
    started_clause,
    visibility_clause,
    visible_inspections,
)
from app.org.models import User
from app.registry.models import Enterprise
from app.registry.services import INDUSTRY_NAMES, get_enterprise
from sync.bulk import insert_rows

#: Inspection types a planner creates by hand; ``double_random`` ones come from a draw.
PLANNER_TYPES = ("unannounced", "routine", "complaint", "recheck")


def china_today(now: datetime) -> date:
    """Return the date in China at `now` (the date certificates and windows are judged on)."""
    return now.astimezone(CHINA_TZ).date()


# --------------------------------------------------------------------------- reads


def inspections_query(user: User, args: dict[str, Any], *, now: datetime) -> Select[Any]:
    """Select the inspections the caller may see, filtered, newest first (the route paginates)."""
    stmt = visible_inspections(user, now).options(selectinload(Inspection.enterprise))
    if args.get("status"):
        wanted = args["status"]
        if wanted == "dispatched":
            stmt = stmt.where(
                or_(
                    Inspection.status == "dispatched",
                    and_(
                        Inspection.status == "planned",
                        or_(Inspection.dispatch_at.is_(None), Inspection.dispatch_at <= now),
                    ),
                )
            )
        elif wanted == "planned":
            stmt = stmt.where(Inspection.status == "planned", Inspection.dispatch_at > now)
        else:
            stmt = stmt.where(Inspection.status == wanted)
    for key in ("type", "enterprise_id", "sampling_plan_id", "industry"):
        if args.get(key):
            stmt = stmt.where(getattr(Inspection, key) == args[key])
    if args.get("jurisdiction"):
        stmt = stmt.where(Inspection.jurisdiction_code == args["jurisdiction"])
    if args.get("assigned_to_me"):
        stmt = stmt.where(
            exists().where(
                InspectionInspector.inspection_id == Inspection.id,
                InspectionInspector.user_id == user.id,
            )
        )
    return stmt.order_by(Inspection.created_at.desc(), Inspection.id)


def get_inspection(
    user: User, inspection_id: uuid.UUID, via: str = "detail", *, now: datetime
) -> Inspection:
    """Return an inspection the caller may see, or 404; log the read if it is confidential."""
    insp = session.execute(
        visible_inspections(user, now).where(Inspection.id == inspection_id)
    ).scalar_one_or_none()
    if insp is None:
        raise not_found("inspection")
    log_confidential_reads(user, [insp], via, now)
    return insp


def last_check_ins(
    user: User, enterprise_ids: Sequence[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, datetime]:
    """Return each enterprise's latest check-in among the inspections the caller may see (one
    statement; only checked-in visits count, so no planned 四不两直 visit shows)."""
    if not enterprise_ids:
        return {}
    stmt = (
        select(Inspection.enterprise_id, func.max(Inspection.check_in_received_at))
        .where(
            visibility_clause(user, now),
            started_clause(),
            Inspection.check_in_received_at.is_not(None),
            Inspection.enterprise_id.in_(enterprise_ids),
        )
        .group_by(Inspection.enterprise_id)
    )
    return {
        eid: last if last.tzinfo else last.replace(tzinfo=UTC)  # SQLite's max() is naive
        for eid, last in session.execute(stmt)
        if last is not None
    }


#: An inspector's inspection is open until it is submitted (or cancelled).
OPEN_STATES = (*NOT_STARTED, "in_progress")


def open_assignment_counts(
    user: User, inspector_ids: Sequence[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, int]:
    """Return how many open inspections (not yet submitted) each inspector is on, counting only
    those the caller may see (one statement): a confidential 四不两直 visit counts for its planner
    and no one else."""
    if not inspector_ids:
        return {}
    # an alias: the visibility clause's own EXISTS on the assignments must not correlate to it
    member = aliased(InspectionInspector)
    stmt = (
        select(member.user_id, func.count(Inspection.id))
        .join(Inspection, Inspection.id == member.inspection_id)
        .where(
            visibility_clause(user, now),
            Inspection.status.in_(OPEN_STATES),
            member.user_id.in_(inspector_ids),
        )
        .group_by(member.user_id)
    )
    return {uid: int(n) for uid, n in session.execute(stmt)}


def list_findings(user: User, inspection_id: uuid.UUID, *, now: datetime) -> list[Finding]:
    """Return the findings of an inspection the caller may see."""
    insp = get_inspection(user, inspection_id, via="findings", now=now)
    if user.role == "enterprise" and insp.status not in ENTERPRISE_FINDINGS_STATES:
        return []
    stmt = select(Finding).where(Finding.inspection_id == insp.id, Finding.deleted.is_(False))
    if user.role == "enterprise":
        stmt = stmt.where(Finding.review_status == "confirmed")
    findings = list(session.execute(stmt.order_by(Finding.item_code, Finding.id)).scalars())
    versions: dict[int | None, ChecklistVersion | None] = {}
    for f in findings:
        # each finding with the item as its version words it: basis and edition judged under
        version = f.checklist_version or insp.checklist_version
        if version not in versions:
            try:
                versions[version] = get_checklist(insp.industry, version) if version else None
            except DomainError:
                versions[version] = None
        cv = versions[version]
        f.item = checklist_item(cv, f.item_code) if cv is not None else None  # type: ignore[attr-defined]
    return findings


# --------------------------------------------------------------------------- writes


def latest_checklist_versions(on: date) -> dict[str, int]:
    """Return per industry the checklist version in force on `on` (a date in China)."""
    return versions_in_force(on)


def inspection_values(
    *,
    type: str,
    enterprise: Enterprise | Row[Any],
    industry: str,
    planner_id: uuid.UUID | None,
    window_start: datetime | None,
    window_end: datetime | None,
    dispatch_at: datetime | None,
    checklist_version: int | None,
    sampling_plan_id: uuid.UUID | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Return the column values of a new inspection (no checks: callers check)."""
    return {
        "id": uuid.uuid4(),
        "type": type,
        "status": initial_state(dispatch_at, now),
        "enterprise_id": enterprise.id,
        "jurisdiction_code": enterprise.jurisdiction_code,
        "industry": industry,
        "checklist_version": checklist_version,
        "planner_id": planner_id,
        "sampling_plan_id": sampling_plan_id,
        "window_start": window_start,
        "window_end": window_end,
        "dispatch_at": dispatch_at,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def new_inspection(inspector_ids: Sequence[uuid.UUID], **values: Any) -> Inspection:
    """Add one inspection with its team to the session (see ``inspection_values``)."""
    insp = Inspection(**inspection_values(**values))
    insp.assignments = [InspectionInspector(user_id=uid) for uid in inspector_ids]
    session.add(insp)
    return insp


def insert_inspections(teams: Sequence[tuple[dict[str, Any], Sequence[uuid.UUID]]]) -> None:
    """Bulk-insert (values, inspector_ids) pairs, e.g. a draw's, and feed them to sync."""
    rows = [values for values, _team in teams]
    links = [
        {"inspection_id": values["id"], "user_id": uid}
        for values, inspector_ids in teams
        for uid in inspector_ids
    ]
    # One statement per table however many rows (a draw's thousands): see sync.bulk.
    conn = session.connection()
    insert_rows(conn, cast(Table, Inspection.__table__), rows)
    touch(session, "inspections", (row["id"] for row in rows))
    insert_rows(conn, cast(Table, InspectionInspector.__table__), links)
    record_changes("inspection", [SimpleNamespace(**row) for row in rows])


def _check_times(
    window_start: datetime | None, window_end: datetime | None, dispatch_at: datetime | None
) -> None:
    errors: dict[str, list[str]] = {}
    if window_start and window_end and window_end <= window_start:
        errors["window"] = [_("The window must end after it starts.")]
    if dispatch_at and window_end and dispatch_at > window_end:
        errors["dispatch_at"] = [_("Dispatch before the window ends.")]
    if errors:
        raise DomainError(
            "validation_error", 422, _("Some fields are not valid; see errors."), errors
        )


def _judged_on(window_end: datetime | None, now: datetime) -> date:
    """Certificates must be valid through the window's last day (or today without a window)."""
    today = china_today(now)
    return max(today, china_today(window_end)) if window_end else today


def create_inspection(user: User, data: dict[str, Any], *, now: datetime) -> Inspection:
    """Create a planner's inspection (四不两直 unannounced, routine, complaint or recheck)."""
    try:
        enterprise = get_enterprise(user, data["enterprise_id"])
    except DomainError:
        raise DomainError(
            "validation_error",
            422,
            _("Unknown enterprise, or outside your scope."),
            {"enterprise_id": [_("Unknown enterprise, or outside your scope.")]},
        ) from None
    industry = data.get("industry") or enterprise.industry
    if industry not in INDUSTRY_NAMES:
        raise DomainError(
            "validation_error", 422, _("Unknown industry."), {"industry": [_("Unknown industry.")]}
        )
    window = data.get("window") or {}
    start, end = window.get("start"), window.get("end")
    dispatch_at = data.get("dispatch_at") or now
    _check_times(start, end, dispatch_at)
    team = check_team(data["inspector_ids"], enterprise, _judged_on(end, now))
    insp = new_inspection(
        type=data["type"],
        enterprise=enterprise,
        industry=industry,
        planner_id=user.id,
        inspector_ids=[u.id for u in team],
        window_start=start,
        window_end=end,
        dispatch_at=dispatch_at,
        checklist_version=latest_checklist_versions(china_today(start or now)).get(industry),
        now=now,
    )
    session.flush()
    record_changes("inspection", [insp])
    record(
        "inspection.create",
        "inspection",
        insp.id,
        {
            "type": insp.type,
            "enterprise_id": str(enterprise.id),
            "inspector_ids": [str(u.id) for u in team],
            "dispatch_at": dispatch_at,
        },
        actor=user,
    )
    return insp


def get_own_planned(user: User, inspection_id: uuid.UUID) -> Inspection:
    """Return an inspection the caller planned, locked for editing (others: 404)."""
    insp = session.execute(
        for_update(
            select(Inspection).where(
                Inspection.id == inspection_id, Inspection.planner_id == user.id
            )
        )
    ).scalar_one_or_none()
    if insp is None:
        raise not_found("inspection")
    return insp


def update_inspection(
    user: User, insp: Inspection, data: dict[str, Any], *, now: datetime
) -> Inspection:
    """Change the team, window or dispatch time of an inspection not yet checked in."""
    if is_started(insp):
        raise DomainError(
            "inspection.already_started",
            409,
            _("The inspection was checked in; its team and window can no longer change."),
            allowed_actions=allowed_actions(insp, PLANNER),
        )
    if insp.status == "cancelled":
        raise DomainError("inspection.cancelled", 409, _("The inspection was cancelled."))
    changes: dict[str, Any] = {}
    window = data.get("window")
    start = window.get("start") if window is not None else insp.window_start
    end = window.get("end") if window is not None else insp.window_end
    dispatch_at = data.get("dispatch_at", insp.dispatch_at)
    _check_times(start, end, dispatch_at)
    if "inspector_ids" in data:
        enterprise = session.get(Enterprise, insp.enterprise_id)
        assert enterprise is not None
        team = check_team(data["inspector_ids"], enterprise, _judged_on(end, now))
        old = [a.user_id for a in insp.assignments]
        new = [u.id for u in team]
        if set(old) != set(new):
            keep = {a.user_id: a for a in insp.assignments}
            insp.assignments = [keep.get(uid) or InspectionInspector(user_id=uid) for uid in new]
            changes["inspector_ids"] = {
                "added": [str(u) for u in new if u not in old],
                "removed": [str(u) for u in old if u not in new],
            }
    elif window is not None and end != insp.window_end:
        enterprise = session.get(Enterprise, insp.enterprise_id)
        assert enterprise is not None
        check_team(insp.inspector_ids, enterprise, _judged_on(end, now))
    if (start, end) != (insp.window_start, insp.window_end):
        changes["window"] = [[insp.window_start, insp.window_end], [start, end]]
        insp.window_start, insp.window_end = start, end
    if dispatch_at != insp.dispatch_at:
        changes["dispatch_at"] = [insp.dispatch_at, dispatch_at]
        insp.dispatch_at = dispatch_at
    if changes:
        move(
            insp,
            "reschedule",
            actor=user,
            now=now,
            data={"changes": changes},
            who=PLANNER,
            to=initial_state(dispatch_at, now),
        )
    return insp


def cancel_inspection(user: User, insp: Inspection, reason: str, *, now: datetime) -> Inspection:
    """Cancel an inspection before check-in (its planner), with the reason; 409 otherwise."""
    if insp.status == "cancelled":
        return insp  # a retry: cancelled already
    reason = reason.strip()
    if not reason:
        raise DomainError(
            "validation_error",
            422,
            _("Say why the inspection is cancelled."),
            {"reason": [_("Required.")]},
        )
    insp.cancel_reason = reason[:500]
    move(insp, "cancel", actor=user, now=now, data={"reason": insp.cancel_reason}, who=PLANNER)
    return insp


def republish_for(edited: Mapping[uuid.UUID, frozenset[str]]) -> None:
    """Put the inspections of edited enterprises back into the devices' feed, where the edit
    changed what an inspection shows of its enterprise (``schemas.ENTERPRISE_FIELDS``).

    The registry's ``edited`` hook (``app.wiring``). An inspection's version stays: nothing of
    its own changed, and a device takes the ``put`` as it comes.
    """
    ids = [eid for eid, changed in edited.items() if changed & ENTERPRISE_FIELDS]
    i = Inspection
    for chunk in iter_chunks(ids, 500):
        stmt = select(i.id, i.version, i.jurisdiction_code, i.enterprise_id)
        record_selected("inspection", stmt.where(i.enterprise_id.in_(chunk)))
