"""The console's reads: the pages' data, each in a number of statements that does not grow with
the data. Every read goes through the domains' own scope rules (the review queue's jurisdiction,
the tickets' visibility); what a caller may not see is a 404, as through the API.

No request here: the routes (app/staff/routes.py) hand in the caller and ``now``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, asc, case, desc, func, select
from sqlalchemy.orm import selectinload

from app.checklists.models import ChecklistVersion
from app.db import cites_any_photo, session
from app.documents.models import Document
from app.documents.services import list_enterprise_documents
from app.errors import not_found
from app.hazards.models import ACTIVE_STATES, Hazard
from app.hazards.services import list_hazards, open_hazard_counts
from app.hazards.transitions import allowed_actions
from app.inspections.models import Finding, Inspection
from app.inspections.services import inspections_query, last_check_ins, open_assignment_counts
from app.inspections.visibility import log_confidential_reads
from app.media.services import media_by_sha, media_view
from app.org.models import Department, Jurisdiction, User
from app.org.services import can_see_jurisdiction, staff_directory
from app.planning.models import SamplingPlan
from app.planning.services import list_plans
from app.registry.models import Enterprise
from app.registry.services import INDUSTRY_NAMES, get_enterprise, list_enterprises
from app.review.services import queue_items, queue_query
from media.evidence import distance_m

BEIJING = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 25
QUEUE_SORTS = ("oldest", "newest", "enterprise")


def end_of_day(day: date) -> datetime:
    """Return the last second of ``day`` in Beijing time, as an aware UTC datetime."""
    local = datetime.combine(day, time(23, 59, 59), tzinfo=BEIJING)
    return local.astimezone(ZoneInfo("UTC"))


def names_of_places() -> dict[str, str]:
    """Return the district's and streets' names by code (one statement)."""
    return {
        code: name for code, name in session.execute(select(Jurisdiction.code, Jurisdiction.name))
    }


def names_of_industries() -> dict[str, str]:
    """Return each industry's checklist name by code (one statement)."""
    rows = session.execute(
        select(ChecklistVersion.industry, ChecklistVersion.name).order_by(
            ChecklistVersion.industry, ChecklistVersion.version
        )
    )
    return {industry: name for industry, name in rows}


def _page(stmt: Select[Any], page: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.execute(stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).scalars())
    return rows, int(total)


# --------------------------------------------------------------------------- review


def review_queue(user: User, args: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Return a page of the review queue: one row per pending finding, with its flags.

    The page is of inspections (their findings together, as a supervisor reads them); filters on
    street, industry and inspection type are SQL; ``flagged`` keeps the rows with a flag.
    """
    stmt = queue_query(user).join(Enterprise, Enterprise.id == Inspection.enterprise_id)
    if args.get("jurisdiction"):
        stmt = stmt.where(Inspection.jurisdiction_code == args["jurisdiction"])
    if args.get("industry"):
        stmt = stmt.where(Inspection.industry == args["industry"])
    if args.get("type"):
        stmt = stmt.where(Inspection.type == args["type"])
    sort = args.get("sort") or "oldest"
    order = {
        "oldest": (asc(Inspection.submitted_at), Inspection.id),
        "newest": (desc(Inspection.submitted_at), Inspection.id),
        "enterprise": (Enterprise.name, Inspection.submitted_at, Inspection.id),
    }[sort]
    stmt = stmt.order_by(None).order_by(*order)
    inspections, total = _page(stmt, args.get("page") or 1)
    rows = []
    for item in queue_items(inspections, base_url=None):
        insp = item["inspection"]
        # failures first, as the finding page's next and previous go (queue_order)
        findings = sorted(item["findings"], key=lambda f: (f["result"] != "fail", f["recorded_at"]))
        for f in findings:
            if args.get("flagged") and not f["flags"]:
                continue
            if args.get("failures") and f["result"] != "fail":
                continue
            age = now - insp["submitted_at"] if insp["submitted_at"] else None
            passes = sum(1 for o in item["findings"] if o["result"] != "fail" and not o["flags"])
            rows.append({"inspection": insp, "finding": f, "age": age, "passes": passes})
    return {"rows": rows, "total": total, "pages": max(1, -(-total // PAGE_SIZE))}


def queue_order(user: User) -> list[uuid.UUID]:
    """Return the ids of the pending findings in the caller's scope, in queue order (one
    statement: the finding page's next and previous)."""
    stmt = (
        select(Finding.id)
        .join(Inspection, Inspection.id == Finding.inspection_id)
        .where(
            Finding.deleted.is_(False),
            Finding.review_status == "pending",
            Inspection.id.in_(queue_query(user).with_only_columns(Inspection.id).order_by(None)),
        )
        .order_by(
            Inspection.submitted_at,
            Inspection.id,
            case((Finding.result == "fail", 0), else_=1),
            Finding.recorded_at,
        )
    )
    return list(session.execute(stmt).scalars())


def finding_page(user: User, finding_id: uuid.UUID) -> dict[str, Any]:
    """Return a finding with its evidence and its inspection's other findings; 404 out of scope."""
    finding = session.get(Finding, finding_id)
    if finding is None or finding.deleted or user.role != "supervisor":
        raise not_found("finding")
    insp = session.get(Inspection, finding.inspection_id)
    if insp is None or not can_see_jurisdiction(user, insp.jurisdiction_code):
        raise not_found("finding")
    if insp.status not in ("submitted", "reviewed", "closed"):
        raise not_found("finding")
    (item,) = queue_items([insp], base_url=None, pending_only=False)
    entry = next(f for f in item["findings"] if f["id"] == finding.id)
    _locate_photos(entry, item["inspection"])
    order = queue_order(user)
    position = order.index(finding.id) if finding.id in order else None
    previous = nxt = None
    if position is not None:
        previous = order[position - 1] if position > 0 else None
        nxt = order[position + 1] if position + 1 < len(order) else None
    else:
        nxt = order[0] if order else None
    hazard = session.execute(
        select(Hazard.id, Hazard.number).where(Hazard.finding_id == finding.id)
    ).one_or_none()
    return {
        "inspection": item["inspection"],
        "inspection_flags": item["flags"],
        "finding": entry,
        "others": [f for f in item["findings"] if f["id"] != finding.id],
        "previous": previous,
        "next": nxt,
        "position": position,
        "waiting": len(order),
        "hazard": {"id": hazard[0], "number": hazard[1]} if hazard else None,
    }


def _locate_photos(entry: dict[str, Any], inspection: dict[str, Any]) -> None:
    """Add to each photo its distance from the check-in, and where else it is cited (one
    statement for all the photos)."""
    where = (inspection.get("check_in") or {}).get("location")
    for photo in entry["photos"]:
        gps = photo.get("gps")
        photo["from_check_in_m"] = (
            distance_m(gps["lat"], gps["lon"], where["lat"], where["lon"])
            if gps and where
            else None
        )
        photo["reused_in"] = []
    shas = {p["sha256"] for p in entry["photos"] if "photo_reused" in p["flags"]}
    if not shas:
        return
    rows = session.execute(
        select(Finding.id, Finding.photos, Enterprise.name)
        .join(Inspection, Inspection.id == Finding.inspection_id)
        .join(Enterprise, Enterprise.id == Inspection.enterprise_id)
        .where(
            Finding.deleted.is_(False),
            Finding.inspection_id != entry["inspection_id"],
            cites_any_photo(Finding.photos, shas),
        )
        .limit(20)
    ).all()
    for photo in entry["photos"]:
        photo["reused_in"] = [
            {"finding_id": fid, "enterprise": name}
            for fid, photos, name in rows
            if photo["sha256"] in (photos or [])
        ]


# --------------------------------------------------------------------------- tickets


def ledger(user: User, args: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Return a page of the tickets the caller may see, with the API's filters."""
    hazards, total = _page(list_hazards(user, args, now=now), args.get("page") or 1)
    return {"rows": hazards, "total": total, "pages": max(1, -(-total // PAGE_SIZE))}


def photo_urls(shas: Iterable[str]) -> dict[str, dict[str, str]]:
    """Return the signed URLs (original, small, large) of the stored photos among ``shas``.

    Only for photos the caller was shown through a record they may see (the routes ask).
    """
    wanted = list(dict.fromkeys(shas))
    out = {}
    for sha, obj in media_by_sha(wanted).items():
        view = media_view(obj, base_url=None)
        out[sha] = {"original": view["original_url"], **view["thumbnails"]}
    return out


def people_for(user: User, hazard: Hazard) -> list[dict[str, Any]]:
    """Return whom the caller may pick as a ticket's assignee: the staff of its street and of
    the district who could take it, and the enterprise's own accounts (names, not ids)."""
    staff = session.execute(
        staff_directory(user, {}).where(User.role.in_(("inspector", "supervisor", "coordinator")))
    ).scalars()
    people = [
        {"id": u.id, "name": u.name, "role": u.role, "jurisdiction": u.jurisdiction_code}
        for u in staff
        if can_see_jurisdiction(u, hazard.jurisdiction_code)
    ]
    own = session.execute(
        select(User).where(
            User.role == "enterprise",
            User.active.is_(True),
            User.enterprise_id == hazard.enterprise_id,
        )
    ).scalars()
    people += [{"id": u.id, "name": u.name, "role": u.role, "jurisdiction": None} for u in own]
    return people


def ticket_page(user: User, hazard: Hazard) -> dict[str, Any]:
    """Return what a ticket's page shows besides the ticket: its photos, the actions the caller
    may take now, and the people they may assign it to."""
    shas = list(hazard.photos or [])
    for event in hazard.events:
        shas += list(event.photos or [])
    actions = allowed_actions(user, hazard)
    names = user_names({e.actor_id for e in hazard.events if e.actor_id is not None})
    return {
        "names": names,
        "photos": photo_urls(shas),
        "actions": actions,
        "people": people_for(user, hazard) if "assign" in actions else [],
    }


def my_work(user: User, *, now: datetime) -> dict[str, Any]:
    """Return what waits on the caller, by role: findings to review, tickets to act on."""
    work: dict[str, Any] = {"review": None, "sections": []}
    if user.role == "supervisor":
        work["review"] = len(queue_order(user))

    def tickets(args: dict[str, Any], keep: str | None = None) -> list[Hazard]:
        rows = list(session.execute(list_hazards(user, args, now=now).limit(50)).scalars())
        return [h for h in rows if keep is None or keep in allowed_actions(user, h)]

    if user.role == "supervisor":
        work["sections"].append(("close", tickets({"status": "verified"}, "close")))
    if user.role == "coordinator":
        unassigned = [
            h
            for h in session.execute(
                list_hazards(user, {}, now=now)
                .where(Hazard.status.in_(ACTIVE_STATES), Hazard.assignee_id.is_(None))
                .limit(50)
            ).scalars()
        ]
        work["sections"].append(("assign", unassigned))
        work["sections"].append(("overdue", tickets({"overdue": True})))
        active = session.execute(
            list_hazards(user, {}, now=now).where(Hazard.status.in_(ACTIVE_STATES)).limit(200)
        ).scalars()
        extension = [h for h in active if h.extension_request]
        work["sections"].append(("extension", extension))
    if user.role == "inspector":
        work["sections"].append(("recheck", tickets({"status": "rectified"}, "recheck")))
        work["sections"].append(("assigned", tickets({"assignee": "me"})))
    if user.role == "enterprise":
        work["sections"].append(("rectify", tickets({"status": "open"})))
        work["sections"].append(("rectifying", tickets({"status": "rectifying"})))
    return work


def beijing_today(now: datetime) -> date:
    """Return today's date in Beijing time (certificates are valid through a China date)."""
    return now.astimezone(BEIJING).date()


def recent_deadline_default(now: datetime) -> date:
    """Return the date a deadline picker starts at: a week from today, Beijing time."""
    return (now.astimezone(BEIJING) + timedelta(days=7)).date()


# --------------------------------------------------------------------------- planner


def beijing_time(value: str) -> datetime:
    """Return a ``datetime-local`` picker's value, read as Beijing time, as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=BEIJING)


def picker_value(value: datetime | None) -> str:
    """Return a time as a ``datetime-local`` picker shows it: Beijing time, to the minute."""
    return value.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M") if value else ""


def user_names(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Return the names of the users ``ids`` (one statement, none without ids)."""
    wanted = list(ids)
    if not wanted:
        return {}
    return {
        uid: name
        for uid, name in session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    }


def plan_choices() -> dict[str, Any]:
    """Return what a plan's filters choose from: industries, streets, departments (3 statements)."""
    streets = session.execute(
        select(Jurisdiction.code, Jurisdiction.name)
        .where(Jurisdiction.level == "street")
        .order_by(Jurisdiction.code)
    ).all()
    departments = session.execute(
        select(Department.code, Department.name).order_by(Department.code)
    ).all()
    return {
        "industries": names_of_industries(),
        "streets": dict(streets),
        "departments": dict(departments),
    }


def plans_page(user: User, page: int) -> dict[str, Any]:
    """Return one page of the caller's own plans, each with its number of draws."""
    rows, total = _page(list_plans(user).options(selectinload(SamplingPlan.draws)), page)
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE))}


def inspectors_for(user: User) -> list[User]:
    """Return the active inspectors the caller may put on a team, by name."""
    return list(session.scalars(staff_directory(user, {"role": "inspector"})))


def enterprise_named(user: User, name: str) -> Enterprise | None:
    """Return the enterprise in the caller's scope called exactly ``name`` (or by its USCC)."""
    name = name.strip()
    if not name:
        return None
    found = session.scalars(list_enterprises(user, {"q": name}).limit(50)).all()
    exact = [e for e in found if e.name == name or e.uscc == name.upper()]
    return exact[0] if len(exact) == 1 else None


def enterprise_names(user: User, limit: int = 500) -> list[str]:
    """Return names of enterprises in the caller's scope, for the picker's suggestions."""
    stmt = list_enterprises(user, {}).with_only_columns(Enterprise.name).limit(limit)
    return list(session.scalars(stmt))


def planned_inspections(user: User, limit: int = 50) -> list[Inspection]:
    """Return the caller's own unannounced inspections, newest first."""
    return list(
        session.scalars(
            select(Inspection)
            .where(Inspection.planner_id == user.id, Inspection.type == "unannounced")
            .options(selectinload(Inspection.enterprise))
            .order_by(Inspection.created_at.desc(), Inspection.id)
            .limit(limit)
        )
    )


def draw_names(draws: list[dict[str, Any]]) -> dict[str, str]:
    """Return the names of the enterprises and inspectors in the draws' results (2 statements)."""
    ents: set[uuid.UUID] = set()
    people: set[uuid.UUID] = set()
    for d in draws:
        result = d.get("result") or {}
        for ids in (result.get("targets") or {}).values():
            ents.update(uuid.UUID(i) for i in ids)
        for team in result.get("teams") or []:
            people.update(uuid.UUID(i) for i in team.get("inspector_ids", []))
    names: dict[str, str] = {}
    if ents:
        rows = session.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ents))
        )
        names.update({str(i): n for i, n in rows})
    if people:
        rows = session.execute(select(User.id, User.name).where(User.id.in_(people)))
        names.update({str(i): n for i, n in rows})
    return names


def enterprise_documents(user: User, *, now: datetime) -> list[Document]:
    """Return the current documents of the inspections the enterprise may see (1 statement)."""
    return list_enterprise_documents(user, user.enterprise_id, now=now)


# --------------------------------------------------------------------------- registries


def _latest(*when: datetime | None) -> datetime | None:
    """The later of the registry's last inspection and the last check-in the caller may see."""
    return max((d for d in when if d is not None), default=None)


def enterprises_page(
    user: User, args: dict[str, Any], page: int, *, now: datetime
) -> dict[str, Any]:
    """Return a page of the registry's enterprises in the caller's scope (the API's filters),
    each with its last check-in and its tickets not yet closed, as far as the caller may see
    them (4 statements however many rows)."""
    rows, total = _page(list_enterprises(user, args), page)
    ids = [e.id for e in rows]
    last = last_check_ins(user, ids, now=now)
    entries = [
        {
            "enterprise": e,
            "last_inspected": _latest(e.last_inspected_at, last.get(e.id)),
        }
        for e in rows
    ]
    return {
        "rows": entries,
        "open": open_hazard_counts(user, "enterprise", ids, now=now),
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }


def enterprise_page(user: User, enterprise_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """Return an enterprise in the caller's scope (404 otherwise) with the inspections, open
    tickets and documents of it that the caller may see; confidential reads are audit-logged."""
    ent = get_enterprise(user, enterprise_id)
    visits = inspections_query(user, {"enterprise_id": ent.id}, now=now)
    inspections, total = _page(visits, 1)
    log_confidential_reads(user, inspections, "console.enterprise", now)
    tickets, open_total = _page(
        list_hazards(user, {"enterprise_id": ent.id}, now=now).where(Hazard.status != "closed"), 1
    )
    last = last_check_ins(user, [ent.id], now=now).get(ent.id)
    return {
        "enterprise": ent,
        "last_inspected": _latest(ent.last_inspected_at, last),
        "inspections": inspections,
        "inspections_total": total,
        "tickets": tickets,
        "tickets_total": open_total,
        "documents": list_enterprise_documents(user, ent.id, now=now, limit=PAGE_SIZE),
    }


def inspectors_page(
    user: User, args: dict[str, Any], page: int, *, now: datetime
) -> dict[str, Any]:
    """Return a page of the active inspectors in the caller's scope (the API's staff directory),
    each with the open inspections and tickets assigned to them that the caller may see (4
    statements however many rows)."""
    rows, total = _page(staff_directory(user, {**args, "role": "inspector"}), page)
    ids = [u.id for u in rows]
    return {
        "rows": rows,
        "inspections": open_assignment_counts(user, ids, now=now),
        "tickets": open_hazard_counts(user, "assignee", ids, now=now),
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }


def registry_industries() -> dict[str, str]:
    """Return every industry of the registry by code, named as its checklist names it where
    one is loaded (one statement)."""
    return {**INDUSTRY_NAMES, **names_of_industries()}


def department_names() -> dict[str, str]:
    """Return the departments' names by code (one statement)."""
    return {code: name for code, name in session.execute(select(Department.code, Department.name))}
