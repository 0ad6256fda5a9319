"""`fieldsafe hazards sweep`: due-soon and overdue notices, one escalation step per interval,
idempotent, and safe when two sweeps run at once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from app.clock import utcnow
from app.hazards.models import Hazard, HazardEvent
from app.notifications.models import NotificationEvent
from tests.hazards.helpers import T0


def _sweep(app, clock=None):
    from app.cli.hazards import run_sweep

    with app.app_context():
        return run_sweep(now=utcnow())


def _types(db_session, hazard_id):
    db_session.expire_all()
    rows = db_session.execute(
        select(NotificationEvent.type)
        .where(NotificationEvent.entity_id == str(hazard_id))
        .order_by(NotificationEvent.created_at)
    ).scalars()
    return list(rows)


def test_overdue_tickets_climb_one_step_per_interval_and_no_further(world, app, clock, db_session):
    late = world.hazard(status="rectifying", deadline=T0 - timedelta(hours=1))
    soon = world.hazard(status="open", deadline=T0 + timedelta(days=2))
    waiting = world.hazard(status="rectified", deadline=T0 - timedelta(days=1))
    calm = world.hazard(status="open", deadline=T0 + timedelta(days=30))

    assert _sweep(app) == {"due_soon": 1, "overdue": 1, "escalated": 1}
    assert _sweep(app) == {"due_soon": 0, "overdue": 0, "escalated": 0}  # idempotent
    assert world.row(late).escalation_level == 1
    assert _types(db_session, soon) == ["hazard.issued", "hazard.due_soon"]
    assert _types(db_session, late) == ["hazard.issued", "hazard.overdue", "hazard.escalated"]
    assert _types(db_session, waiting) == _types(db_session, calm) == ["hazard.issued"]

    clock.advance(days=6, hours=23)
    # Only `soon` (now five days late) takes its first step; `late` waits for its interval.
    assert _sweep(app) == {"due_soon": 0, "overdue": 1, "escalated": 1}
    assert (world.row(late).escalation_level, world.row(soon).escalation_level) == (1, 1)
    levels = []
    for _ in range(4):
        clock.advance(days=7)
        _sweep(app)
        _sweep(app)  # twice each time: nothing more
        levels.append(world.row(late).escalation_level)
    assert levels == [2, 3, 4, 4]
    detail = world.get(late).json
    steps = [e for e in detail["timeline"] if e["action"] == "escalate"]
    assert [s["data"]["label"] for s in steps] == ["函告", "通报", "约谈", "曝光"]
    assert all(s["actor"]["username"] == "system" and s["data"]["automatic"] for s in steps)
    assert [e["action"] for e in detail["timeline"]].count("overdue") == 1


def test_a_new_deadline_rearms_the_notices_and_pauses_escalation(world, app, clock, db_session):
    hid = world.hazard(status="rectifying", deadline=T0 - timedelta(hours=1))
    _sweep(app)
    until = clock.now + timedelta(days=20)
    world.act(
        hid,
        "enterprise",
        {"action": "request_extension", "until": until.isoformat(), "reason": "缺货"},
    )
    world.act(hid, "coordinator", {"action": "decide_extension", "approve": True, "note": "同意"})
    clock.advance(days=10)
    assert _sweep(app) == {"due_soon": 0, "overdue": 0, "escalated": 0}
    clock.advance(days=8)
    assert _sweep(app)["due_soon"] == 1
    clock.advance(days=3)
    assert _sweep(app) == {"due_soon": 0, "overdue": 1, "escalated": 1}
    assert world.row(hid).escalation_level == 2


def test_the_cli_command(world, app):
    world.hazard(status="open", deadline=T0 - timedelta(days=1))
    result = app.test_cli_runner().invoke(args=["hazards", "sweep"])
    assert result.exit_code == 0, result.output
    assert "1 escalated" in result.output


def test_two_sweeps_at_once_escalate_each_ticket_once(committed_app):
    from app.db import session
    from app.hazards.services import issue_hazard
    from app.registry.models import Enterprise
    from tests.factories import Factories

    app = committed_app
    ent = Factories(app).enterprise()
    with app.app_context():
        e = session.get(Enterprise, ent.id)
        ids = [
            issue_hazard(
                source="supervision",
                enterprise=e,
                grade="general",
                description=f"h{i}",
                actor=None,
                found_at=T0 - timedelta(days=30),
                deadline=T0 - timedelta(days=1),
                now=utcnow(),
            ).id
            for i in range(40)
        ]
        session.commit()
    app.config["CLOCK"] = lambda: T0
    barrier = threading.Barrier(4)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(_sweep(app))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(r["escalated"] for r in results) == 40
    assert sum(r["overdue"] for r in results) == 40
    with app.app_context():
        levels = session.execute(
            select(Hazard.escalation_level).where(Hazard.id.in_(ids))
        ).scalars()
        assert set(levels) == {1}
        steps = session.scalar(
            select(func.count()).select_from(HazardEvent).where(HazardEvent.action == "escalate")
        )
        assert steps == 40
        sent = session.scalar(
            select(func.count())
            .select_from(NotificationEvent)
            .where(NotificationEvent.type == "hazard.escalated")
        )
        assert sent == 40
