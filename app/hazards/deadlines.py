"""Deadlines and the escalation clock: default periods by grade, when the next step is due."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.clock import isoformat
from app.errors import DomainError
from app.hazards.models import MAX_ESCALATION, Hazard
from app.i18n import _
from app.settings import get_settings


def default_deadline(grade: str, at: datetime) -> datetime:
    """Return the default rectification deadline for a grade (FIELDSAFE_HAZARD_DEADLINE_DAYS_*)."""
    return at + timedelta(days=get_settings().deadline_days(grade))


def escalation_interval() -> timedelta:
    """Return how long a ticket stays at one escalation level before the next."""
    return timedelta(days=get_settings().hazard_escalation_interval_days)


def next_escalation(hazard: Hazard) -> datetime | None:
    """Return when the sweep may next raise the level: max(deadline, escalated_at + interval)."""
    if hazard.escalation_level >= MAX_ESCALATION:
        return None
    due = hazard.deadline
    if hazard.escalated_at is not None:
        due = max(due, hazard.escalated_at + escalation_interval())
    return due


def set_deadline(hazard: Hazard, deadline: datetime) -> None:
    """Give the ticket a new deadline and move its escalation clock with it."""
    # Every deadline is written here: none may fall before the hazard was found (发现时间).
    if hazard.found_at is not None and deadline <= hazard.found_at:
        raise DomainError(
            "validation_error",
            422,
            _("The deadline must be after the hazard was found."),
            {
                "deadline": [
                    _(
                        "Must be later than found_at, %(found_at)s.",
                        found_at=isoformat(hazard.found_at),
                    )
                ]
            },
        )
    hazard.deadline = deadline
    hazard.next_escalation_at = next_escalation(hazard)


def require_future(value: datetime | None, field: str, now: datetime) -> datetime | None:
    """Return `value` if it is later than `now` (or None); 422 naming `field` otherwise."""
    if value is not None and value <= now:
        raise DomainError(
            "validation_error",
            422,
            _("The date must be in the future."),
            {field: [_("Must be later than now.")]},
        )
    return value
