"""Demo work for `fieldsafe demo`: a committed and drawn 双随机 plan, and dispatched inspections.

Idempotent: each piece is created only when it is missing. inspector1 and inspector2 get a
dispatched inspection of every type, so a newcomer's device has work on its first sync.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.clock import utcnow
from app.db import session
from app.inspections.models import Inspection
from app.inspections.services import PLANNER_TYPES, create_inspection
from app.org.models import User
from app.planning.models import SamplingPlan
from app.planning.services import commit_plan, create_plan, draw_plan
from app.registry.models import Enterprise

DEMO_PLAN_NAME = "演示：华阳路街道双随机抽查（异地交叉）"


def _user(username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def load_planning_demo() -> dict[str, int]:
    """Create the demo sampling plan (committed, drawn) and one inspection of each planner type."""
    planner = _user("planner")
    team = [_user("inspector1"), _user("inspector2")]
    now = utcnow()
    window = {"start": now - timedelta(hours=1), "end": now + timedelta(days=30)}

    plan = session.execute(
        select(SamplingPlan).where(
            SamplingPlan.name == DEMO_PLAN_NAME, SamplingPlan.created_by == planner.id
        )
    ).scalar_one_or_none()
    if plan is None:
        # Street huayanglu under 异地交叉: inspector3 (of huayanglu) is excluded, so every team is
        # inspector1 + inspector2 (both district-level).
        plan = create_plan(
            planner,
            {
                "name": DEMO_PLAN_NAME,
                "jurisdictions": ["huayanglu"],
                "rates": {"high": "0.3", "medium": "0.15", "low": "0.1"},
                "team_size": 2,
                "cross_jurisdiction": True,
                "exclude_inspected_within_days": 180,
                "window": window,
            },
            now=now,
        )
    if plan.status == "draft":
        commit_plan(planner, plan, now=now)
    if plan.status == "committed":
        draw_plan(planner, plan, now=now)

    existing = set(
        session.execute(
            select(Inspection.type).where(
                Inspection.planner_id == planner.id, Inspection.sampling_plan_id.is_(None)
            )
        ).scalars()
    )
    own = session.execute(select(User.enterprise_id).where(User.role == "enterprise")).scalars()
    skip = {e for e in own if e is not None}
    targets = [
        e
        for e in session.execute(
            select(Enterprise)
            .where(Enterprise.jurisdiction_code != "huayanglu")
            .order_by(Enterprise.uscc)
            .limit(10)
        ).scalars()
        if e.id not in skip
    ]
    created = 0
    for kind, target in zip(PLANNER_TYPES, targets, strict=False):
        if kind in existing:
            continue
        create_inspection(
            planner,
            {
                "type": kind,
                "enterprise_id": target.id,
                "inspector_ids": [u.id for u in team],
                "window": window,
                "dispatch_at": now,
            },
            now=now,
        )
        created += 1
    session.flush()
    total = session.execute(select(Inspection.id).where(Inspection.planner_id == planner.id)).all()
    return {"sampling plans": 1, "demo inspections": len(total), "inspections added": created}
