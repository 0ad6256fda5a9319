"""The sweep: due-soon and overdue notices, and escalation one step per interval.

``fieldsafe hazards sweep`` (and ``fieldsafe worker``) run it in batches; see docs/hazards.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import selectinload

from app.db import session
from app.hazards.models import ACTIVE_STATES, ESCALATION_LEVELS, MAX_ESCALATION, Hazard
from app.hazards.notify import notify
from app.hazards.services import escalate_step
from app.hazards.timeline import append_event
from app.settings import get_settings


def _due_soon_horizon(now: datetime) -> datetime:
    return now + timedelta(days=get_settings().hazard_due_soon_days)


def _sweep_candidates(now: datetime) -> ColumnElement[bool]:
    soon = _due_soon_horizon(now)
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
        .options(selectinload(Hazard.enterprise))
    )
    if after is not None:
        stmt = stmt.where(Hazard.id > after)
    rows = list(session.execute(stmt).scalars())
    counts = {"due_soon": 0, "overdue": 0, "escalated": 0}
    soon = _due_soon_horizon(now)
    for h in rows:
        if h.status not in ACTIVE_STATES:  # pragma: no cover - the WHERE already says so
            continue
        if now < h.deadline <= soon and h.due_soon_notified_for != h.deadline:
            h.due_soon_notified_for = h.deadline
            notify("hazard.due_soon", h)
            counts["due_soon"] += 1
        if h.deadline <= now and h.overdue_notified_for != h.deadline:
            h.overdue_notified_for = h.deadline
            append_event(
                h,
                None,
                "overdue",
                note="整改期限已过，隐患仍未整改完成。",
                from_status=h.status,
                data={"deadline": h.deadline},
                now=now,
            )
            notify("hazard.overdue", h)
            counts["overdue"] += 1
        due = h.next_escalation_at
        if due is not None and due <= now and h.escalation_level < MAX_ESCALATION:
            label = ESCALATION_LEVELS[h.escalation_level + 1]
            escalate_step(h, None, f"逾期未整改，自动升级督办：{label}", now, auto=True)
            counts["escalated"] += 1
    session.flush()
    return counts, (rows[-1].id if len(rows) == batch else None)
