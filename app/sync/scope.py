"""What one user's device receives: the visible sets, the log slice, and the entity data.

Visibility is never decided here twice: inspections go through the confidentiality rule
(``app.inspections.services.visibility_clause``), findings follow their inspection,
enterprises and hazards follow the org scope (own enterprise, own street, or the district).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, select
from sqlalchemy.orm import Session, selectinload

from app.changelog import EVERYWHERE
from app.checklists.models import ChecklistVersion
from app.checklists.services import serialize
from app.clock import isoformat
from app.documents.services import attach_documents, attach_hazard_documents
from app.fields import DumpContext
from app.hazards.models import Hazard
from app.hazards.rechecks import attach_covered
from app.hazards.services import serialize_hazard
from app.hazards.visibility import visibility_clause as hazard_visibility
from app.inspections.models import Finding, Inspection
from app.inspections.schemas import FindingSchema, InspectionSchema
from app.inspections.visibility import ENTERPRISE_FINDINGS_STATES
from app.inspections.visibility import visibility_clause as inspection_visibility
from app.org.models import User
from app.org.services import is_district_level, scope_filter
from app.registry.models import Enterprise
from app.registry.schemas import EnterpriseSchema
from sync.feed import Branch, branch

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

    def _inspection_clause(self) -> ColumnElement[bool]:

        return inspection_visibility(self.user, self.now)

    def visible(self, entity_type: str) -> Select[Any]:
        """Return a one-column select of the visible ids of ``entity_type``."""
        user = self.user
        if entity_type == "checklist":
            if user.role == "enterprise":
                return select(ChecklistVersion.id).where(false())
            return select(ChecklistVersion.id)
        if entity_type == "enterprise":
            return select(Enterprise.id).where(
                scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id)
            )
        if entity_type == "inspection":
            return select(Inspection.id).where(self._inspection_clause())
        if entity_type == "finding":
            visible = select(Inspection.id).where(self._inspection_clause())
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

    def branches(self) -> list[Branch] | None:
        """Return the slices of the change log that may concern this user (None: all of it)."""
        user = self.user
        if user.role == "enterprise":
            if user.enterprise_id is None:
                return []
            return [branch("enterprise_id", user.enterprise_id)]
        if is_district_level(user):
            return None
        branches = [
            branch("jurisdiction", user.jurisdiction_code),
            branch("jurisdiction", EVERYWHERE),
        ]
        # Inspections outside the user's street that the user may still see (异地交叉 teams).
        elsewhere = list(
            self.db.execute(
                select(Inspection.id).where(
                    self._inspection_clause(),
                    Inspection.jurisdiction_code != user.jurisdiction_code,
                )
            ).scalars()
        )
        branches += _id_branches("inspection_id", elsewhere)
        # Tickets outside the user's street that the user may still see (on their recheck).

        tickets = list(
            self.db.execute(
                select(Hazard.id).where(
                    hazard_visibility(user, self.now),
                    Hazard.jurisdiction_code != user.jurisdiction_code,
                )
            ).scalars()
        )
        branches += _id_branches("entity_id", tickets)
        return branches

    # -- data

    def load(self, entity_type: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
        """Return ``{id: (version, data)}`` as devices receive them."""
        if not ids:
            return {}
        db = self.db
        if entity_type == "checklist":
            versions = db.execute(
                select(ChecklistVersion).where(ChecklistVersion.id.in_(ids))
            ).scalars()
            return {cv.id: (cv.version, _json({"id": cv.id, **serialize(cv)})) for cv in versions}
        if entity_type == "enterprise":
            enterprises = db.execute(select(Enterprise).where(Enterprise.id.in_(ids))).scalars()
            return {e.id: (e.version, _json(EnterpriseSchema().dump(e))) for e in enterprises}
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
            with DumpContext({"now": self.now}):
                return {i.id: (i.version, _json(InspectionSchema().dump(i))) for i in inspections}
        if entity_type == "finding":
            finding_schema = FindingSchema()
            findings = db.execute(select(Finding).where(Finding.id.in_(ids))).scalars()
            return {f.id: (f.version, _json(finding_schema.dump(f))) for f in findings}
        if entity_type == "hazard":
            return self._load_hazards(ids)
        raise ValueError(entity_type)

    def _load_hazards(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
        rows = list(
            self.db.execute(
                select(Hazard)
                .where(Hazard.id.in_(ids))
                .options(selectinload(Hazard.enterprise), selectinload(Hazard.assignee))
            ).scalars()
        )
        attach_hazard_documents(rows)
        return {h.id: (int(h.version), _json(serialize_hazard(h, now=self.now))) for h in rows}
