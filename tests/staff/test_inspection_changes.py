"""Changing or cancelling a planned or dispatched inspection in the console: its planner only,
before check-in, with the ETag the page showed (412 when stale), through the API's services (the
state table, the eligibility rules, the audit log); refusals are the page again with the reason."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.db import session
from app.http import version_etag
from app.inspections.models import Inspection


def dispatched(world, me, team, **times) -> uuid.UUID:
    """Dispatch a 四不两直 inspection of world.ent through the console; return its id."""
    body = {
        "enterprise": world.ent.name,
        "inspector_ids": [str(u.id) for u in team],
        "window_start": "2026-03-05T09:00",
        "window_end": "2026-03-05T17:00",
        **times,
    }
    done = me.post("/console/dispatch", body)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    with world.app.app_context():
        return session.scalars(
            select(Inspection.id)
            .where(Inspection.type == "unannounced")
            .order_by(Inspection.created_at.desc())
        ).first()


def current(world, insp_id) -> Inspection:
    with world.app.app_context():
        insp = session.get(Inspection, insp_id)
        session.expunge(insp)
        return insp


def etag(world, insp_id) -> str:
    insp = current(world, insp_id)
    return version_etag("inspection", insp.id, insp.version)


def audit(world, insp_id, action) -> list[AuditEntry]:
    with world.app.app_context():
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == action, AuditEntry.entity_id == str(insp_id)
                )
            )
        )


def form_of(world, insp_id, team, **fields):
    return {
        "etag": etag(world, insp_id),
        "inspector_ids": [str(u.id) for u in team],
        "window_start": "2026-03-05T09:00",
        "window_end": "2026-03-05T17:00",
        "dispatch_at": "2026-03-03T08:00",
        **fields,
    }


def test_only_its_planner_sees_the_forms_and_may_use_them(world, console, clock):
    team = [world.make.user("inspector") for _ in range(2)]
    me = console(world.users["planner"])
    insp = dispatched(world, me, team, dispatch_at="2026-03-03T08:00")
    page = me.get(f"/console/inspections/{insp}").get_data(as_text=True)
    assert 'id="edit-form"' in page and 'id="cancel-form"' in page
    assert team[0].name in re.search(r'id="team">(.*?)</dd>', page).group(1)
    # the planner's list of its visits is a read of each, audit-logged like the API's list
    assert me.get("/console/dispatch").status_code == 200
    reads = audit(world, insp, "inspection.confidential_read")
    assert "console.dispatch" in {e.data["via"] for e in reads}
    # the pickers show the stored times in Beijing time
    assert 'name="dispatch_at" value="2026-03-03T08:00"' in page
    # another planner: 404, whatever it posts; a team member: the page, no forms, 403 to post
    other = console(world.make.user("planner"))
    assert other.get(f"/console/inspections/{insp}").status_code == 404
    assert other.post(f"/console/inspections/{insp}/cancel", {"reason": "x"}).status_code == 404
    assert other.post(f"/console/inspections/{insp}/edit", {}).status_code == 404
    clock.now = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # after the dispatch time
    member = console(team[0])
    seen = member.get(f"/console/inspections/{insp}")
    assert seen.status_code == 200 and 'id="edit-form"' not in seen.get_data(as_text=True)
    assert member.post(f"/console/inspections/{insp}/cancel", {"reason": "x"}).status_code == 403
    assert current(world, insp).status == "planned"


def test_changing_the_team_and_the_times(world, console):
    team = [world.make.user("inspector") for _ in range(3)]
    me = console(world.users["planner"], accept_language="zh")
    insp = dispatched(world, me, team[:2], dispatch_at="2026-03-03T08:00")
    before = current(world, insp).version
    # a page left open while the inspection changed: 412, nothing written
    stale = me.post(
        f"/console/inspections/{insp}/edit",
        {**form_of(world, insp, [team[0], team[2]]), "etag": '"inspection-old-v0"'},
    )
    assert stale.status_code == 412 and "已被他人修改" in stale.get_data(as_text=True)
    assert current(world, insp).version == before
    # a team of one, a window backwards: the form again with the reasons, nothing written
    bad = me.post(
        f"/console/inspections/{insp}/edit",
        form_of(world, insp, [team[0]], window_end="2026-03-05T08:00"),
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert html.count('class="field-error"') >= 2 and re.search(r"[\u4e00-\u9fff]", html)
    assert current(world, insp).version == before
    # the form as shown: nothing changes
    same = me.post(f"/console/inspections/{insp}/edit", form_of(world, insp, team[:2]))
    assert same.status_code == 302 and current(world, insp).version == before
    # a new member, a later window, dispatch now: saved, audit-logged, the old member out
    done = me.post(
        f"/console/inspections/{insp}/edit",
        form_of(
            world,
            insp,
            [team[0], team[2]],
            window_start="2026-03-06T09:00",
            window_end="2026-03-06T12:00",
            dispatch_at="2026-03-02T08:00",
        ),
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    changed = current(world, insp)
    assert set(changed.inspector_ids) == {team[0].id, team[2].id}
    assert changed.window_start == datetime(2026, 3, 6, 1, 0, tzinfo=UTC)
    assert changed.dispatch_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert changed.status == "dispatched"  # its dispatch time has passed
    (entry,) = audit(world, insp, "inspection.update")
    assert entry.data["changes"]["inspector_ids"]["removed"] == [str(team[1].id)]
    assert console(team[1]).get(f"/console/inspections/{insp}").status_code == 404
    assert console(team[2]).get(f"/console/inspections/{insp}").status_code == 200


def test_cancelling_needs_a_reason_and_ends_it(world, console):
    team = [world.make.user("inspector") for _ in range(2)]
    me = console(world.users["planner"], accept_language="zh")
    insp = dispatched(world, me, team)
    path = f"/console/inspections/{insp}/cancel"
    empty = me.post(path, {"etag": etag(world, insp), "reason": "  "})
    assert empty.status_code == 422 and 'class="field-error"' in empty.get_data(as_text=True)
    assert current(world, insp).status == "dispatched"
    done = me.post(path, {"etag": etag(world, insp), "reason": "企业已停业"})
    assert done.status_code == 302
    insp_now = current(world, insp)
    assert insp_now.status == "cancelled" and insp_now.cancel_reason == "企业已停业"
    (entry,) = audit(world, insp, "inspection.cancel")
    assert entry.data["reason"] == "企业已停业"
    page = me.get(f"/console/inspections/{insp}").get_data(as_text=True)
    assert "企业已停业" in page and 'id="edit-form"' not in page and "已取消" in page
    # an edit of the cancelled inspection is refused in words, and changes nothing
    refused = me.post(f"/console/inspections/{insp}/edit", form_of(world, insp, team))
    assert refused.status_code == 409 and re.search(
        r"[\u4e00-\u9fff]", refused.get_data(as_text=True)
    )


def test_a_checked_in_inspection_can_no_longer_change(world, console):
    team = [world.make.user("inspector") for _ in range(2)]
    me = console(world.users["planner"], accept_language="zh")
    insp = dispatched(world, me, team)
    with world.app.app_context():
        row = session.get(Inspection, insp)
        row.status, row.check_in_received_at = "in_progress", datetime(2026, 3, 5, 2, tzinfo=UTC)
        session.commit()
    for step, body in (
        ("edit", form_of(world, insp, team, window_end="2026-03-05T18:00")),
        ("cancel", {"etag": etag(world, insp), "reason": "不去了"}),
    ):
        refused = me.post(f"/console/inspections/{insp}/{step}", body)
        assert refused.status_code == 409, step
        assert "已签到" in refused.get_data(as_text=True)
    after = current(world, insp)
    assert after.status == "in_progress" and after.cancel_reason is None
