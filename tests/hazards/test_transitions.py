"""The transition table, exhaustively: every state × action × kind of actor, through HTTP.

EXPECTED is written out here from docs/api.md (not imported), so the test checks the table
against the contract as well as its enforcement. Everything outside it must answer 409
hazard.invalid_transition and change nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.hazards.models import HAZARD_ACTIONS, HAZARD_STATES
from app.hazards.transitions import TRANSITIONS
from tests.hazards.helpers import sha, z

ACTORS = (
    "coordinator",
    "enterprise",  # the ticket's own enterprise account
    "inspector_assignee",  # assignee: a party to the ticket and its rechecker
    "inspector_recheck",  # on a recheck inspection of the enterprise
    "inspector_other",
    "supervisor_resp",  # of the responsible department (construction for gas_catering)
    "supervisor_other",
    "planner",
    "admin",
)
PARTY = {"enterprise", "inspector_assignee"}
RECHECKERS = {"inspector_assignee", "inspector_recheck"}

EXPECTED: dict[tuple[str, str], tuple[set[str], str]] = {
    ("open", "assign"): ({"coordinator"}, "open"),
    ("rectifying", "assign"): ({"coordinator"}, "rectifying"),
    ("rectified", "assign"): ({"coordinator"}, "rectified"),
    ("open", "start"): (PARTY, "rectifying"),
    ("rectifying", "submit_rectification"): (PARTY, "rectified"),
    ("rectified", "recheck"): (RECHECKERS, "verified"),
    ("open", "recheck"): (RECHECKERS, "verified"),  # on-the-spot fix of a general hazard
    ("verified", "close"): ({"supervisor_resp"}, "closed"),
    ("open", "escalate"): ({"coordinator"}, "open"),
    ("rectifying", "escalate"): ({"coordinator"}, "rectifying"),
    ("open", "request_extension"): (PARTY, "open"),
    ("rectifying", "request_extension"): (PARTY, "rectifying"),
    ("open", "decide_extension"): ({"coordinator"}, "open"),
    ("rectifying", "decide_extension"): ({"coordinator"}, "rectifying"),
    **{(s, "comment"): (set(ACTORS), s) for s in HAZARD_STATES},
}


def body_for(action: str, world, hazard_id) -> dict:
    deadline = world.row(hazard_id).deadline
    return {
        "assign": {"action": "assign", "assignee_id": str(world.users["inspector_assignee"].id)},
        "start": {"action": "start"},
        "submit_rectification": {
            "action": "submit_rectification",
            "note": "已更换金属波纹管",
            "photos": [sha("fixed")],
        },
        "recheck": {
            "action": "recheck",
            "result": "pass",
            "note": "复查合格",
            "photos": [sha("ok")],
        },
        "close": {"action": "close", "note": "同意销号"},
        "escalate": {"action": "escalate", "note": "督办"},
        "request_extension": {
            "action": "request_extension",
            "until": z(deadline + timedelta(days=5)),
            "reason": "材料未到",
        },
        "decide_extension": {"action": "decide_extension", "approve": True, "note": "同意"},
        "comment": {"action": "comment", "note": "备注"},
    }[action]


def test_the_table_in_code_is_the_contract():
    assert set(TRANSITIONS) == set(EXPECTED)
    for state in HAZARD_STATES:
        for action in HAZARD_ACTIONS:
            assert ((state, action) in TRANSITIONS) == ((state, action) in EXPECTED)


@pytest.mark.parametrize("state", HAZARD_STATES)
def test_every_state_action_and_actor(world, state):
    # One ticket takes every refusal (a refusal must change nothing); each allowed pair gets
    # a fresh ticket. The pending extension request makes decide_extension possible.
    base = world.hazard(status=state, extension=True)
    base_etag = world.etag(base)
    checked = 0
    for action in HAZARD_ACTIONS:
        allowed, next_state = EXPECTED.get((state, action), (set(), None))
        for actor in ACTORS:
            if actor in allowed:
                hid = world.hazard(status=state, extension=(action == "decide_extension"))
                resp = world.act(hid, actor, body_for(action, world, hid))
                assert resp.status_code == 200, (state, action, actor, resp.json)
                assert resp.json["status"] == next_state
                assert resp.json["timeline"][-1]["action"] == action
                assert resp.json["timeline"][-1]["actor"]["username"] == world.users[actor].username
            else:
                resp = world.act(base, actor, body_for(action, world, base), etag=base_etag)
                assert resp.status_code == 409, (state, action, actor, resp.status_code, resp.json)
                assert resp.json["code"] == "hazard.invalid_transition", resp.json
                assert isinstance(resp.json["allowed_actions"], list)
            checked += 1
    assert checked == len(HAZARD_ACTIONS) * len(ACTORS)
    # Nothing of all those refusals touched the ticket.
    assert world.etag(base) == base_etag


def test_a_failed_recheck_from_open_or_of_a_major_hazard_on_the_spot_is_refused(world):
    hid = world.hazard(status="open")
    body = {"action": "recheck", "result": "fail", "note": "未整改", "photos": []}
    resp = world.act(hid, "inspector_assignee", body)
    assert resp.status_code == 409 and resp.json["code"] == "hazard.invalid_transition"
    major = world.hazard(status="open", grade="major")
    body = {"action": "recheck", "result": "pass", "note": "已整改", "photos": [sha("p")]}
    resp = world.act(major, "inspector_assignee", body)
    assert resp.status_code == 409 and resp.json["code"] == "hazard.invalid_transition"


def test_someone_who_cannot_see_the_ticket_gets_404_not_409(world, make, login):
    hid = world.hazard(status="open")
    outsider = make.user("coordinator", jurisdiction="xinhualu")
    other_ent = make.user("enterprise", jurisdiction="xinhualu", enterprise_id=world.other_ent.id)
    for user in (outsider, other_ent):
        headers = {**login(user), "If-Match": world.etag(hid)}
        resp = world.client.post(
            f"/api/v1/hazards/{hid}/actions",
            json={"action": "comment", "note": "x"},
            headers=headers,
        )
        assert resp.status_code == 404
        assert resp.json["code"] == "hazard.not_found"
