"""Who may take part in an inspection: planned ones and patrols started on a device, side by side.

A **planned inspection** (四不两直 unannounced, routine, complaint, recheck, or drawn by 双随机)
is an enforcement inspection (执法检查): at least two inspectors (两人以上, 行政处罚法 第四十二条),
each an active inspector whose enforcement certificate (执法证) is valid through the window's
last day, none with a declared conflict of interest with the enterprise (回避).

A **patrol** (日常巡查) is started by one inspector on the device, on the spot: a routine visit
whose findings a supervisor reviews before anything is ordered. So one inspector suffices, but
the same person rules apply to that inspector: active, certificate valid today, no conflict of
interest, and the enterprise in the inspector's jurisdiction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from app.db import session
from app.errors import DomainError
from app.i18n import _
from app.org.models import User
from app.registry.models import Enterprise


def ineligibility(user: User | None, enterprise: Enterprise, on: date) -> str | None:
    """Why `user` may not inspect `enterprise` on `on`, or None if they may."""
    if user is None or user.role != "inspector" or not user.active:
        # i18n: a reason an inspector may not take part, after their name
        return _("not an active inspector")
    if user.certificate_expires is None:
        # i18n: a reason an inspector may not take part, after their name
        return _("has no enforcement certificate (执法证) on record")
    if user.certificate_expires < on:
        # i18n: a reason an inspector may not take part, after their name
        return _(
            "certificate %(number)s expired on %(date)s",
            number=user.certificate_no or "",
            date=user.certificate_expires.isoformat(),
        ).replace("  ", " ")
    if str(enterprise.id) in (user.conflicts or []):
        # i18n: a reason an inspector may not take part, after their name
        return _("declared a conflict of interest with this enterprise (回避)")
    return None


def check_team(inspector_ids: Sequence[uuid.UUID], enterprise: Enterprise, on: date) -> list[User]:
    """Return the team, or refuse (422) naming each ineligible inspector and why."""
    ids = list(dict.fromkeys(inspector_ids))
    if len(ids) != len(inspector_ids):
        raise DomainError(
            "validation_error",
            422,
            _("An inspector is listed twice; list each once."),
            {"inspector_ids": [_("Duplicate inspector.")]},
        )
    users = {u.id: u for u in session.execute(select(User).where(User.id.in_(ids))).scalars()}
    problems: dict[str, list[str]] = {}
    named: list[str] = []
    for uid in ids:
        user = users.get(uid)
        reason = ineligibility(user, enterprise, on)
        if reason is None:
            continue
        problems[str(uid)] = [reason.replace("  ", " ")]
        who = f"{user.name} ({user.username})" if user is not None else str(uid)
        named.append(f"{who}: {reason}")
    if problems:
        raise DomainError(
            "inspection.ineligible_inspector",
            422,
            _(
                "These inspectors may not take part: %(named)s. Choose others.",
                named="; ".join(named),
            ),
            {"inspector_ids": problems},
        )
    if len(ids) < 2:
        raise DomainError(
            "inspection.team_too_small",
            422,
            _("An inspection needs at least two inspectors (两人以上执法)."),
            {"inspector_ids": [_("At least two inspectors.")]},
        )
    return [users[uid] for uid in ids]


def check_patrol_starter(user: User, enterprise: Enterprise | None, on: date) -> None:
    """Refuse a patrol the device starts unless `user` may inspect `enterprise` alone today.

    `enterprise` is None when it is unknown or outside the user's jurisdiction.
    """
    if user.role != "inspector":
        raise DomainError("auth.forbidden", 403, _("Only inspectors start patrols."))
    if enterprise is None:
        raise DomainError(
            "enterprise.not_found",
            404,
            _("No such enterprise in your jurisdiction; refresh the enterprise list."),
            {"enterprise_id": [_("Unknown or outside your jurisdiction.")]},
        )
    if str(enterprise.id) in (user.conflicts or []):
        raise DomainError(
            "inspection.conflict_of_interest",
            409,
            _(
                "You declared a conflict of interest with this enterprise (回避); "
                "ask a colleague to inspect it."
            ),
        )
    reason = ineligibility(user, enterprise, on)
    if reason is not None:
        raise DomainError(
            "inspection.ineligible_inspector",
            422,
            _("You may not start a patrol: %(reason)s.", reason=reason),
        )
