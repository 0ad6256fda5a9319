"""The mutation handlers: the rules of each mutation, applied set-based per run.

:data:`SPECS` pairs each of Fieldsafe's mutations (``app.sync.mutations``: fields and typed
args) with its handler; it is the table ``sync.push.apply_push`` applies a push by.

Each handler gets a run of consecutive mutations of one name and returns one result per
mutation. Rules are checked in memory against rows loaded once for the whole run, so a
rejected mutation is found out before anything is written; then the run's writes go out
as bulk statements (one INSERT for new findings, one UPDATE executemany for changed ones,
one INSERT for the change rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.orm import Session, lazyload

from app.audit.bindings import touch
from app.audit.services import record
from app.changelog import SCOPE_KEYS, change_row
from app.checklists.models import ChecklistVersion
from app.checklists.services import china_date, versions_in_force
from app.errors import DomainError
from app.hazards.services import comment_hazard, recheck_hazard
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.inspections.visibility import visibility_clause
from app.media.models import MediaObject
from app.org.models import User
from app.org.services import scope_filter
from app.registry.models import Enterprise
from app.sync.mutations import (
    MUTATIONS,
    CheckIn,
    FindingDelete,
    FindingPut,
    HazardComment,
    HazardRecheck,
    InspectionCreate,
    InspectionSubmit,
)
from media.evidence import distance_m
from sync.bulk import insert_rows, where_ids
from sync.feed import ChangeRow
from sync.push import (
    ApplyContext,
    Item,
    MutationRejected,
    MutationSpec,
    applied,
    mutation_specs,
    rejected,
)

#: Before check-in: findings wait for it; after submit: findings are locked.
NOT_STARTED = ("planned", "dispatched")
LOCKED = ("submitted", "reviewed", "closed")


def _is_pg(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def _lock_findings(db: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Finding]:
    """Load (and on PostgreSQL lock, in id order) the findings with these ids."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = where_ids(db, select(Finding), Finding.id, wanted).order_by(Finding.id)
    if _is_pg(db):
        stmt = stmt.with_for_update(of=Finding)
    return {f.id: f for f in db.execute(stmt).scalars()}


def _assigned(inspection: Inspection, user: User) -> bool:
    return user.id in inspection.inspector_ids


def _workable_inspections(
    db: Session, user: User, ids: Iterable[uuid.UUID], now: Any
) -> dict[uuid.UUID, Inspection]:
    """Load, and on PostgreSQL lock in id order, the inspections ``user`` may work on now.

    That is the inspections among ``ids`` the user can see (the confidentiality rule,
    ``visibility_clause``) and is assigned to. Any other id is absent from the answer, and
    a mutation naming it is answered as not found.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    assigned = exists().where(
        InspectionInspector.inspection_id == Inspection.id,
        InspectionInspector.user_id == user.id,
    )
    stmt = (
        where_ids(db, select(Inspection), Inspection.id, wanted)
        .where(assigned, visibility_clause(user, now))
        .options(lazyload(Inspection.assignments))  # checked above; loaded if ever read
        .order_by(Inspection.id)
    )
    if _is_pg(db):
        stmt = stmt.with_for_update(of=Inspection)
    return {i.id: i for i in db.execute(stmt).scalars()}


def _not_found(item: Item) -> dict[str, Any]:
    return rejected(
        item,
        "inspection.not_found",
        "No such inspection, or it is not assigned to you; refresh and check your assignments.",
    )


def _status_refusal(item: Item, inspection: Inspection) -> dict[str, Any] | None:
    if inspection.status == "cancelled":
        return rejected(
            item, "inspection.cancelled", "This inspection was cancelled; nothing more is recorded."
        )
    if inspection.status in LOCKED:
        return rejected(
            item,
            "inspection.locked",
            "This inspection was submitted; its findings can no longer change.",
        )
    if inspection.status in NOT_STARTED:
        return rejected(
            item, "inspection.not_checked_in", "Check in on site before recording findings."
        )
    return None


def _checklist_items(
    db: Session, inspections: Iterable[Inspection]
) -> dict[uuid.UUID, dict[str, dict[str, Any]] | None]:
    """Map each inspection to ``{item_code: item}`` of its checklist (None: no checklist)."""
    keys = {(i.industry, i.checklist_version) for i in inspections}
    if not keys:
        return {}
    industries = sorted({k[0] for k in keys})
    unpinned = sorted({ind for ind, ver in keys if ver is None})
    latest: dict[str, int] = {}
    if unpinned:
        latest = dict(
            db.execute(
                select(ChecklistVersion.industry, func.max(ChecklistVersion.version))
                .where(ChecklistVersion.industry.in_(unpinned))
                .group_by(ChecklistVersion.industry)
            ).all()
        )
    wanted = {(ind, ver if ver is not None else latest.get(ind)) for ind, ver in keys}
    versions = {v for _, v in wanted if v is not None}
    items: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    if versions:
        for cv in db.execute(
            select(ChecklistVersion).where(
                ChecklistVersion.industry.in_(industries), ChecklistVersion.version.in_(versions)
            )
        ).scalars():
            items[(cv.industry, cv.version)] = {
                it["code"]: it for it in cv.content.get("items", [])
            }
    out: dict[uuid.UUID, dict[str, dict[str, Any]] | None] = {}
    for insp in inspections:
        ver = (
            insp.checklist_version
            if insp.checklist_version is not None
            else latest.get(insp.industry)
        )
        out[insp.id] = items.get((insp.industry, ver)) if ver is not None else None
    return out


def _present_media(db: Session, digests: Iterable[str]) -> set[str]:
    """Return which photo hashes the media store already holds."""
    wanted = sorted(set(digests))
    if not wanted:
        return set()
    return set(
        db.execute(select(MediaObject.sha256).where(MediaObject.sha256.in_(wanted))).scalars()
    )


def _finding_change(
    finding_id: uuid.UUID, op: str, version: int, inspection: Inspection
) -> ChangeRow:
    """Describe a write to a finding whose row is not at hand; it has its inspection's scope."""
    return ChangeRow("finding", finding_id, op, version, scope=SCOPE_KEYS["inspection"](inspection))


def _location_json(location: Any) -> dict[str, Any] | None:
    return None if location is None else location.as_dict()


# --------------------------------------------------------------------------- finding.put


@dataclass
class _Draft:
    """A finding as it will be written: a new row or the changed fields of an existing one."""

    values: dict[str, Any]
    new: bool
    changed: set[str] = field(default_factory=set)
    overwritten: dict[str, Any] = field(default_factory=dict)
    stale_base: list[int] = field(default_factory=list)


_MERGED = ("result", "note", "grade", "photos", "location", "recorded_at", "value", "measures")


def _value_refusal(
    item: Item, spec: dict[str, Any] | None, result: str | None, value: float | None
) -> dict[str, Any] | None:
    """Refuse a finding whose measured value the checklist item does not accept.

    An item with a ``unit`` asks for the measured value (录入实测值) unless it is ``na``; a value
    outside its ``min``/``max`` is a failure, so it cannot be recorded as ``pass``. An item
    without a unit takes no value.
    """
    if spec is None:
        return None
    code, unit = spec["code"], spec.get("unit")
    if not unit:
        if value is None:
            return None
        return rejected(
            item,
            "finding.value_not_expected",
            f"{code} takes no measured value; leave out value.",
            {"value": ["This item takes no measured value."]},
        )
    if value is None:
        if result == "na":
            return None
        return rejected(
            item,
            "finding.value_required",
            f"{code} asks for the measured value in {unit}; send value.",
            {"value": [f"Give the measured value in {unit}."]},
        )
    low, high = spec.get("min"), spec.get("max")
    outside = (low is not None and value < low) or (high is not None and value > high)
    if outside and result == "pass":
        span = f"{low if low is not None else '…'}–{high if high is not None else '…'} {unit}"
        return rejected(
            item,
            "finding.value_out_of_range",
            f"{code}: {value:g} {unit} is outside {span}, so the item fails; record it as fail.",
            {"result": [f"A value outside {span} is a fail."]},
        )
    return None


def _get(known: Any, name: str) -> Any:
    """Read a field of a draft's values or of a stored finding."""
    return known[name] if isinstance(known, dict) else getattr(known, name)


def _value_of(put: FindingPut, name: str) -> Any:
    value = getattr(put, name)
    if name == "photos":
        return list(value)
    if name == "location":
        return _location_json(value)
    if name == "measures":
        return [m.as_dict() for m in value]
    if name == "note":
        return value or ""
    return value


def _comparable(name: str, value: Any) -> Any:
    if name == "recorded_at" and value is not None:
        return value.isoformat()
    return value


def put_findings(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Create or merge findings: per-field last writer wins; a delete beats an edit."""
    user: User = ctx.actor
    puts = [(item, item.args) for item in items if isinstance(item.args, FindingPut)]
    inspections = _workable_inspections(db, user, (a.inspection_id for _, a in puts), ctx.now)
    checklists = _checklist_items(db, inspections.values())
    existing = _lock_findings(db, (a.id for _, a in puts))
    drafts: dict[uuid.UUID, _Draft] = {}
    results: list[dict[str, Any]] = []
    written: list[tuple[dict[str, Any], uuid.UUID]] = []  # applied results and their finding

    for item, put in puts:
        assert isinstance(put, FindingPut)
        insp = inspections.get(put.inspection_id)
        if insp is None:
            results.append(_not_found(item))
            continue
        current = existing.get(put.id)
        draft = drafts.get(put.id)
        if current is not None and current.inspection_id != put.inspection_id:
            results.append(
                rejected(
                    item,
                    "finding.conflict",
                    "A finding with this id belongs to another inspection; use a new id.",
                )
            )
            continue
        if draft is not None and draft.values["inspection_id"] != put.inspection_id:
            results.append(
                rejected(item, "finding.conflict", "This finding id is used in two inspections.")
            )
            continue
        if current is not None and current.deleted:
            results.append(
                rejected(item, "finding.deleted", "This finding was deleted; record a new finding.")
            )
            continue
        review = current.review_status if current is not None else "pending"
        refusal = _status_refusal(item, insp)
        if refusal is not None and not (insp.status in LOCKED and review == "needs_info"):
            results.append(refusal)
            continue
        stored_code: str | None = None
        if current is not None:
            stored_code = current.item_code
        elif draft is not None:
            stored_code = draft.values["item_code"]
        if stored_code is None:
            missing = [n for n in ("item_code", "result", "recorded_at") if n not in put.fields_set]
            if missing:
                results.append(
                    rejected(
                        item,
                        "finding.incomplete",
                        "A new finding needs " + ", ".join(missing) + "; send them.",
                        {name: ["Required for a new finding."] for name in missing},
                    )
                )
                continue
        item_code: str = put.item_code or stored_code or ""
        codes = checklists.get(insp.id)
        if codes is not None and item_code not in codes:
            results.append(
                rejected(
                    item,
                    "finding.unknown_item",
                    f"{item_code} is not an item of this inspection's checklist.",
                    {"item_code": ["Not an item of this inspection's checklist."]},
                )
            )
            continue
        if stored_code is not None and stored_code != item_code:
            results.append(
                rejected(
                    item,
                    "finding.conflict",
                    "A finding cannot move to another checklist item; record a new finding.",
                    {"item_code": ["Differs from the stored finding."]},
                )
            )
            continue
        known = draft.values if draft is not None else current
        result_now = (
            put.result if "result" in put.fields_set or known is None else _get(known, "result")
        )
        value_now = (
            put.value if "value" in put.fields_set or known is None else _get(known, "value")
        )
        value_refusal = _value_refusal(item, (codes or {}).get(item_code), result_now, value_now)
        if value_refusal is not None:
            results.append(value_refusal)
            continue

        if current is None and draft is None:
            spec = (codes or {}).get(item_code) or {}
            grade = put.grade or spec.get("grade") or "general"
            draft = _Draft(
                values={
                    "id": put.id,
                    "inspection_id": put.inspection_id,
                    "item_code": put.item_code,
                    "checklist_version": insp.checklist_version,
                    "result": put.result,
                    "note": put.note or "",
                    "grade": grade,
                    "photos": list(put.photos),
                    "location": _location_json(put.location),
                    "recorded_at": put.recorded_at,
                    "value": put.value,
                    "measures": [m.as_dict() for m in put.measures],
                    "media_pending": False,
                    "version": 1,
                },
                new=True,
            )
            drafts[put.id] = draft
        else:
            if draft is None:
                assert current is not None
                draft = _Draft(
                    values={name: getattr(current, name) for name in _MERGED}
                    | {
                        "id": current.id,
                        "inspection_id": current.inspection_id,
                        "version": current.version,
                    },
                    new=False,
                )
                drafts[put.id] = draft
            if put.base_version is not None and put.base_version < draft.values["version"]:
                draft.stale_base.append(put.base_version)
            bumped = False
            for name in _MERGED:
                if name not in put.fields_set:
                    continue
                value = _value_of(put, name)
                old = draft.values[name]
                if _comparable(name, old) == _comparable(name, value):
                    continue
                if not draft.new and name not in draft.overwritten:
                    draft.overwritten[name] = _comparable(name, old)
                draft.values[name] = value
                draft.changed.add(name)
                bumped = True
            if bumped:  # one version per applied change, also within one push
                draft.values["version"] += 1
        result = applied(item, "finding", put.id, draft.values["version"])
        written.append((result, put.id))
        results.append(result)

    # media: a finding stays media_pending until all its photos are stored
    photos = {p for d in drafts.values() for p in d.values["photos"]}
    present = _present_media(db, photos)
    for draft in drafts.values():
        missing = [p for p in draft.values["photos"] if p not in present]
        ctx.missing_media.update(missing)
        pending = bool(missing)
        if draft.new:
            draft.values["media_pending"] = pending
        elif "photos" in draft.changed:
            draft.values["media_pending"] = pending
            draft.changed.add("media_pending")

    # results carry the final version of each finding in this run
    for result, fid in written:
        result["entity"]["version"] = drafts[fid].values["version"]

    new_rows = [d.values for d in drafts.values() if d.new]
    if new_rows:
        # A Core insert of the table: one statement, without the ORM's per-row bookkeeping.
        insert_rows(
            db,
            cast(Table, Finding.__table__),
            new_rows,
            shared={
                "received_at": ctx.now,
                "recorded_by": user.id,
                "review_status": "pending",
                "deleted": False,
                "updated_at": ctx.now,
            },
        )
    updates = []
    for fid, draft in drafts.items():
        if draft.new or not draft.changed:
            continue
        row = {name: draft.values[name] for name in draft.changed}
        row.update(id=fid, version=draft.values["version"], updated_at=ctx.now)
        if "media_pending" in draft.changed:
            row["media_pending"] = draft.values["media_pending"]
        updates.append(row)
    if updates:
        # Group by column set: one executemany per shape.
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in updates:
            shapes.setdefault(tuple(sorted(row)), []).append(row)
        for rows in shapes.values():
            db.execute(update(Finding), rows)
    # Both bulk statements bypass the ORM: name their rows for the audit chain's binding.
    touch(db, "findings", (r["id"] for r in new_rows))
    touch(db, "findings", (r["id"] for r in updates))
    for fid, draft in drafts.items():
        if draft.new or draft.changed:
            insp = inspections[draft.values["inspection_id"]]
            ctx.changes.append(_finding_change(fid, "put", draft.values["version"], insp))
        if draft.overwritten:
            record(
                "finding.merge",
                "finding",
                fid,
                {
                    "overwritten": draft.overwritten,
                    "client_id": str(ctx.client_id),
                    "stale_base_versions": draft.stale_base,
                },
                actor=user,
                db=db,
            )
    created = [str(fid) for fid, d in drafts.items() if d.new]
    if created:
        ctx.summary.setdefault("created_findings", []).extend(created)
    if existing:
        # the ORM copies are stale after the bulk UPDATE
        for f in existing.values():
            db.expire(f)
    return results


# --------------------------------------------------------------------------- finding.delete


def delete_findings(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Delete findings (a tombstone: a later edit of the same finding is rejected)."""
    user: User = ctx.actor
    findings = _lock_findings(
        db, (item.args.id for item in items if isinstance(item.args, FindingDelete))
    )
    inspections = _workable_inspections(
        db, user, (f.inspection_id for f in findings.values()), ctx.now
    )
    results = []
    for item in items:
        args = item.args
        assert isinstance(args, FindingDelete)
        finding = findings.get(args.id)
        if finding is None:
            # Never synced (or someone else's id): nothing to delete.
            results.append(applied(item, "finding", args.id, None))
            continue
        insp = inspections.get(finding.inspection_id)
        if insp is None:
            results.append(_not_found(item))
            continue
        if finding.deleted:
            results.append(applied(item, "finding", finding.id, finding.version))
            continue
        refusal = _status_refusal(item, insp)
        if refusal is not None and not (
            insp.status in LOCKED and finding.review_status == "needs_info"
        ):
            results.append(refusal)
            continue
        finding.deleted = True
        finding.version += 1
        finding.updated_at = ctx.now
        ctx.changes.append(_finding_change(finding.id, "delete", finding.version, insp))
        ctx.summary.setdefault("deleted_findings", []).append(str(finding.id))
        results.append(applied(item, "finding", finding.id, finding.version))
    db.flush()
    return results


# --------------------------------------------------------------------------- inspections


def _one_inspection(
    db: Session, ctx: ApplyContext, item: Item, inspection_id: uuid.UUID
) -> Inspection:
    insp = _workable_inspections(db, ctx.actor, [inspection_id], ctx.now).get(inspection_id)
    if insp is None:
        raise MutationRejected(
            "inspection.not_found",
            "No such inspection, or it is not assigned to you; refresh and check your assignments.",
        )
    return insp


def _bump(db: Session, ctx: ApplyContext, insp: Inspection) -> None:
    insp.version += 1
    insp.updated_at = ctx.now
    db.flush()
    ctx.changes.append(change_row("inspection", insp, "put"))


def check_in(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Record arrival on site: device and server time, GPS, distance, far-from-site flag."""
    results = []
    for item in items:
        args = item.args
        assert isinstance(args, CheckIn)
        insp = _one_inspection(db, ctx, item, args.inspection_id)
        if insp.status == "cancelled":
            raise MutationRejected("inspection.cancelled", "This inspection was cancelled.")
        if insp.status in LOCKED:
            raise MutationRejected("inspection.locked", "This inspection was already submitted.")
        if insp.check_in_received_at is not None:
            # The team's first check-in is the evidence; later ones change nothing.
            results.append(applied(item, "inspection", insp.id, insp.version))
            continue
        ent = db.get(Enterprise, insp.enterprise_id)
        distance = None
        far = None
        if ent is not None and ent.lat is not None and ent.lon is not None:
            distance = round(distance_m(args.location.lat, args.location.lon, ent.lat, ent.lon), 1)
            far = distance > float(current_app.config["CHECKIN_MAX_DISTANCE_M"])
        insp.check_in_at = args.at
        insp.check_in_received_at = ctx.now
        insp.check_in_by = ctx.actor.id
        insp.check_in_lat = args.location.lat
        insp.check_in_lon = args.location.lon
        insp.check_in_accuracy = args.location.accuracy
        insp.check_in_distance_m = distance
        insp.check_in_far = far
        insp.status = "in_progress"
        if insp.checklist_version is None:
            in_force = versions_in_force(china_date(ctx.now), db)
            insp.checklist_version = in_force.get(insp.industry)
        _bump(db, ctx, insp)
        record(
            "inspection.check_in",
            "inspection",
            insp.id,
            {
                "device_time": args.at.isoformat(),
                "location": args.location.as_dict(),
                "distance_m": distance,
                "far_from_site": far,
            },
            actor=ctx.actor,
            db=db,
        )
        results.append(applied(item, "inspection", insp.id, insp.version))
    return results


def submit(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Submit an inspection for review; a resubmission returns needs_info findings to review."""
    results = []
    for item in items:
        args = item.args
        assert isinstance(args, InspectionSubmit)
        insp = _one_inspection(db, ctx, item, args.inspection_id)
        if insp.status == "cancelled":
            raise MutationRejected("inspection.cancelled", "This inspection was cancelled.")
        if insp.status in NOT_STARTED:
            raise MutationRejected(
                "inspection.not_checked_in", "Check in on site before submitting."
            )
        if insp.status in LOCKED:
            sent_back = list(
                db.execute(
                    select(Finding).where(
                        Finding.inspection_id == insp.id,
                        Finding.review_status == "needs_info",
                        Finding.deleted.is_(False),
                    )
                ).scalars()
            )
            for finding in sent_back:
                finding.review_status = "pending"
                finding.version += 1
                finding.updated_at = ctx.now
                ctx.changes.append(_finding_change(finding.id, "put", finding.version, insp))
            if sent_back:
                db.flush()
                record(
                    "inspection.resubmit",
                    "inspection",
                    insp.id,
                    {
                        "findings": [str(f.id) for f in sent_back],
                        "device_time": args.at.isoformat(),
                    },
                    actor=ctx.actor,
                    db=db,
                )
            results.append(applied(item, "inspection", insp.id, insp.version))
            continue
        insp.status = "submitted"
        insp.submitted_at = args.at
        insp.submitted_received_at = ctx.now
        _bump(db, ctx, insp)
        record(
            "inspection.submit",
            "inspection",
            insp.id,
            {"device_time": args.at.isoformat()},
            actor=ctx.actor,
            db=db,
        )
        results.append(applied(item, "inspection", insp.id, insp.version))
    return results


def create_patrol(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Create a routine patrol started on the device, assigned to the pushing inspector."""
    user: User = ctx.actor
    results = []
    for item in items:
        args = item.args
        assert isinstance(args, InspectionCreate)
        if user.role != "inspector":
            raise MutationRejected("auth.forbidden", "Only inspectors start patrols.")
        existing = db.get(Inspection, args.id)
        if existing is not None:
            if existing.enterprise_id == args.enterprise_id and _assigned(existing, user):
                results.append(applied(item, "inspection", existing.id, existing.version))
                continue
            raise MutationRejected(
                "inspection.conflict", "An inspection with this id exists; use a new id."
            )
        ent = db.execute(
            select(Enterprise).where(
                Enterprise.id == args.enterprise_id,
                scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id),
            )
        ).scalar_one_or_none()
        if ent is None:
            raise MutationRejected(
                "enterprise.not_found",
                "No such enterprise in your jurisdiction; refresh the enterprise list.",
                {"enterprise_id": ["Unknown or outside your jurisdiction."]},
            )
        if str(ent.id) in (user.conflicts or []):
            raise MutationRejected(
                "inspection.conflict_of_interest",
                "You declared a conflict of interest with this enterprise (回避); "
                "ask a colleague to inspect it.",
            )
        version = versions_in_force(china_date(ctx.now), db).get(args.industry)
        if version is None:
            raise MutationRejected(
                "checklist.not_found",
                f"There is no checklist for industry '{args.industry}'.",
                {"industry": ["No published checklist."]},
            )
        insp = Inspection(
            id=args.id,
            type="routine",
            status="dispatched",
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry=args.industry,
            checklist_version=version,
            planner_id=None,
            dispatch_at=ctx.now,
            created_at=ctx.now,
            updated_at=ctx.now,
            version=1,
        )
        insp.assignments = [InspectionInspector(user_id=user.id)]
        db.add(insp)
        db.flush()
        ctx.changes.append(change_row("inspection", insp, "put"))
        record(
            "inspection.create",
            "inspection",
            insp.id,
            {"type": "routine", "enterprise_id": str(ent.id), "via": "sync"},
            actor=user,
            db=db,
        )
        results.append(applied(item, "inspection", insp.id, insp.version))
    return results


# --------------------------------------------------------------------------- hazards


def hazard_action(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Hand a re-inspection or a comment to the hazard tickets' services."""
    results = []
    for item in items:
        args = item.args
        try:
            if isinstance(args, HazardRecheck):
                hazard = recheck_hazard(
                    args.hazard_id,
                    ctx.actor,
                    result=args.result,
                    note=args.note,
                    photos=list(args.photos),
                    at=args.at,
                    deadline=args.deadline,
                )
            else:
                assert isinstance(args, HazardComment)
                hazard = comment_hazard(
                    args.hazard_id, ctx.actor, note=args.note, photos=list(args.photos)
                )
        except DomainError as exc:
            raise MutationRejected(exc.code, exc.message, exc.errors) from exc
        present = _present_media(db, args.photos)
        ctx.missing_media.update(p for p in args.photos if p not in present)
        results.append(applied(item, "hazard", hazard.id, getattr(hazard, "version", None)))
    return results


#: every mutation a device may push, paired with the handler applying a run of it
SPECS: dict[str, MutationSpec] = mutation_specs(
    MUTATIONS,
    {
        "finding.put": put_findings,
        "finding.delete": delete_findings,
        "inspection.check_in": check_in,
        "inspection.submit": submit,
        "inspection.create": create_patrol,
        "hazard.recheck": hazard_action,
        "hazard.comment": hazard_action,
    },
)
