"""Field work: what inspectors do on site, applied a batch at a time.

Check-in, findings (put and delete), submit and device-started patrols, each a function that
takes a :class:`Batch` (who, when, what to collect) and a list of commands
(``app.inspections.commands``) and returns one outcome per command, in order: :class:`Done`
or the :class:`~app.errors.DomainError` refusing it. Rules are checked in memory against rows
loaded once for the whole batch, so a refused command is found out before anything is written;
a refused command has no effect and its neighbours still apply. Status changes go through
``app.inspections.lifecycle``. The sync adapter (``app.sync.handlers``) maps mutations to these
functions; nothing here knows about pushes.

The checklist's rules, enforced here (codes in docs/sync.md):

- a finding answers an item of the inspection's pinned checklist version
  (``finding.unknown_item``); an item with a ``unit`` needs its measured value and a value
  outside ``min``/``max`` cannot be a ``pass`` (``finding.value_*``); ``na`` only where the item
  allows it (``finding.na_not_allowed``);
- submit needs a result for every item (``inspection.incomplete``) and at least one photo for
  every ``fail`` on a ``requires_photo`` item (``inspection.photo_required``);
- a device time more than ``DEVICE_CLOCK_SKEW_MINUTES`` in the server's future is refused
  (``time.in_future``); implausible past times are accepted and flagged in the review queue
  (``app.review.services``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Select, Table, and_, bindparam, exists, select, update
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.util import identity_key

from app.audit.bindings import COVERED, touch, wrote
from app.audit.services import record
from app.changelog import SCOPE_KEYS, change_row
from app.checklists.models import ChecklistVersion
from app.checklists.services import china_date, items_by_digest, versions_in_force
from app.db import on_postgresql, session
from app.errors import DomainError
from app.i18n import _
from app.inspections.commands import (
    FINDING_PUT_FIELDS,
    CheckIn,
    FindingDelete,
    FindingPut,
    InspectionCreate,
    InspectionSubmit,
    Location,
)
from app.inspections.eligibility import check_patrol_starter
from app.inspections.lifecycle import LOCKED, NOT_STARTED, allowed_actions, move, refusal
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.inspections.visibility import viewer_key, visibility_clause
from app.media.services import missing_media
from app.org.models import User
from app.org.services import scope_filter
from app.registry.models import Enterprise
from app.review.models import FindingReview
from app.settings import get_settings
from media.evidence import distance_m
from sync.bulk import insert_rows, where_ids
from sync.feed import ChangeRow


@dataclass
class Batch:
    """Who works, when (the server's clock), and what a batch collects for its caller."""

    actor: User
    now: datetime
    client_id: uuid.UUID | None = None
    #: change rows of the findings written, for the caller to record (``record_rows``) with
    #: its own; status changes record theirs at once (``lifecycle.move``)
    changes: list[ChangeRow] = field(default_factory=list)
    #: photo digests findings cite that the media store does not hold yet
    missing_media: set[str] = field(default_factory=set)
    created_findings: list[str] = field(default_factory=list)
    deleted_findings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Done:
    """A command applied: the entity it wrote and the version it now has."""

    entity: str
    id: uuid.UUID
    version: int | None


Outcome = Done | DomainError


def not_found() -> DomainError:
    return DomainError(
        "inspection.not_found",
        404,
        _("No such inspection, or it is not assigned to you; refresh and check your assignments."),
    )


def in_future(name: str, at: datetime | None, now: datetime) -> DomainError | None:
    """Refuse a device time more than the allowed clock skew ahead of the server's clock."""
    skew = timedelta(minutes=get_settings().device_clock_skew_minutes)
    if at is None or at <= now + skew:
        return None
    return DomainError(
        "time.in_future",
        422,
        _(
            "%(field)s (%(at)s) is in the future; check the device's clock and send again.",
            field=name,
            at=at.isoformat(),
        ),
        {name: [_("Later than the server's clock allows.")]},
    )


# --------------------------------------------------------------------------- loading


#: The statements loading what a caller may work on, per caller, kept for the next request
#: (``_kept``): a device's every push runs one, and building it costs more than running it.
_KEPT: dict[tuple[Any, ...], Select[Any]] = {}
#: How many callers' statements are kept at most (then they are built anew).
_KEPT_LIMIT = 4096


def _kept(user: User, with_items: bool) -> Select[Any]:
    """Select, and on PostgreSQL lock in id order, the inspections among the ``ids`` parameter
    that ``user`` may work on at the ``now`` parameter: visible to them (``visibility_clause``)
    and assigned to them; ``with_items`` adds each one's pinned checklist version's digest.

    Built once per caller (what the rule reads of them, ``viewer_key``) and database, then kept.
    """
    key = (with_items, session.get_bind().dialect.name, *viewer_key(user))
    stmt = _KEPT.get(key)
    if stmt is not None:
        return stmt
    assigned = exists().where(
        InspectionInspector.inspection_id == Inspection.id,
        InspectionInspector.user_id == user.id,
    )
    if with_items:
        # Plain rows of the columns a put reads (no ORM objects: a put never changes them).
        table = cast(Table, Inspection.__table__)
        columns = [table.c[name] for name in _PUT_INSPECTION_COLUMNS]
        stmt = where_ids(session, select(*columns, ChecklistVersion.digest), Inspection.id)
        stmt = stmt.outerjoin(
            ChecklistVersion,
            and_(
                ChecklistVersion.industry == Inspection.industry,
                ChecklistVersion.version == Inspection.checklist_version,
            ),
        )
    else:
        stmt = where_ids(session, select(Inspection), Inspection.id).options(
            lazyload(Inspection.assignments)  # checked below; loaded if ever read
        )
    stmt = stmt.where(assigned, visibility_clause(user, bindparam("now"))).order_by(Inspection.id)
    if on_postgresql():
        stmt = stmt.with_for_update(of=Inspection)
    if len(_KEPT) >= _KEPT_LIMIT:
        _KEPT.clear()
    _KEPT[key] = stmt
    return stmt


def workable_inspections(
    user: User, ids: Iterable[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Inspection]:
    """Load, and on PostgreSQL lock in id order, the inspections ``user`` may work on now.

    That is the inspections among ``ids`` the user can see (the confidentiality rule,
    ``visibility_clause``) and is assigned to. Any other id is absent from the answer, and
    a command naming it is answered as not found.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(_kept(user, False), {"ids": wanted, "now": now}).scalars()
    return {i.id: i for i in rows}


#: The columns of an inspection that recording findings reads: the rules' (type, status), the
#: pinned checklist, and the change rows' scope (``SCOPE_KEYS["inspection"]``).
_PUT_INSPECTION_COLUMNS = (
    "id",
    "type",
    "status",
    "checklist_version",
    "jurisdiction_code",
    "enterprise_id",
)

#: An inspection as recording findings reads it: the ORM object, or a row of
#: :data:`_PUT_INSPECTION_COLUMNS` (what :func:`workable_with_items` returns).
WorkedInspection = Inspection | Row[Any]


def workable_with_items(
    user: User, ids: Iterable[uuid.UUID], now: datetime
) -> tuple[dict[uuid.UUID, Row[Any]], dict[uuid.UUID, Items | None]]:
    """:func:`workable_inspections` as plain rows of :data:`_PUT_INSPECTION_COLUMNS` (locked
    alike), and each one's checklist items (as :func:`checklist_items`).

    One statement: the pinned version's digest comes with each inspection, and its items
    from ``items_by_digest`` (read once per process and version).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}, {}
    rows = session.connection().execute(_kept(user, True), {"ids": wanted, "now": now}).all()
    items = items_by_digest({row.digest for row in rows if row.digest is not None})
    return {row.id: row for row in rows}, {
        row.id: items.get(row.digest) if row.digest is not None else None for row in rows
    }


def _lock_findings(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Finding]:
    """Load (and on PostgreSQL lock, in id order) the findings with these ids."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = where_ids(session, select(Finding), Finding.id, wanted).order_by(Finding.id)
    if on_postgresql():
        stmt = stmt.with_for_update(of=Finding)
    return {f.id: f for f in session.execute(stmt).scalars()}


Items = dict[str, dict[str, Any]]

#: A stored finding as the rules read it: an ORM object, or a row of :data:`_PUT_COLUMNS`.
StoredFinding = Finding | Row[Any]

#: The columns of a stored finding that a put checks and merges: its identity and state, and
#: every field a put may carry.
_PUT_COLUMNS = ("id", "inspection_id", "deleted", "review_status", "version", *FINDING_PUT_FIELDS)


def _lock_finding_rows(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Row[Any]]:
    """Load (and on PostgreSQL lock, in id order) the findings a put names, as plain rows."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = _finding_rows(session.get_bind().dialect.name)
    return {row.id: row for row in session.connection().execute(stmt, {"ids": wanted})}


@functools.cache
def _finding_rows(dialect: str) -> Select[Any]:
    """The statement :func:`_lock_finding_rows` runs on ``dialect``, built once."""
    table = cast(Table, Finding.__table__)
    stmt = where_ids(
        session, select(*(table.c[name] for name in _PUT_COLUMNS)), table.c.id
    ).order_by(table.c.id)
    return stmt.with_for_update(of=table) if dialect == "postgresql" else stmt


def checklist_items(inspections: Iterable[Inspection]) -> dict[uuid.UUID, Items | None]:
    """Map each inspection to ``{item_code: item}`` of its pinned checklist (None: none pinned)."""
    inspections = list(inspections)
    keys = {(i.industry, i.checklist_version) for i in inspections if i.checklist_version}
    items: dict[tuple[str, int], Items] = {}
    if keys:
        rows = session.execute(
            select(ChecklistVersion).where(
                ChecklistVersion.industry.in_(sorted({k[0] for k in keys})),
                ChecklistVersion.version.in_(sorted({k[1] for k in keys})),
            )
        ).scalars()
        for cv in rows:
            items[(cv.industry, cv.version)] = {
                it["code"]: it for it in cv.content.get("items", [])
            }
    return {
        i.id: items.get((i.industry, i.checklist_version)) if i.checklist_version else None
        for i in inspections
    }


def _finding_change(
    finding_id: uuid.UUID, op: str, version: int, inspection: WorkedInspection
) -> ChangeRow:
    """Describe a write to a finding whose row is not at hand; it has its inspection's scope."""
    return ChangeRow("finding", finding_id, op, version, scope=SCOPE_KEYS["inspection"](inspection))


def _location_json(location: Location | None) -> dict[str, Any] | None:
    return None if location is None else location.as_dict()


def _may_record(insp: WorkedInspection, finding: StoredFinding | None) -> DomainError | None:
    """Findings are recorded while in progress, and amended while sent back (needs_info)."""
    if insp.type == "recheck":
        return DomainError(
            "inspection.recheck_takes_no_findings",
            409,
            _(
                "A recheck inspection records recheck results of its tickets (hazard.recheck); "
                "start a patrol to record new findings."
            ),
            allowed_actions=allowed_actions(insp),
        )
    if insp.status == "in_progress":
        return None
    if insp.status in LOCKED and finding is not None and finding.review_status == "needs_info":
        return None
    return refusal(insp, "record")


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


def _item_refusal(spec: Items | None, code: str, result: str | None) -> DomainError | None:
    """Refuse ``na`` on an item that does not allow it (``na_allowed: false``)."""
    item = (spec or {}).get(code)
    if item is None or result != "na" or item.get("na_allowed", True):
        return None
    return DomainError(
        "finding.na_not_allowed",
        422,
        _("%(code)s applies to every site of this kind; answer pass or fail.", code=code),
        {"result": [_("Not applicable is not an answer for this item.")]},
    )


def _value_refusal(
    spec: dict[str, Any] | None, result: str | None, value: float | None
) -> DomainError | None:
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
        return DomainError(
            "finding.value_not_expected",
            422,
            _("%(code)s takes no measured value; leave out value.", code=code),
            {"value": [_("This item takes no measured value.")]},
        )
    if value is None:
        if result == "na":
            return None
        return DomainError(
            "finding.value_required",
            422,
            _(
                "%(code)s asks for the measured value in %(unit)s; send value.",
                code=code,
                unit=unit,
            ),
            {"value": [_("Give the measured value in %(unit)s.", unit=unit)]},
        )
    low, high = spec.get("min"), spec.get("max")
    outside = (low is not None and value < low) or (high is not None and value > high)
    if outside and result == "pass":
        span = f"{low if low is not None else '…'}–{high if high is not None else '…'} {unit}"
        return DomainError(
            "finding.value_out_of_range",
            422,
            _(
                "%(code)s: %(value)s %(unit)s is outside %(span)s, so the item fails; "
                "record it as fail.",
                code=code,
                value=f"{value:g}",
                unit=unit,
                span=span,
            ),
            {"result": [_("A value outside %(span)s is a fail.", span=span)]},
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


def _check_put(
    put: FindingPut,
    insp: WorkedInspection | None,
    current: StoredFinding | None,
    draft: _Draft | None,
    codes: Items | None,
    now: datetime,
) -> DomainError | str:
    """Return the refusal of one put, or the item code it answers."""
    if insp is None:
        return not_found()
    if current is not None and current.inspection_id != put.inspection_id:
        return DomainError(
            "finding.conflict",
            409,
            _("A finding with this id belongs to another inspection; use a new id."),
        )
    if draft is not None and draft.values["inspection_id"] != put.inspection_id:
        return DomainError(
            "finding.conflict", 409, _("This finding id is used in two inspections.")
        )
    if current is not None and current.deleted:
        return DomainError(
            "finding.deleted", 409, _("This finding was deleted; record a new finding.")
        )
    status = _may_record(insp, current)
    if status is not None:
        return status
    stored_code: str | None = None
    if current is not None:
        stored_code = current.item_code
    elif draft is not None:
        stored_code = draft.values["item_code"]
    if stored_code is None:
        missing = [n for n in ("item_code", "result", "recorded_at") if n not in put.fields_set]
        if missing:
            return DomainError(
                "finding.incomplete",
                422,
                _("A new finding needs %(fields)s; send them.", fields=", ".join(missing)),
                {name: [_("Required for a new finding.")] for name in missing},
            )
    late = in_future("recorded_at", put.recorded_at, now)
    if late is not None:
        return late
    item_code: str = put.item_code or stored_code or ""
    if codes is not None and item_code not in codes:
        return DomainError(
            "finding.unknown_item",
            422,
            _("%(code)s is not an item of this inspection's checklist.", code=item_code),
            {"item_code": [_("Not an item of this inspection's checklist.")]},
        )
    if stored_code is not None and stored_code != item_code:
        return DomainError(
            "finding.conflict",
            409,
            _("A finding cannot move to another checklist item; record a new finding."),
            {"item_code": [_("Differs from the stored finding.")]},
        )
    known = draft.values if draft is not None else current
    result_now = (
        put.result if "result" in put.fields_set or known is None else _get(known, "result")
    )
    value_now = put.value if "value" in put.fields_set or known is None else _get(known, "value")
    refused = _item_refusal(codes, item_code, result_now) or _value_refusal(
        (codes or {}).get(item_code), result_now, value_now
    )
    return refused if refused is not None else item_code


def put_findings(batch: Batch, puts: Sequence[FindingPut]) -> list[Outcome]:
    """Create or merge findings: per-field last writer wins; a delete beats an edit."""
    user = batch.actor
    inspections, checklists = workable_with_items(user, (p.inspection_id for p in puts), batch.now)
    existing = _lock_finding_rows(p.id for p in puts)
    drafts: dict[uuid.UUID, _Draft] = {}
    outcomes: list[Outcome] = []
    written: list[tuple[int, uuid.UUID]] = []  # index of an applied outcome, and its finding

    for put in puts:
        insp = inspections.get(put.inspection_id)
        current = existing.get(put.id)
        draft = drafts.get(put.id)
        codes = checklists.get(insp.id) if insp is not None else None
        checked = _check_put(put, insp, current, draft, codes, batch.now)
        if isinstance(checked, DomainError):
            outcomes.append(checked)
            continue
        assert insp is not None
        if current is None and draft is None:
            spec = (codes or {}).get(checked) or {}
            draft = _Draft(
                values={
                    "id": put.id,
                    "inspection_id": put.inspection_id,
                    "item_code": checked,
                    "checklist_version": insp.checklist_version,
                    "result": put.result,
                    "note": put.note or "",
                    "grade": put.grade or spec.get("grade") or "general",
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
                        "item_code": current.item_code,
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
            if bumped:  # one version per applied change, also within one batch
                draft.values["version"] += 1
        written.append((len(outcomes), put.id))
        outcomes.append(Done("finding", put.id, draft.values["version"]))

    _write_findings(batch, inspections, drafts)
    # outcomes carry the final version of each finding in this batch
    for index, fid in written:
        outcomes[index] = Done("finding", fid, drafts[fid].values["version"])
    return outcomes


def _write_findings(
    batch: Batch,
    inspections: dict[uuid.UUID, Row[Any]],
    drafts: dict[uuid.UUID, _Draft],
) -> None:
    """Write a batch's drafts as bulk statements, with their change rows and audit entries."""
    user, now = batch.actor, batch.now
    # media: a finding stays media_pending until all its photos are stored
    absent = set(missing_media(sorted({p for d in drafts.values() for p in d.values["photos"]})))
    for draft in drafts.values():
        missing = [p for p in draft.values["photos"] if p in absent]
        batch.missing_media.update(missing)
        if draft.new:
            draft.values["media_pending"] = bool(missing)
        elif "photos" in draft.changed:
            draft.values["media_pending"] = bool(missing)
            draft.changed.add("media_pending")

    new_rows = [d.values for d in drafts.values() if d.new]
    inserted = None
    if new_rows:
        # A Core insert of the table: one statement, without the ORM's per-row bookkeeping.
        # It returns the new rows' bound columns, for the audit chain's binding.
        inserted = insert_rows(
            session,
            cast(Table, Finding.__table__),
            new_rows,
            shared={
                "received_at": now,
                "recorded_by": user.id,
                "review_status": "pending",
                "deleted": False,
                "updated_at": now,
            },
            returning=COVERED["findings"],
        )
    updates = []
    for fid, draft in drafts.items():
        if draft.new or not draft.changed:
            continue
        row = {name: draft.values[name] for name in draft.changed}
        row.update(id=fid, version=draft.values["version"], updated_at=now)
        updates.append(row)
    # Group by column set: one executemany per shape.
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in updates:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for rows in shapes.values():
        session.execute(update(Finding), rows)
    # Both bulk statements bypass the ORM: name their rows for the audit chain's binding.
    if inserted is not None:
        wrote(session, "findings", inserted)
    else:
        touch(session, "findings", (r["id"] for r in new_rows))
    touch(session, "findings", (r["id"] for r in updates))
    changes = []
    for fid, draft in drafts.items():
        if draft.new or draft.changed:
            insp = inspections[draft.values["inspection_id"]]
            changes.append(_finding_change(fid, "put", draft.values["version"], insp))
        if draft.overwritten:
            record(
                "finding.merge",
                "finding",
                fid,
                {
                    "overwritten": draft.overwritten,
                    "client_id": str(batch.client_id) if batch.client_id else None,
                    "stale_base_versions": draft.stale_base,
                },
                actor=user,
                db=session,
            )
    batch.changes.extend(changes)
    batch.created_findings.extend(str(fid) for fid, d in drafts.items() if d.new)
    for row in updates:
        # an ORM copy the session holds (read earlier in this push) is stale after the UPDATE
        stale = session.identity_map.get(identity_key(Finding, row["id"]))
        if stale is not None:
            session.expire(stale)


# --------------------------------------------------------------------------- finding.delete


def delete_findings(batch: Batch, deletes: Sequence[FindingDelete]) -> list[Outcome]:
    """Delete findings (a tombstone: a later edit of the same finding is refused)."""
    findings = _lock_findings(d.id for d in deletes)
    inspections = workable_inspections(
        batch.actor, (f.inspection_id for f in findings.values()), batch.now
    )
    outcomes: list[Outcome] = []
    changes = []
    for cmd in deletes:
        finding = findings.get(cmd.id)
        if finding is None:
            # Never synced (or someone else's id): nothing to delete.
            outcomes.append(Done("finding", cmd.id, None))
            continue
        insp = inspections.get(finding.inspection_id)
        if insp is None:
            outcomes.append(not_found())
            continue
        if finding.deleted:
            outcomes.append(Done("finding", finding.id, finding.version))
            continue
        refused = _may_record(insp, finding)
        if refused is not None:
            outcomes.append(refused)
            continue
        finding.deleted = True
        finding.version += 1
        finding.updated_at = batch.now
        changes.append(_finding_change(finding.id, "delete", finding.version, insp))
        batch.deleted_findings.append(str(finding.id))
        outcomes.append(Done("finding", finding.id, finding.version))
    session.flush()
    batch.changes.extend(changes)
    return outcomes


# --------------------------------------------------------------------------- check-in


def check_in(batch: Batch, commands: Sequence[CheckIn]) -> list[Outcome]:
    """Record arrival on site: device and server time, GPS, distance, far-from-site flag.

    The team's first check-in is the evidence; later ones change nothing. The inspection pins
    the checklist version in force on the day (China time) if the planner did not.
    """
    inspections = workable_inspections(batch.actor, (c.inspection_id for c in commands), batch.now)
    outcomes: list[Outcome] = []
    for cmd in commands:
        insp = inspections.get(cmd.inspection_id)
        if insp is None:
            outcomes.append(not_found())
            continue
        late = in_future("at", cmd.at, batch.now)
        if late is not None:
            outcomes.append(late)
            continue
        if insp.status == "cancelled" or insp.status in LOCKED:
            outcomes.append(refusal(insp, "check_in"))
            continue
        if insp.check_in_received_at is not None:
            outcomes.append(Done("inspection", insp.id, insp.version))
            continue
        if insp.status not in NOT_STARTED:
            outcomes.append(refusal(insp, "check_in"))
            continue
        ent = session.get(Enterprise, insp.enterprise_id)
        distance = far = None
        if ent is not None and ent.lat is not None and ent.lon is not None:
            distance = round(distance_m(cmd.location.lat, cmd.location.lon, ent.lat, ent.lon), 1)
            far = distance > get_settings().checkin_max_distance_m
        insp.check_in_at = cmd.at
        insp.check_in_received_at = batch.now
        insp.check_in_by = batch.actor.id
        insp.check_in_lat = cmd.location.lat
        insp.check_in_lon = cmd.location.lon
        insp.check_in_accuracy = cmd.location.accuracy
        insp.check_in_distance_m = distance
        insp.check_in_far = far
        if insp.checklist_version is None:
            in_force = versions_in_force(china_date(batch.now), session)
            insp.checklist_version = in_force.get(insp.industry)
        move(
            insp,
            "check_in",
            actor=batch.actor,
            now=batch.now,
            data={
                "device_time": cmd.at.isoformat(),
                "location": cmd.location.as_dict(),
                "distance_m": distance,
                "far_from_site": far,
            },
        )
        outcomes.append(Done("inspection", insp.id, insp.version))
    return outcomes


# --------------------------------------------------------------------------- submit


def _names(codes: list[str], limit: int = 12) -> str:
    shown = ", ".join(codes[:limit])
    if len(codes) <= limit:
        return shown
    return _("%(codes)s and %(n)s more", codes=shown, n=len(codes) - limit)


def completeness_refusal(items: Items | None, findings: Sequence[Finding]) -> DomainError | None:
    """Refuse a submit that leaves an item unanswered or a required photo missing.

    A photo counts once the finding cites it, stored or still uploading (media_pending).
    """
    if items is None:
        return None
    answered = {f.item_code for f in findings}
    missing = [code for code in items if code not in answered]
    if missing:
        return DomainError(
            "inspection.incomplete",
            422,
            _(
                "Answer every item of the checklist before submitting; unanswered: %(codes)s.",
                codes=_names(missing),
            ),
            {"items": missing},
        )
    unproven = sorted(
        f.item_code
        for f in findings
        if f.result == "fail" and items.get(f.item_code, {}).get("requires_photo") and not f.photos
    )
    if unproven:
        return DomainError(
            "inspection.photo_required",
            422,
            _(
                "A failed answer to these items needs a photo: %(codes)s; add one.",
                codes=_names(unproven),
            ),
            {"items": unproven},
        )
    return None


def _unanswered(insp: Inspection, sent_back: Sequence[Finding]) -> list[Finding]:
    """The findings sent back (needs_info) that were not amended since the supervisor asked."""
    if not sent_back:
        return []
    asked = dict(
        session.execute(
            select(FindingReview.finding_id, FindingReview.finding_version)
            .where(
                FindingReview.inspection_id == insp.id,
                FindingReview.finding_id.in_([f.id for f in sent_back]),
                FindingReview.decision == "needs_info",
            )
            .order_by(FindingReview.at)
        ).all()
    )
    return [f for f in sent_back if f.version <= (asked.get(f.id) or 0)]


def submit(batch: Batch, commands: Sequence[InspectionSubmit]) -> list[Outcome]:
    """Submit an inspection for review; a resubmission returns amended findings to review."""
    inspections = workable_inspections(batch.actor, (c.inspection_id for c in commands), batch.now)
    outcomes: list[Outcome] = []
    for cmd in commands:
        insp = inspections.get(cmd.inspection_id)
        if insp is None:
            outcomes.append(not_found())
            continue
        late = in_future("at", cmd.at, batch.now)
        if late is not None:
            outcomes.append(late)
            continue
        findings = list(
            session.execute(
                select(Finding).where(Finding.inspection_id == insp.id, Finding.deleted.is_(False))
            ).scalars()
        )
        if insp.status in LOCKED and insp.type != "recheck":
            outcomes.append(_resubmit(batch, insp, cmd, findings))
            continue
        if insp.type == "recheck" and insp.status == "in_progress":
            outcomes.append(
                DomainError(
                    "inspection.invalid_transition",
                    409,
                    _(
                        "A recheck inspection is not submitted: it closes when each ticket it "
                        "covers has its recheck result (hazard.recheck with this inspection_id)."
                    ),
                    allowed_actions=allowed_actions(insp),
                )
            )
            continue
        if insp.status != "in_progress":
            outcomes.append(refusal(insp, "submit"))
            continue
        items = checklist_items([insp])[insp.id]
        refused = completeness_refusal(items, findings)
        if refused is not None:
            outcomes.append(refused)
            continue
        insp.submitted_at = cmd.at
        insp.submitted_received_at = batch.now
        move(
            insp,
            "submit",
            actor=batch.actor,
            now=batch.now,
            data={"device_time": cmd.at.isoformat()},
        )
        outcomes.append(Done("inspection", insp.id, insp.version))
    return outcomes


def _resubmit(
    batch: Batch, insp: Inspection, cmd: InspectionSubmit, findings: list[Finding]
) -> Outcome:
    """Send amended needs_info findings back to review; refuse while one is unanswered."""
    sent_back = [f for f in findings if f.review_status == "needs_info"]
    if not sent_back:
        return Done("inspection", insp.id, insp.version)  # already submitted: a retry
    unanswered = _unanswered(insp, sent_back)
    if unanswered:
        codes = sorted(f.item_code for f in unanswered)
        return DomainError(
            "inspection.needs_info_unanswered",
            409,
            _(
                "The supervisor asked for more on these findings and they were not amended: "
                "%(codes)s. Amend them (finding.put), then submit again.",
                codes=_names(codes),
            ),
            {"findings": [str(f.id) for f in unanswered]},
        )
    changes = []
    for finding in sent_back:
        finding.review_status = "pending"
        finding.version += 1
        finding.updated_at = batch.now
        changes.append(_finding_change(finding.id, "put", finding.version, insp))
    session.flush()
    batch.changes.extend(changes)
    move(
        insp,
        "resubmit",
        actor=batch.actor,
        now=batch.now,
        data={"findings": [str(f.id) for f in sent_back], "device_time": cmd.at.isoformat()},
    )
    return Done("inspection", insp.id, insp.version)


# --------------------------------------------------------------------------- patrols


def start_patrols(batch: Batch, commands: Sequence[InspectionCreate]) -> list[Outcome]:
    """Create routine patrols started on the device, assigned to the inspector who started them.

    Eligibility differs from a planned inspection's (``app.inspections.eligibility``).
    """
    user = batch.actor
    outcomes: list[Outcome] = []
    for cmd in commands:
        existing = session.get(Inspection, cmd.id)
        if existing is not None:
            if existing.enterprise_id == cmd.enterprise_id and user.id in existing.inspector_ids:
                outcomes.append(Done("inspection", existing.id, existing.version))
            else:
                outcomes.append(
                    DomainError(
                        "inspection.conflict",
                        409,
                        _("An inspection with this id exists; use a new id."),
                    )
                )
            continue
        ent = session.execute(
            select(Enterprise).where(
                Enterprise.id == cmd.enterprise_id,
                scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id),
            )
        ).scalar_one_or_none()
        try:
            check_patrol_starter(user, ent, china_date(batch.now))
        except DomainError as exc:
            outcomes.append(exc)
            continue
        assert ent is not None
        version = versions_in_force(china_date(batch.now), session).get(cmd.industry)
        if version is None:
            outcomes.append(
                DomainError(
                    "checklist.not_found",
                    422,
                    _("There is no checklist for industry '%(industry)s'.", industry=cmd.industry),
                    {"industry": [_("No published checklist.")]},
                )
            )
            continue
        insp = Inspection(
            id=cmd.id,
            type="routine",
            status="dispatched",
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry=cmd.industry,
            checklist_version=version,
            planner_id=None,
            dispatch_at=batch.now,
            created_at=batch.now,
            updated_at=batch.now,
            version=1,
        )
        insp.assignments = [InspectionInspector(user_id=user.id)]
        session.add(insp)
        session.flush()
        batch.changes.append(change_row("inspection", insp, "put"))
        record(
            "inspection.create",
            "inspection",
            insp.id,
            {"type": "routine", "enterprise_id": str(ent.id), "via": "sync"},
            actor=user,
        )
        outcomes.append(Done("inspection", insp.id, insp.version))
    return outcomes
