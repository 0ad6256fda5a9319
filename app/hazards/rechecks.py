"""Recheck visits (复查): the tickets a recheck inspection covers and the results it records.

A planner creates a recheck inspection for an enterprise with the tickets it is to recheck
(``hazard_ids``; by default every ticket of the enterprise waiting for a recheck or still being
rectified). The team checks in on site like on any inspection, then records one result per
ticket with ``hazard.recheck`` naming the inspection: the result feeds the ticket's transition
(``app.hazards.transitions``), and carries the check-in's place when the device sends none.
When every covered ticket has its result, the inspection closes (``complete_recheck``).

A recheck outside such an inspection stays possible for the ticket's assignee (docs/sync.md);
through sync it must then say where it was made (``location``), which the timeline keeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.db import session
from app.errors import DomainError
from app.hazards.models import Hazard, RecheckItem
from app.hazards.visibility import visibility_clause as hazard_visibility
from app.i18n import _
from app.inspections import lifecycle
from app.inspections.fieldwork import not_found, workable_inspections
from app.inspections.models import Inspection
from app.inspections.visibility import log_confidential_reads, visibility_clause
from app.org.models import User

#: the ticket states a recheck visit may be planned for
RECHECKABLE = ("open", "rectifying", "rectified")


def cover(insp: Inspection, hazard_ids: Sequence[uuid.UUID] | None) -> list[RecheckItem]:
    """Attach the tickets a new recheck inspection covers; 422 naming any that cannot be."""
    if hazard_ids is None:
        ids = list(
            session.execute(
                select(Hazard.id)
                .where(
                    Hazard.enterprise_id == insp.enterprise_id,
                    Hazard.status.in_(("rectifying", "rectified")),
                )
                .order_by(Hazard.number)
            ).scalars()
        )
        if not ids:
            raise DomainError(
                "inspection.nothing_to_recheck",
                422,
                _(
                    "This enterprise has no ticket waiting for a recheck; name the tickets "
                    "(hazard_ids) or plan another kind of inspection."
                ),
                {"hazard_ids": [_("No ticket of this enterprise waits for a recheck.")]},
            )
    else:
        ids = list(dict.fromkeys(hazard_ids))
        found = {
            h.id: h for h in session.execute(select(Hazard).where(Hazard.id.in_(ids))).scalars()
        }
        problems = {
            str(hid): [
                _("Not a ticket of this enterprise.")
                if hid not in found or found[hid].enterprise_id != insp.enterprise_id
                else _(
                    "The ticket is %(status)s; there is nothing to recheck.",
                    status=found[hid].status,
                )
            ]
            for hid in ids
            if hid not in found
            or found[hid].enterprise_id != insp.enterprise_id
            or found[hid].status not in RECHECKABLE
        }
        if problems:
            raise DomainError(
                "inspection.hazards_invalid",
                422,
                _("A recheck covers open tickets of the inspected enterprise; see errors."),
                {"hazard_ids": problems},
            )
    items = [RecheckItem(inspection_id=insp.id, hazard_id=hid) for hid in ids]
    session.add_all(items)
    session.flush()
    return items


def covered(inspection_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RecheckItem]]:
    """Return each recheck inspection's covered tickets (for payloads), in one query."""
    out: dict[uuid.UUID, list[RecheckItem]] = {i: [] for i in inspection_ids}
    if inspection_ids:
        rows = session.execute(
            select(RecheckItem).where(RecheckItem.inspection_id.in_(list(inspection_ids)))
        ).scalars()
        for row in rows:
            out[row.inspection_id].append(row)
    return out


def visits_of(
    user: User, hazard_id: uuid.UUID, *, now: datetime
) -> list[tuple[Inspection, RecheckItem]]:
    """Return the recheck visits covering a ticket that the caller may see, newest first, each
    with the result it recorded (one statement; the read of a visit not yet started is logged,
    as every read of a confidential inspection is)."""
    rows = session.execute(
        select(Inspection, RecheckItem)
        .join(RecheckItem, RecheckItem.inspection_id == Inspection.id)
        .where(RecheckItem.hazard_id == hazard_id, visibility_clause(user, now))
        .order_by(Inspection.created_at.desc(), Inspection.id)
    ).all()
    visits = [(insp, item) for insp, item in rows]
    log_confidential_reads(user, [insp for insp, _item in visits], "hazard.rechecks", now)
    return visits


def covered_tickets(
    user: User, insp: Inspection, *, now: datetime
) -> list[tuple[Hazard, RecheckItem]]:
    """Return the tickets a recheck inspection covers that the caller may see, by number, each
    with the result recorded for it (one statement)."""
    if insp.type != "recheck":
        return []
    rows = session.execute(
        select(Hazard, RecheckItem)
        .join(RecheckItem, RecheckItem.hazard_id == Hazard.id)
        .where(RecheckItem.inspection_id == insp.id, hazard_visibility(user, now))
        .order_by(Hazard.number)
    ).all()
    return [(h, item) for h, item in rows]


def attach_covered(inspections: Sequence[Inspection]) -> Sequence[Inspection]:
    """Set ``recheck_hazard_ids`` on each inspection for its payload (one query for all)."""
    wanted = [i.id for i in inspections if i.type == "recheck"]
    by_visit = covered(wanted)
    for insp in inspections:
        items = by_visit.get(insp.id, [])
        insp.recheck_hazard_ids = sorted(r.hazard_id for r in items)  # type: ignore[attr-defined]
    return inspections


def visit_for(user: User, hazard: Hazard, inspection_id: uuid.UUID, now: datetime) -> Inspection:
    """Return the recheck inspection `user` records a result on, checked in; refuse otherwise."""
    insp = workable_inspections(user, [inspection_id], now).get(inspection_id)
    if insp is None:
        raise not_found()
    if insp.type != "recheck":
        raise DomainError(
            "inspection.not_a_recheck",
            409,
            _("This inspection is not a recheck; leave out inspection_id or name the recheck."),
            {"inspection_id": [_("Not a recheck inspection.")]},
        )
    if insp.enterprise_id != hazard.enterprise_id:
        raise DomainError(
            "recheck.not_covered",
            409,
            _("This ticket belongs to another enterprise than the recheck inspection."),
            {"hazard_id": [_("Not a ticket of the inspected enterprise.")]},
        )
    if insp.status != "in_progress":
        raise lifecycle.refusal(insp, "complete_recheck")
    return insp


def check_in_location(insp: Inspection) -> dict[str, Any] | None:
    """The check-in's GPS fix, the place a recheck on the visit was made by default."""
    if insp.check_in_lat is None or insp.check_in_lon is None:
        return None
    return {"lat": insp.check_in_lat, "lon": insp.check_in_lon, "accuracy": insp.check_in_accuracy}


def record_result(insp: Inspection, hazard: Hazard, result: str, user: User, now: datetime) -> None:
    """Note the ticket's result on the visit; close the visit when every ticket has one."""
    item = session.get(RecheckItem, (insp.id, hazard.id))
    if item is None:  # a ticket of the enterprise the planner did not name, rechecked too
        item = RecheckItem(inspection_id=insp.id, hazard_id=hazard.id)
        session.add(item)
    item.result, item.rechecked_at, item.rechecked_by = result, now, user.id
    session.flush()
    waiting = session.scalar(
        select(RecheckItem.hazard_id)
        .where(RecheckItem.inspection_id == insp.id, RecheckItem.result.is_(None))
        .limit(1)
    )
    if waiting is None:
        results = session.execute(
            select(RecheckItem.result).where(RecheckItem.inspection_id == insp.id)
        ).scalars()
        counts: dict[str, int] = {}
        for r in results:
            counts[str(r)] = counts.get(str(r), 0) + 1
        lifecycle.move(insp, "complete_recheck", actor=user, now=now, data={"results": counts})
