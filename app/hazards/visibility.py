"""Who may see a ticket: staff in scope, the enterprise, the assignee, a rechecking inspector.

The bottom of the hazards package: it reads models and the org scope rules, nothing of the
hazards services, so the sync feed and the media access check can use it without them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select, union

from app.clock import utcnow
from app.db import cites_photo, session
from app.hazards.models import Hazard, HazardEvent
from app.inspections.models import Inspection, InspectionInspector
from app.org.models import User
from app.org.services import can_see_jurisdiction, scope_filter


def recheck_assignment(user: User, enterprise_col: Any, now: datetime) -> ColumnElement[bool]:
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
    scope = scope_filter(user, Hazard.jurisdiction_code, Hazard.enterprise_id)
    return or_(scope, *_own_work(user, now))


def _own_work(user: User, now: datetime) -> list[ColumnElement[bool]]:
    """The rule's alternatives besides the user's scope: the tickets assigned to them and, for
    an inspector, those of the enterprises they are on a live recheck of."""
    own: list[ColumnElement[bool]] = [Hazard.assignee_id == user.id]
    if user.role == "inspector":
        own.append(recheck_assignment(user, Hazard.enterprise_id, now))
    return own


def own_work_ids(user: User, now: datetime | None = None) -> Select[Any]:
    """Return a one-column select of the ids of the tickets `user` sees as their own work at
    `now` (:func:`visibility_clause` but the scope), each alternative through its own index.
    What staff may see outside their scope is exactly these."""
    parts = [
        select(Hazard.id).where(alternative) for alternative in _own_work(user, now or utcnow())
    ]
    return parts[0] if len(parts) == 1 else select(union(*parts).subquery().c[0])


def on_recheck(user: User, hazard: Hazard, now: datetime | None = None) -> bool:
    """Tell whether `user` is on a live recheck inspection of the ticket's enterprise."""
    stmt = select(recheck_assignment(user, hazard.enterprise_id, now or utcnow()))
    return bool(session.scalar(stmt))


def can_see(user: User, hazard: Hazard, now: datetime | None = None) -> bool:
    """Tell whether `user` may see `hazard`."""
    if user.role == "enterprise":
        return user.enterprise_id is not None and hazard.enterprise_id == user.enterprise_id
    if hazard.assignee_id == user.id or can_see_jurisdiction(user, hazard.jurisdiction_code):
        return True
    return user.role == "inspector" and on_recheck(user, hazard, now)


def photo_visible(user: User, sha256: str) -> bool:
    """Tell whether a photo is referenced by a ticket or timeline entry `user` may see.

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
    return session.execute(in_timeline).first() is not None
