"""An inspection's lifecycle: the one transition table and the one writer of its status.

``TRANSITIONS`` maps (state, action) to who may take it and the next state. :func:`move` is
the only code that changes an inspection's status (creation puts it in :func:`initial_state`):
it bumps the version, writes the audit entry and the devices' change row. An action the table
does not allow from the current state is refused by :func:`refusal` with the code a device
understands (``inspection.cancelled``, ``inspection.locked``, ``inspection.not_checked_in`` or
``inspection.invalid_transition``) and the actions that are possible now.

The states::

    planned ──(dispatch_at passes)── dispatched ──check_in──▶ in_progress ──submit──▶ submitted
       │                                │                        │ (recheck: complete)     │
       └──────────── cancel ────────────┴──▶ cancelled           ▼                         │
                                                                closed ◀──close── reviewed ◀┘

``planned`` is read as ``dispatched`` once its dispatch time has passed (``effective_status``);
``reschedule`` moves between the two when a planner changes the dispatch time. A submitted
inspection whose findings were sent back (``needs_info``) is resubmitted without changing state.
A recheck inspection (复查) records a result per ticket it covers and closes when the last one
is in; it has no findings to review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from app.audit.services import record
from app.changelog import record_change
from app.db import session
from app.errors import DomainError
from app.i18n import _
from app.inspections.models import Inspection
from app.org.models import User

TEAM = "team"  # an inspector assigned to the inspection
PLANNER = "planner"  # the planner who created it (or a redraw of its sampling plan)
SYSTEM = "system"  # Fieldsafe itself, when a rule's condition is met (review done, all closed)


@dataclass(frozen=True)
class Transition:
    who: str
    #: the next state; None: it does not change
    to: str | None
    #: what the audit log calls it
    audit: str


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("planned", "check_in"): Transition(TEAM, "in_progress", "inspection.check_in"),
    ("dispatched", "check_in"): Transition(TEAM, "in_progress", "inspection.check_in"),
    ("in_progress", "submit"): Transition(TEAM, "submitted", "inspection.submit"),
    # findings sent back for more information go back to review; the state stays
    ("submitted", "resubmit"): Transition(TEAM, None, "inspection.resubmit"),
    # the last finding was decided
    ("submitted", "review_done"): Transition(SYSTEM, "reviewed", "inspection.reviewed"),
    # every ticket it produced is closed (闭环)
    ("reviewed", "close"): Transition(SYSTEM, "closed", "inspection.closed"),
    # a recheck inspection: the team recorded the result of the last ticket it covers
    ("in_progress", "complete_recheck"): Transition(TEAM, "closed", "inspection.closed"),
    ("planned", "cancel"): Transition(PLANNER, "cancelled", "inspection.cancel"),
    ("dispatched", "cancel"): Transition(PLANNER, "cancelled", "inspection.cancel"),
    ("planned", "reschedule"): Transition(PLANNER, None, "inspection.update"),
    ("dispatched", "reschedule"): Transition(PLANNER, None, "inspection.update"),
}

#: before check-in: nothing is recorded yet; after submit: findings are locked
NOT_STARTED = ("planned", "dispatched")
LOCKED = ("submitted", "reviewed", "closed")
#: a recheck inspection takes recheck results while in progress
RECHECK_STATES = ("in_progress",)


def initial_state(dispatch_at: datetime | None, now: datetime) -> str:
    """The state a new inspection starts in: planned until its dispatch time, then dispatched."""
    return "planned" if dispatch_at is not None and dispatch_at > now else "dispatched"


def allowed_actions(insp: Inspection | Row[Any], who: str = TEAM) -> list[str]:
    """Return the actions `who` may take on `insp` now, by the transition table."""
    recheck = insp.type == "recheck"
    skip = {"submit", "resubmit", "review_done"} if recheck else {"complete_recheck"}
    return [
        action
        for (state, action), rule in TRANSITIONS.items()
        if state == insp.status and rule.who == who and action not in skip
    ]


def refusal(insp: Inspection | Row[Any], action: str, who: str = TEAM) -> DomainError:
    """Return the 409 for an action the table does not allow now, with the possible actions."""
    allowed = allowed_actions(insp, who)
    if insp.status == "cancelled":
        return DomainError(
            "inspection.cancelled",
            409,
            _("This inspection was cancelled; nothing more is recorded."),
            allowed_actions=allowed,
        )
    if insp.status in LOCKED:
        return DomainError(
            "inspection.locked",
            409,
            _("This inspection was submitted; its findings can no longer change."),
            allowed_actions=allowed,
        )
    if insp.status in NOT_STARTED:
        return DomainError(
            "inspection.not_checked_in",
            409,
            _("Check in on site before recording."),
            allowed_actions=allowed,
        )
    return DomainError(
        "inspection.invalid_transition",
        409,
        _(
            "'%(action)s' is not possible on an inspection that is %(status)s. "
            "You may: %(allowed)s.",
            action=action,
            status=insp.status,
            allowed=", ".join(allowed) or _("nothing"),
        ),
        allowed_actions=allowed,
    )


def rule_for(insp: Inspection, action: str, who: str = TEAM) -> Transition:
    """Return the table's rule for `action` on `insp`; raise the refusal if there is none."""
    rule = TRANSITIONS.get((insp.status, action))
    if rule is None or rule.who != who or action not in allowed_actions(insp, who):
        raise refusal(insp, action, who)
    return rule


def move(
    insp: Inspection,
    action: str,
    *,
    actor: User | None,
    now: datetime,
    data: dict[str, Any] | None = None,
    who: str = TEAM,
    to: str | None = None,
) -> str:
    """Take `action` on `insp`: new state, version, audit entry, change row; return the old state.

    `to` overrides the rule's next state only for ``reschedule`` (planned or dispatched, by the
    new dispatch time).
    """
    rule = rule_for(insp, action, who)
    before = insp.status
    if rule.to is not None:
        insp.status = rule.to
    elif action == "reschedule" and to in NOT_STARTED:
        insp.status = to
    insp.version += 1
    insp.updated_at = now
    session.flush()
    record(rule.audit, "inspection", insp.id, data or {}, actor=actor)
    record_change("inspection", insp)
    return before
