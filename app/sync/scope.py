"""What one user's device receives: the visible sets, the log slice, and the entity data.

Visibility is never decided here twice, and a device never holds what the API would answer
404 for. What a device is *for* decides how much of that it receives (docs/sync.md, "What a
device receives"):

- an **inspector**'s device receives the user's work: the inspections whose team includes
  them (from ``dispatch_at`` on, the 四不两直 rule), the findings of those, the tickets not yet
  closed that they are to recheck (assigned to them, or covered by a recheck visit they are on:
  ``RecheckItem``) or that arose from those inspections, and the enterprises of those
  inspections and tickets — each within what the API lets them see. Not the rest of their
  street: the pull's statements and its slice of the log are sized by the user's own work;
- an **enterprise** account's device receives its own enterprise's data (unchanged);
- other staff (supervisors, coordinators, planners, administrators) receive their org scope:
  inspections through the confidentiality rule (``app.inspections.visibility``), findings
  following their inspection, enterprises and tickets of their street or the district.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, Select, false, literal, null, or_, select, union, union_all
from sqlalchemy.orm import Session, selectinload

from app.changelog import EVERYWHERE
from app.checklists.models import ChecklistVersion
from app.checklists.services import serialize
from app.clock import isoformat
from app.documents.services import attach_documents, attach_hazard_documents
from app.hazards.models import Hazard, RecheckItem
from app.hazards.rechecks import attach_covered
from app.hazards.services import serialize_hazard
from app.hazards.visibility import own_work_ids as own_ticket_ids
from app.hazards.visibility import visibility_clause as hazard_visibility
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.inspections.schemas import dump_finding, dump_inspection
from app.inspections.visibility import ENTERPRISE_FINDINGS_STATES, own_work_ids
from app.inspections.visibility import visible_ids as visible_inspection_ids
from app.org.models import User
from app.org.services import is_district_level, scope_filter
from app.registry.models import Enterprise
from app.registry.schemas import dump_enterprise
from sync.feed import Branch, Window, branch

#: Above this many cross-jurisdiction ids, one IN branch replaces one branch each.
_BRANCH_PER_ID = 40


def _id_branches(key: str, ids: Sequence[uuid.UUID]) -> list[Branch]:
    """Feed branches matching ``ids``: one each while few (each an index range), else one IN."""
    if len(ids) > _BRANCH_PER_ID:
        return [branch(key, *ids)]
    return [branch(key, i) for i in ids]


def _json(value: Any) -> Any:
    """Make marshmallow output JSON-safe (datetimes to RFC 3339)."""
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _checklist(cv: ChecklistVersion) -> dict[str, Any]:
    """A checklist version as devices receive it: its id and its full representation."""
    data = {"id": str(cv.id), **serialize(cv)}
    data["published_at"] = isoformat(cv.published_at)
    return data


#: The columns of a checklist version besides its content (whose SHA-256 ``digest`` is one of
#: them): what keys its device form in :data:`_CHECKLIST_FORMS`.
_CHECKLIST_KEY = tuple(
    ChecklistVersion.__table__.c[name]
    for name in ("id", "industry", "version", "name", "digest", "published_at", "effective_from")
)
#: Checklist versions as devices receive them, kept per process. Every first sync sends every
#: checklist, and their content is its largest read (about 100 KB of JSON for ten, 15 ms to
#: read and decode here); a published version never changes, and a form is found again only
#: under the same id, digest and other columns, so a stale one cannot be served.
_CHECKLIST_FORMS: dict[tuple[Any, ...], dict[str, Any]] = {}
_CHECKLIST_FORMS_MAX = 512


def _checklists(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
    """``{id: (version, device form)}`` of checklist versions, content read only when new."""
    rows = db.execute(select(*_CHECKLIST_KEY).where(_CHECKLIST_KEY[0].in_(ids))).all()
    if missing := [row.id for row in rows if tuple(row) not in _CHECKLIST_FORMS]:
        if len(_CHECKLIST_FORMS) + len(missing) > _CHECKLIST_FORMS_MAX:
            _CHECKLIST_FORMS.clear()
        read = select(ChecklistVersion).where(ChecklistVersion.id.in_(missing))
        for cv in db.execute(read).scalars():
            key = tuple(getattr(cv, column.name) for column in _CHECKLIST_KEY)
            _CHECKLIST_FORMS[key] = _checklist(cv)
    return {
        row.id: (row.version, _CHECKLIST_FORMS[tuple(row)])
        for row in rows
        if tuple(row) in _CHECKLIST_FORMS
    }


#: The types a staff device's reconcile reads by windows, and the table key each walks.
_WINDOWS = {
    "enterprise": Window(Enterprise.id),
    "inspection": Window(Inspection.id),
    "finding": Window(Finding.id),
    "hazard": Window(Hazard.id),
}


class UserScope:
    """The sync scope of one user at one moment (a ``sync.feed.FeedScope``)."""

    types: Sequence[str] = ("checklist", "enterprise", "inspection", "finding", "hazard")

    def __init__(self, db: Session, user: User, now: datetime) -> None:
        self.db = db
        self.user = user
        self.now = now
        #: inspections sent in this pull (for the confidential-read audit)
        self.sent_inspections: list[Inspection] = []

    # -- visibility

    @property
    def works(self) -> bool:
        """Tell whether the device receives the user's own work rather than an org scope."""
        return self.user.role == "inspector"

    def _dispatched(self) -> ColumnElement[bool]:
        return or_(Inspection.dispatch_at.is_(None), Inspection.dispatch_at <= self.now)

    # The user's own work, built once per page: several statements of a pull use each.
    @cached_property
    def _own_inspections(self) -> Select[Any]:
        """The inspections whose team includes the user, from ``dispatch_at`` on (四不两直).

        Driven by the team table's ``user_id`` index: its cost is the user's work, never the
        street's. A subset of the confidentiality rule (assigned and dispatched).
        """
        return (
            select(Inspection.id)
            .join(InspectionInspector, InspectionInspector.inspection_id == Inspection.id)
            .where(InspectionInspector.user_id == self.user.id, self._dispatched())
            .correlate(None)
        )

    @cached_property
    def _own_tickets(self) -> Select[Any]:
        """The tickets not yet closed that the user is to recheck or that arose from their
        inspections, within what they may see: assigned to them, covered by a recheck visit
        they are on (the visit's ``RecheckItem`` rows, what the field app lists), or issued
        from one of their inspections. Each alternative reads its own index; their union is
        small, and the visibility rule is applied once to it."""
        return self._tickets_of(self._own_inspections)

    def _tickets_of(self, inspections: Select[Any]) -> Select[Any]:
        """:attr:`_own_tickets` with the user's inspections read from ``inspections``."""
        user = self.user
        on_visits = (
            select(RecheckItem.hazard_id)
            .join(Inspection, Inspection.id == RecheckItem.inspection_id)
            .join(InspectionInspector, InspectionInspector.inspection_id == Inspection.id)
            .where(
                InspectionInspector.user_id == user.id,
                Inspection.type == "recheck",
                Inspection.status != "cancelled",
                self._dispatched(),
            )
            .correlate(None)
        )
        alternatives = union(
            select(Hazard.id).where(Hazard.assignee_id == user.id),
            on_visits,
            select(Hazard.id).where(Hazard.inspection_id.in_(inspections)),
        ).subquery()
        return select(Hazard.id).where(
            Hazard.id.in_(select(alternatives.c[0])),
            Hazard.status != "closed",
            hazard_visibility(user, self.now),
        )

    @cached_property
    def _own_enterprises(self) -> Select[Any]:
        """The enterprises of the user's inspections and tickets that the API lets them see."""
        return self._enterprises_of(
            union(
                select(Inspection.enterprise_id).where(Inspection.id.in_(self._own_inspections)),
                select(Hazard.enterprise_id).where(Hazard.id.in_(self._own_tickets)),
            )
        )

    def _enterprises_of(self, enterprise_ids: Any) -> Select[Any]:
        """:attr:`_own_enterprises` with their ids read from ``enterprise_ids`` (a select)."""
        return select(Enterprise.id).where(
            Enterprise.id.in_(enterprise_ids),
            scope_filter(self.user, Enterprise.jurisdiction_code, Enterprise.id),
        )

    def visible(self, entity_type: str) -> Select[Any]:
        """Return a one-column select of the visible ids of ``entity_type``."""
        user = self.user
        if entity_type == "checklist":
            if user.role == "enterprise":
                return select(ChecklistVersion.id).where(false())
            return select(ChecklistVersion.id)
        if self.works:
            return self._own(entity_type)
        if entity_type == "enterprise":
            return select(Enterprise.id).where(
                scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id)
            )
        # Inspections and findings through the rule's union: each part an index (scaling.md).
        if entity_type == "inspection":
            return visible_inspection_ids(user, self.now)
        if entity_type == "finding":
            visible = visible_inspection_ids(user, self.now)
            stmt = select(Finding.id).where(
                Finding.inspection_id.in_(visible), Finding.deleted.is_(False)
            )
            if user.role == "enterprise":
                stmt = stmt.where(
                    Finding.review_status == "confirmed",
                    Finding.inspection_id.in_(
                        select(Inspection.id).where(
                            Inspection.status.in_(ENTERPRISE_FINDINGS_STATES)
                        )
                    ),
                )
            return stmt
        if entity_type == "hazard":
            return select(Hazard.id).where(hazard_visibility(user, self.now))
        raise ValueError(entity_type)

    def window(self, entity_type: str) -> Window | None:
        """Staff see their street's or the whole district's enterprises, inspections and
        findings, up to hundreds of thousands: a page of their reconcile compares a window of
        each table (``sync.feed.Window``), not all of it. An inspector's own work, and an
        enterprise account's one enterprise, are compared whole."""
        if self.works or self.user.role == "enterprise":
            return None
        return _WINDOWS.get(entity_type)

    def _own(self, entity_type: str) -> Select[Any]:
        if entity_type == "enterprise":
            return self._own_enterprises
        if entity_type == "inspection":
            return self._own_inspections
        if entity_type == "finding":
            return select(Finding.id).where(
                Finding.inspection_id.in_(self._own_inspections), Finding.deleted.is_(False)
            )
        if entity_type == "hazard":
            return self._own_tickets
        raise ValueError(entity_type)

    def branches(self) -> list[Branch] | None:
        """Return the slices of the change log that may concern this user (None: all of it)."""
        user = self.user
        if user.role == "enterprise":
            if user.enterprise_id is None:
                return []
            return [branch("enterprise_id", user.enterprise_id)]
        if self.works:
            return self._work_branches()
        if is_district_level(user):
            return None
        inspections, tickets = self._elsewhere
        return [
            branch("jurisdiction", user.jurisdiction_code),
            branch("jurisdiction", EVERYWHERE),
            # Inspections outside the user's street that the user may still see (异地交叉 teams).
            *_id_branches("inspection_id", inspections),
            # Tickets outside the user's street that the user may still see (assigned to them).
            *_id_branches("entity_id", tickets),
        ]

    @cached_property
    def _elsewhere(self) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """A street's staff: the inspections and the tickets outside their street that they
        may see (planned by them, on their team, assigned to them), in id order. Each is the
        user's own work: the rule's other alternative is the street itself."""
        user = self.user
        inspections = self.db.execute(
            select(Inspection.id)
            .where(
                Inspection.id.in_(own_work_ids(user, self.now)),
                Inspection.jurisdiction_code != user.jurisdiction_code,
            )
            .order_by(Inspection.id)
        ).scalars()
        tickets = self.db.execute(
            select(Hazard.id)
            .where(
                Hazard.id.in_(own_ticket_ids(user, self.now)),
                Hazard.jurisdiction_code != user.jurisdiction_code,
            )
            .order_by(Hazard.id)
        ).scalars()
        return list(inspections), list(tickets)

    def fingerprint(self) -> str | None:
        """Return a digest of what decides the user's visible sets besides the log (None for
        an enterprise account: reconcile always; its scope is one enterprise).

        An inspector's visible inspections, tickets and enterprises are exactly the ids
        :attr:`_work` reads for the log slices, so the digest is of those: it changes when an
        inspection is assigned or dispatched, a ticket assigned, put on a recheck or closed, an
        enterprise gained or lost. Their findings are visible through the inspections; a
        finding enters or leaves otherwise only by a change row of its own (recorded,
        deleted), which its inspection's ``inspection_id`` slice carries. Checklists are all
        visible, and new ones come through ``EVERYWHERE``.

        Other staff see their street (or the district) and their own work beyond it. What
        enters or leaves the street does so by a change row in the street's slice: a check-in
        (the inspection is no longer confidential), a ticket issued, a finding recorded or
        deleted, an enterprise registered or moved (a move writes a row in the street it left
        too, ``app.changelog.record_moves``); tickets and inspections keep the street they were
        issued in. The rest is not in the log, so it is in the digest: the user's role and
        street, the inspections on their team from dispatch on (the clock lets them in), and
        what they may see outside their street (:attr:`_elsewhere`, whose slices are read by
        id: one taken off a team elsewhere would leave no row there).
        """
        user = self.user
        if user.role == "enterprise":
            return None
        inputs: list[tuple[str, Any]]
        if self.works:
            inputs = sorted((t, i) for t, i, _inspection in self._work)
        else:
            teams = self.db.execute(self._own_inspections.order_by(Inspection.id)).scalars()
            inspections, tickets = ([], []) if is_district_level(user) else self._elsewhere
            inputs = [
                ("staff", f"{user.role}:{user.jurisdiction_code}"),
                *(("team", i) for i in teams),
                *(("inspection", i) for i in inspections),
                *(("hazard", i) for i in tickets),
            ]
        digest = hashlib.sha256("".join(f"{t}:{i};" for t, i in inputs).encode())
        return base64.urlsafe_b64encode(digest.digest()[:12]).decode("ascii")

    @cached_property
    def _work(self) -> list[tuple[str, uuid.UUID, uuid.UUID | None]]:
        """The user's own inspections, tickets (with the inspection each arose from) and
        enterprises, read in one statement: ``(type, id, inspection_id)`` rows.

        The same sets as :meth:`visible` gives, built on two CTEs (the inspections, the
        tickets) that the statement reads several times: PostgreSQL plans and runs each once.
        """
        own = self._own_inspections.add_columns(Inspection.enterprise_id).cte("own_inspections")
        tickets = (
            self._tickets_of(select(own.c.id))
            .add_columns(Hazard.inspection_id, Hazard.enterprise_id)
            .cte("own_tickets")
        )
        enterprises = self._enterprises_of(
            union(select(own.c.enterprise_id), select(tickets.c.enterprise_id))
        )
        rows = self.db.execute(
            union_all(  # the first part's column types decode every row
                select(literal("hazard"), tickets.c.id, tickets.c.inspection_id),
                select(literal("inspection"), own.c.id, null()),
                select(literal("enterprise"), enterprises.subquery().c[0], null()),
            )
        ).all()
        return [(row[0], row[1], row[2]) for row in rows]

    def _work_branches(self) -> list[Branch]:
        """The log slices of an inspector's work (:attr:`_work`).

        Inspections and their findings by ``inspection_id`` (a ticket's changes carry the
        inspection it arose from, so those come too); other tickets and the enterprises by
        their own ``entity_id``; checklists by ``EVERYWHERE``. Nothing here reads the street:
        the lists are the user's own work, and past ``_BRANCH_PER_ID`` ids a key is one branch.
        """
        rows = self._work
        own = {row[1] for row in rows if row[0] == "inspection"}
        entities = sorted(
            row[1] for row in rows if row[0] != "inspection" and not (row[2] and row[2] in own)
        )
        return [
            branch("jurisdiction", EVERYWHERE),
            *_id_branches("inspection_id", sorted(own)),
            *_id_branches("entity_id", entities),
        ]

    # -- data

    def load(self, entity_type: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
        """Return ``{id: (version, data)}`` as devices receive them."""
        if not ids:
            return {}
        db = self.db
        if entity_type == "checklist":
            return _checklists(db, ids)
        # Enterprises and findings are read as plain rows (no ORM objects) and written out by
        # their domain's dump function: no marshmallow dump per row.
        if entity_type == "enterprise":
            rows = db.execute(select(*Enterprise.__table__.c).where(Enterprise.id.in_(ids)))
            return {e.id: (e.version, dump_enterprise(e)) for e in rows}
        if entity_type == "inspection":
            inspections = list(
                db.execute(
                    select(Inspection)
                    .where(Inspection.id.in_(ids))
                    .options(selectinload(Inspection.enterprise))
                ).scalars()
            )
            self.sent_inspections.extend(inspections)
            attach_covered(inspections)
            attach_documents(inspections)
            now = self.now
            return {i.id: (i.version, dump_inspection(i, now)) for i in inspections}
        if entity_type == "finding":
            rows = db.execute(select(*Finding.__table__.c).where(Finding.id.in_(ids)))
            return {f.id: (f.version, dump_finding(f)) for f in rows}
        if entity_type == "hazard":
            return self._load_hazards(ids)
        raise ValueError(entity_type)

    def _load_hazards(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
        rows = list(
            self.db.execute(
                select(Hazard)
                .where(Hazard.id.in_(ids))
                .options(
                    selectinload(Hazard.enterprise),
                    selectinload(Hazard.assignee),
                    selectinload(Hazard.events),  # the timeline the feed sends with each
                )
            ).scalars()
        )
        attach_hazard_documents(rows)
        return {h.id: (int(h.version), _json(serialize_hazard(h, now=self.now))) for h in rows}
