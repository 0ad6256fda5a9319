"""A ticket's lifecycle: the one transition table, who may act, and the one writer of status.

``TRANSITIONS`` maps (state, action) to the kind of actor who may take it and the next state.
Anything not in the table — an action from another state, or by someone of another kind —
answers 409 ``hazard.invalid_transition`` with the caller's ``allowed_actions``. :func:`move`
is the only code that changes a hazard's status (issuing creates it in :data:`INITIAL_STATE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.errors import DomainError
from app.hazards.models import HAZARD_STATES, Hazard
from app.hazards.visibility import on_recheck
from app.i18n import _
from app.org.models import User
from app.settings import get_settings

#: The state a ticket is issued in.
INITIAL_STATE = "open"

COORDINATOR = "coordinator"  # a coordinator (工作专班) who can see the ticket
PARTY = "enterprise_or_assignee"  # the ticket's enterprise account, or its assignee
RECHECKER = "recheck_inspector"  # an inspector: the assignee, or on a recheck inspection of it
CLOSER = "responsible_supervisor"  # a supervisor of the industry's responsible department
VIEWER = "viewer"  # anyone who can see the ticket
ACTOR_KINDS = (COORDINATOR, PARTY, RECHECKER, CLOSER, VIEWER)


@dataclass(frozen=True)
class Transition:
    who: str
    #: None: the state does not change; a dict: the next state by recheck result.
    to: str | dict[str, str] | None


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("open", "assign"): Transition(COORDINATOR, None),
    ("rectifying", "assign"): Transition(COORDINATOR, None),
    ("rectified", "assign"): Transition(COORDINATOR, None),
    ("open", "start"): Transition(PARTY, "rectifying"),
    ("rectifying", "submit_rectification"): Transition(PARTY, "rectified"),
    ("rectified", "recheck"): Transition(RECHECKER, {"pass": "verified", "fail": "rectifying"}),
    # 即查即改: a general hazard fixed on the spot, with photo proof.
    ("open", "recheck"): Transition(RECHECKER, {"pass": "verified"}),
    ("verified", "close"): Transition(CLOSER, "closed"),
    ("open", "escalate"): Transition(COORDINATOR, None),
    ("rectifying", "escalate"): Transition(COORDINATOR, None),
    ("open", "request_extension"): Transition(PARTY, None),
    ("rectifying", "request_extension"): Transition(PARTY, None),
    ("open", "decide_extension"): Transition(COORDINATOR, None),
    ("rectifying", "decide_extension"): Transition(COORDINATOR, None),
    **{(state, "comment"): Transition(VIEWER, None) for state in HAZARD_STATES},
}


def actor_kinds(user: User, hazard: Hazard, now: datetime | None = None) -> set[str]:
    """Return the kinds of actor `user` is for `hazard` (they must be able to see it)."""
    kinds = {VIEWER}
    if user.role == "coordinator":
        kinds.add(COORDINATOR)
    own_enterprise = user.role == "enterprise" and user.enterprise_id == hazard.enterprise_id
    if own_enterprise or (hazard.assignee_id is not None and hazard.assignee_id == user.id):
        kinds.add(PARTY)
    if user.role == "inspector" and (
        hazard.assignee_id == user.id or on_recheck(user, hazard, now)
    ):
        kinds.add(RECHECKER)
    closer = get_settings().responsible_department(hazard.industry)
    if user.role == "supervisor" and user.department_code == closer:
        kinds.add(CLOSER)
    return kinds


def allowed_actions(user: User, hazard: Hazard) -> list[str]:
    """Return the actions `user` may take on `hazard` now, by the transition table."""
    kinds = actor_kinds(user, hazard)
    return [
        action
        for (state, action), rule in TRANSITIONS.items()
        if state == hazard.status and rule.who in kinds
    ]


def invalid_transition(user: User, hazard: Hazard, action: str, why: str = "") -> DomainError:
    """Return the 409 for an action the table does not allow, with the caller's options."""
    allowed = allowed_actions(user, hazard)
    message = why or _(
        "'%(action)s' is not possible on a ticket that is %(status)s for a %(role)s in your "
        "position. You may: %(allowed)s.",
        action=action,
        status=hazard.status,
        role=user.role,
        allowed=", ".join(allowed) or _("nothing"),
    )
    return DomainError("hazard.invalid_transition", 409, message, allowed_actions=allowed)


def rule_for(user: User, hazard: Hazard, action: str, now: datetime | None = None) -> Transition:
    """Return the table's rule for `user` taking `action` on `hazard`; 409 if there is none."""
    rule = TRANSITIONS.get((hazard.status, action))
    if rule is None or rule.who not in actor_kinds(user, hazard, now):
        raise invalid_transition(user, hazard, action)
    return rule


def move(hazard: Hazard, rule: Transition, result: str | None = None) -> str:
    """Put `hazard` in the rule's next state (by recheck `result`); return the state it left."""
    before = hazard.status
    if isinstance(rule.to, dict):
        hazard.status = rule.to[result or ""]
    elif rule.to is not None:
        hazard.status = rule.to
    return before
