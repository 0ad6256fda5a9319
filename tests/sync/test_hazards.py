"""hazard.comment and hazard.recheck through sync call the hazard tickets' services."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

from tests.sync.conftest import Site
from tests.sync.test_pull import pull_all, state
from tests.sync.test_push import Push


def open_ticket(site: Site, assignee: Any = None, coordinator: Any = None) -> str:
    """An inspector's supervision ticket at the site's enterprise; the coordinator assigns it."""
    from app.clock import utcnow
    from app.db import session
    from app.hazards.services import apply_action, create_hazard
    from app.org.models import User

    with site.app.app_context():
        hazard = create_hazard(
            session.get(User, site.inspectors[0].id),
            {
                "enterprise_id": site.enterprise_id,
                "grade": "general",
                "description": "后厨燃气软管老化",
                "item_code": site.item_codes[0],
            },
            now=utcnow(),
        )
        if assignee is not None:
            apply_action(
                session.get(User, coordinator.id),
                hazard.id,
                {"action": "assign", "assignee_id": assignee.id},
                now=utcnow(),
            )
        session.commit()
        return str(hazard.id)


def test_comment_through_sync_reaches_the_ticket_and_the_feed(
    client: FlaskClient, site: Site, make: Any
) -> None:
    headers = site.headers[site.inspectors[1].username]
    coordinator = make.user("coordinator")
    hazard_id = open_ticket(site, site.inspectors[1], coordinator)  # theirs to recheck
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, headers, cid)
    assert ("hazard", hazard_id) in state(changes)
    resp = Push(client, headers).send(
        ("hazard.comment", {"hazard_id": hazard_id, "note": "已电话通知负责人"})
    )
    result = resp.json["results"][0]
    assert result["status"] == "applied", result
    assert result["entity"]["type"] == "hazard"
    changes, _, _ = pull_all(client, headers, cid, cursor)
    [ticket] = [c for c in changes if c["type"] == "hazard"]
    assert "已电话通知负责人" in str(ticket["data"])


def test_refused_hazard_action_is_rejected_with_its_code(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    hazard_id = open_ticket(site)
    stranger = make.user("inspector", jurisdiction="xinhualu")
    dev = Push(client, login(stranger))
    resp = dev.send(
        (
            "hazard.recheck",
            {
                "hazard_id": hazard_id,
                "result": "fail",
                "note": "仍未整改",
                "photos": [],
                "at": site.at(),
            },
        ),
        ("hazard.comment", {"hazard_id": str(uuid.uuid4()), "note": "?"}),
    )
    codes = [r["code"] for r in resp.json["results"]]
    assert codes == ["hazard.not_found", "hazard.not_found"]
    assert resp.json["last_mutation_id"] == 2


def test_recheck_inspector_from_another_street_receives_the_ticket_and_its_updates(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    """A ticket outside the inspector's street reaches the device once the inspector is on a
    recheck inspection naming it (异地交叉), and so do its later changes: the change-log
    branches include the tickets the user is to recheck, wherever they are."""
    from app.clock import utcnow
    from app.db import session
    from app.hazards.models import Hazard
    from app.hazards.services import apply_action
    from app.org.models import User

    hazard_id = open_ticket(site)  # huayanglu
    outsiders = [make.user("inspector", jurisdiction="xinhualu") for _ in range(2)]
    coordinator = make.user("coordinator")
    headers = login(outsiders[0])
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, headers, cid)
    assert ("hazard", hazard_id) not in state(changes)

    planner = make.user("planner")
    resp = client.post(
        "/api/v1/inspections",
        json={
            "type": "recheck",
            "enterprise_id": str(site.enterprise_id),
            "inspector_ids": [str(u.id) for u in outsiders],
            "hazard_ids": [hazard_id],
        },
        headers=login(planner),
    )
    assert resp.status_code == 201, resp.json
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    assert ("hazard", hazard_id) in state(changes)

    with site.app.app_context():
        hazard = session.get(Hazard, uuid.UUID(hazard_id))
        apply_action(
            session.get(User, coordinator.id),
            hazard.id,
            {"action": "comment", "note": "请本周内完成复查"},
            now=utcnow(),
        )
        session.commit()
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    tickets = [c for c in changes if c["type"] == "hazard" and c["id"] == hazard_id]
    assert tickets and "请本周内完成复查" in str(tickets[-1]["data"])
