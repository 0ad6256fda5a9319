"""Hazard notifications: events queued to the outbox in the transaction of the change."""

from __future__ import annotations

from typing import Any

from app.clock import isoformat
from app.hazards.models import ESCALATION_LEVELS, Hazard
from app.hazards.timeline import jsonable
from app.notifications.services import enqueue


def notify(event_type: str, hazard: Hazard, **extra: Any) -> None:
    """Queue `event_type` (hazard.issued, .assigned, .due_soon …) with the ticket's summary."""
    data = {
        "id": str(hazard.id),
        "number": hazard.number,
        "status": hazard.status,
        "grade": hazard.grade,
        "source": hazard.source,
        "enterprise_id": str(hazard.enterprise_id),
        "enterprise_name": hazard.enterprise.name if hazard.enterprise is not None else None,
        "jurisdiction": hazard.jurisdiction_code,
        "industry": hazard.industry,
        "deadline": isoformat(hazard.deadline),
        "assignee_id": str(hazard.assignee_id) if hazard.assignee_id else None,
        "escalation_level": hazard.escalation_level,
        "escalation": ESCALATION_LEVELS.get(hazard.escalation_level),
        "listed": hazard.listed,
        **jsonable(extra),
    }
    enqueue(event_type, "hazard", hazard.id, data)
