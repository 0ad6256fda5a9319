"""GET /api/v1/sync/pull: scoped, paged, entering and leaving the scope, resets."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.sync.conftest import Site, device_for, settle
from tests.sync.test_push import Push, check_in, put


def pull_all(
    client: FlaskClient,
    headers: dict[str, str],
    client_id: str,
    cursor: str | None = None,
    limit: int = 500,
) -> tuple[list[dict[str, Any]], str, int]:
    """Pull until has_more is false; return the changes, the last cursor and the page count."""
    from flask import current_app

    changes: list[dict[str, Any]] = []
    pages = 0
    with client.application.app_context():
        settle(current_app)
    while True:
        params = {"client_id": client_id, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = client.get("/api/v1/sync/pull", query_string=params, headers=headers)
        assert resp.status_code == 200, resp.json
        pages += 1
        changes += resp.json["changes"]
        cursor = resp.json["cursor"]
        if not resp.json["has_more"]:
            return changes, cursor, pages


def state(changes: list[dict[str, Any]], base: dict | None = None) -> dict[tuple[str, str], Any]:
    out = dict(base or {})
    for ch in changes:
        key = (ch["type"], ch["id"])
        if ch["op"] == "delete":
            out.pop(key, None)
        else:
            out[key] = ch["data"]
    return out


def types(view: dict[tuple[str, str], Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t, _ in view:
        out[t] = out.get(t, 0) + 1
    return out


def test_first_pull_sends_the_scope_in_pages(client: FlaskClient, site: Site) -> None:
    headers = site.headers[site.inspectors[0].username]
    cid = str(uuid.uuid4())
    changes, _, pages = pull_all(client, headers, cid, limit=4)
    view = state(changes)
    assert types(view) == {"checklist": 10, "enterprise": 1, "inspection": 1}
    assert pages >= 3
    assert len(changes) == len(view)  # nothing sent twice
    insp = view[("inspection", str(site.inspection_id))]
    assert insp["status"] == "dispatched"
    assert view[("enterprise", str(site.enterprise_id))]["industry"] == "gas_catering"


def test_changes_and_deletes_follow_the_cursor(client: FlaskClient, site: Site) -> None:
    one = site.headers[site.inspectors[0].username]
    two = site.headers[site.inspectors[1].username]
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, two, cid)
    view = state(changes)
    dev = Push(client, one)
    keep, drop = str(uuid.uuid4()), str(uuid.uuid4())
    dev.send(check_in(site), put(site, keep, result="fail"), put(site, drop))
    dev.send(("finding.delete", {"id": drop}))
    changes, cursor, _ = pull_all(client, two, cid, cursor)
    view = state(changes, view)
    assert view[("finding", keep)]["result"] == "fail"
    assert ("finding", drop) not in view
    assert view[("inspection", str(site.inspection_id))]["status"] == "in_progress"
    # nothing new: an empty page
    changes, _, _ = pull_all(client, two, cid, cursor)
    assert changes == []


def test_last_mutation_id_matches_the_changes(client: FlaskClient, site: Site) -> None:
    headers = site.headers[site.inspectors[0].username]
    dev = Push(client, headers)
    dev.send(check_in(site), put(site))
    settle(site.app)
    resp = client.get(
        "/api/v1/sync/pull", query_string={"client_id": dev.client_id}, headers=headers
    )
    assert resp.json["last_mutation_id"] == 2
    cursor = resp.json["cursor"]
    dev.send(put(site, item_code=site.item_codes[2]))
    settle(site.app)
    resp = client.get(
        "/api/v1/sync/pull",
        query_string={"client_id": dev.client_id, "cursor": cursor},
        headers=headers,
    )
    assert resp.json["last_mutation_id"] == 3
    assert [c["type"] for c in resp.json["changes"]] == ["finding"]


def test_removed_inspector_receives_deletes(client: FlaskClient, site: Site) -> None:
    from app.changelog import record_change
    from app.db import session
    from app.inspections.models import Inspection

    two = site.headers[site.inspectors[1].username]
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, two, cid)
    assert ("inspection", str(site.inspection_id)) in state(changes)
    with site.app.app_context():  # before check-in the planner takes inspector two off
        insp = session.get(Inspection, site.inspection_id)
        insp.assignments = [a for a in insp.assignments if a.user_id == site.inspectors[0].id]
        insp.version += 1
        record_change("inspection", insp, "put")
        session.commit()
    changes, cursor, _ = pull_all(client, two, cid, cursor)
    # The enterprise goes with it: inspector two has no other work there.
    assert [(c["type"], c["id"], c["op"]) for c in changes] == [
        ("enterprise", str(site.enterprise_id), "delete"),
        ("inspection", str(site.inspection_id), "delete"),
    ]
    # once is enough
    changes, cursor, _ = pull_all(client, two, cid, cursor)
    assert changes == []


def test_inspection_enters_scope_at_dispatch_time(
    client: FlaskClient, site: Site, make: Any
) -> None:
    headers = site.headers[site.inspectors[0].username]
    cid = str(uuid.uuid4())
    later_id = str(
        make.inspection(
            site.enterprise_id,
            site.inspectors,
            site.clock.now,
            type="unannounced",
            dispatch_at=site.clock.now + timedelta(minutes=30),
        )
    )
    changes, cursor, _ = pull_all(client, headers, cid)
    assert ("inspection", later_id) not in state(changes)
    changes, cursor, _ = pull_all(client, headers, cid, cursor)  # caught up, no reconcile
    assert changes == []
    site.clock.advance(minutes=30, seconds=1)
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    # No write happened at dispatch time; the scope reconcile still sends it in full.
    assert [(c["type"], c["id"], c["op"]) for c in changes] == [("inspection", later_id, "put")]


def test_enterprise_never_receives_an_unstarted_inspection(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    account = make.user("enterprise", jurisdiction="huayanglu", enterprise_id=site.enterprise_id)
    headers = login(account)
    cid = str(uuid.uuid4())
    changes, cursor, _ = pull_all(client, headers, cid)
    assert types(state(changes)) == {"enterprise": 1}
    Push(client, site.headers[site.inspectors[0].username]).send(put(site))  # rejected: no check-in
    changes, cursor, _ = pull_all(client, headers, cid, cursor)
    assert changes == []


def test_retried_pull_resends_what_the_lost_response_carried(
    client: FlaskClient, site: Site
) -> None:
    headers = site.headers[site.inspectors[0].username]
    cid = str(uuid.uuid4())
    _, cursor, _ = pull_all(client, headers, cid)
    Push(client, headers).send(check_in(site), put(site))
    settle(site.app)
    params = {"client_id": cid, "cursor": cursor}
    lost = client.get("/api/v1/sync/pull", query_string=params, headers=headers).json
    again = client.get("/api/v1/sync/pull", query_string=params, headers=headers).json
    assert lost["changes"] and again["changes"] == lost["changes"]


def test_bad_cursors_require_a_reset(client: FlaskClient, site: Site) -> None:
    headers = site.headers[site.inspectors[0].username]
    cid = str(uuid.uuid4())
    _, cursor, _ = pull_all(client, headers, cid)
    prefix, body, sig = cursor.split(".")
    for bad, cid_used in (
        (f"{prefix}.{body}.{sig[:-2]}AA", cid),  # forged
        ("garbage", cid),
        (cursor, str(uuid.uuid4())),  # another client's cursor
    ):
        resp = client.get(
            "/api/v1/sync/pull",
            query_string={"client_id": cid_used, "cursor": bad},
            headers=headers,
        )
        assert resp.status_code == 409
        assert resp.json["code"] == "sync.reset_required"


def test_rotated_epoch_resets_device_and_keeps_outbox(
    client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    from app.changelog import SYNC_TABLES
    from app.db import session
    from sync.cursor import rotate_epoch

    user = site.inspectors[0]
    device = device_for(client, site.headers[user.username], tmp_path)
    device.sync()
    before = device.entities()
    with site.app.app_context():
        rotate_epoch(session, SYNC_TABLES, site.clock.now)
        session.commit()
    pending = device.enqueue(*put(site))  # not yet pushed when the pull happens
    report = device.pull()
    assert report.resets == 1
    assert device.entities() == before
    assert [m["id"] for m in device.outbox("pending")] == [pending]


def test_handing_out_an_unstarted_inspection_is_audited(client: FlaskClient, site: Site) -> None:
    from sqlalchemy import select

    from app.audit.models import AuditEntry
    from app.db import session

    headers = site.headers[site.inspectors[0].username]
    pull_all(client, headers, str(uuid.uuid4()))
    with site.app.app_context():
        entries = (
            session.execute(
                select(AuditEntry).where(AuditEntry.action == "inspection.confidential_read")
            )
            .scalars()
            .all()
        )
        assert [(e.entity_id, e.data["via"], e.actor_id) for e in entries] == [
            (str(site.inspection_id), "sync", site.inspectors[0].id)
        ]


def _first_pull(
    client: FlaskClient, headers: dict[str, str], queries: Any
) -> tuple[int, list[dict[str, Any]]]:
    """A new device's first (and only) pull page: its statements and its changes."""
    from flask import current_app

    client_id = str(uuid.uuid4())
    with client.application.app_context():
        settle(current_app)
    with queries:
        resp = client.get(
            "/api/v1/sync/pull",
            query_string={"client_id": client_id, "limit": 1000},
            headers=headers,
        )
    assert resp.status_code == 200, resp.json
    assert not resp.json["has_more"]
    return queries.count, resp.json["changes"]


def test_a_pull_page_costs_the_same_statements_for_few_entities_as_for_many(
    client: FlaskClient, site: Site, make: Any, queries: Any
) -> None:
    headers = site.headers[site.inspectors[0].username]

    def first_pull() -> tuple[int, int]:
        count, changes = _first_pull(client, headers, queries)
        return count, len(changes)

    first_pull()  # the log's first reader sets up its epoch
    few, sent_few = first_pull()
    for _ in range(8):
        ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
        make.inspection(ent.id, site.inspectors, site.clock.now)
    many, sent_many = first_pull()
    assert sent_many >= sent_few + 16  # 8 more inspections and their 8 enterprises
    assert many == few


def test_a_supervisor_pull_costs_the_same_statements_for_one_ticket_as_for_many(
    client: FlaskClient, site: Site, make: Any, login: Any, queries: Any
) -> None:
    from app.db import session
    from app.hazards.services import issue_hazard
    from app.registry.models import Enterprise

    headers = login(make.user("supervisor", jurisdiction="huayanglu"))

    def issue(n: int) -> None:
        with client.application.app_context():
            for _ in range(n):
                issue_hazard(
                    source="supervision",
                    enterprise=session.get(Enterprise, site.enterprise_id),
                    grade="general",
                    description="灭火器过期",
                    actor=None,
                    now=site.clock.now,
                )
            session.commit()

    def first_pull() -> tuple[int, int]:
        count, changes = _first_pull(client, headers, queries)
        tickets = [c for c in changes if c["type"] == "hazard"]
        assert all(c["data"]["timeline"] for c in tickets)  # each with its timeline
        return count, len(tickets)

    issue(1)
    first_pull()  # the log's first reader sets up its epoch
    few, tickets_few = first_pull()
    issue(6)
    many, tickets_many = first_pull()
    assert (tickets_few, tickets_many) == (1, 7)
    assert many == few  # no statement a ticket (its timeline comes with all the others')


def _caught_up_pull(client: FlaskClient, headers: dict[str, str], queries: Any) -> list[str]:
    """Catch a new device up, pull once more; return the SELECTs of that last pull."""
    client_id = str(uuid.uuid4())
    changes, cursor, _pages = pull_all(client, headers, client_id)
    assert changes
    with queries:
        resp = client.get(
            "/api/v1/sync/pull",
            query_string={"client_id": client_id, "cursor": cursor},
            headers=headers,
        )
    assert resp.status_code == 200, resp.json
    assert resp.json["changes"] == []
    # Nothing entered, left or changed: the known set is not written.
    assert not [s for s in queries.statements if "INTO sync_known" in s or "UPDATE sync_known" in s]
    return [" ".join(s.split()) for s in queries.statements if s.lstrip().startswith("SELECT")]


def test_a_caught_up_inspector_pull_reads_the_log_and_not_the_known_set(
    client: FlaskClient, site: Site, queries: Any
) -> None:
    selects = _caught_up_pull(client, site.headers[site.inspectors[0].username], queries)
    # The inspector's own work is as it was at the last reconcile (the cursor's fingerprint):
    # no reconcile, only the log.
    assert [s for s in selects if "FROM sync_known" in s] == []
    assert len([s for s in selects if "FROM sync_changes" in s]) == 1


def test_caught_up_supervisor_and_district_pulls_read_the_log_and_not_the_known_set(
    client: FlaskClient, site: Site, make: Any, login: Any, queries: Any
) -> None:
    # Their street or district is as it was at the last reconcile (the cursor's fingerprint
    # is of what the log does not carry: their role, street, team and work elsewhere): only
    # the log, whatever the size of the street. tests/sync/test_scope.py follows their
    # scope as it changes.
    for user in (make.user("supervisor", jurisdiction="huayanglu"), make.user("coordinator")):
        selects = _caught_up_pull(client, login(user), queries)
        assert [s for s in selects if "FROM sync_known" in s] == []
        assert len([s for s in selects if "FROM sync_changes" in s]) == 1
