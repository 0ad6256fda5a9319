"""The checklist's rules and plausible times, enforced by the server on pushed field work."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from tests.sync.conftest import Site
from tests.sync.test_push import SHA, Push, check_in, put, team


def submit(site: Site, at: str | None = None) -> tuple[str, dict[str, Any]]:
    return ("inspection.submit", {"inspection_id": str(site.inspection_id), "at": at or site.at()})


def results(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.json
    return resp.json["results"]


def photo_items(site: Site) -> list[str]:
    return [i["code"] for i in site.items if i["requires_photo"] and not i.get("unit")]


def test_submit_is_refused_until_every_item_is_answered(client: FlaskClient, site: Site) -> None:
    dev = team(client, site)
    first = site.item_codes[0]
    out = results(dev.send(check_in(site), put(site, item_code=first), submit(site)))
    assert [r["status"] for r in out] == ["applied", "applied", "rejected"]
    refusal = out[2]
    assert refusal["code"] == "inspection.incomplete"
    unanswered = [i["code"] for i in site.items if i["code"] != first]
    assert refusal["errors"] == {"items": unanswered}
    assert unanswered[0] in refusal["message"] and first not in refusal["message"]
    # Nothing changed: the inspection is still in progress and takes more findings.
    out = results(dev.send(*site.passes(first), submit(site)))
    assert {r["status"] for r in out} == {"applied"}
    # Each finding shows the item as its version words it, with the basis's edition.
    listed = client.get(
        f"/api/v1/inspections/{site.inspection_id}/findings", headers=dev.headers
    ).json
    assert sorted(f["item_code"] for f in listed) == sorted(i["code"] for i in site.items)
    for finding in listed:
        assert finding["item"]["code"] == finding["item_code"]
        assert finding["item"]["basis"]["document"] and "edition" in finding["item"]["basis"]


def test_a_failed_requires_photo_item_needs_a_photo(client: FlaskClient, site: Site) -> None:
    dev = team(client, site)
    code = photo_items(site)[0]
    fid = str(uuid.uuid4())
    out = results(
        dev.send(check_in(site), put(site, fid, item_code=code, result="fail"), *site.passes(code))
    )
    assert {r["status"] for r in out} == {"applied"}
    refusal = results(dev.send(submit(site)))[0]
    assert refusal["code"] == "inspection.photo_required"
    assert refusal["errors"] == {"items": [code]} and code in refusal["message"]
    # A photo still uploading counts: the finding cites it, the upload follows.
    out = results(dev.send(put(site, fid, item_code=code, photos=[SHA]), submit(site)))
    assert [r["status"] for r in out] == ["applied", "applied"]


def test_times_in_the_future_are_refused(client: FlaskClient, site: Site) -> None:
    dev = team(client, site)
    far_ahead = (site.clock.now + timedelta(days=5 * 365)).isoformat().replace("+00:00", "Z")
    out = results(
        dev.send(
            ("inspection.check_in", {**check_in(site)[1], "at": far_ahead}),
            check_in(site),
            put(site, recorded_at=site.at(30)),
            put(site, recorded_at=site.at(3)),  # within the allowed clock skew
        )
    )
    assert [r["status"] for r in out] == ["rejected", "applied", "rejected", "applied"]
    assert out[0]["code"] == "time.in_future" and out[0]["errors"] == {
        "at": ["Later than the server's clock allows."]
    }
    assert out[2]["code"] == "time.in_future" and "recorded_at" in out[2]["errors"]


def test_implausible_past_times_are_accepted_and_flagged_for_review(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    dev = team(client, site)
    first = site.item_codes[0]
    early = str(uuid.uuid4())
    six_years_ago = site.at(-6 * 365 * 24 * 60)
    out = results(
        dev.send(
            check_in(site),
            put(site, early, item_code=first, recorded_at=six_years_ago),
            *site.passes(first),
            submit(site),
        )
    )
    assert {r["status"] for r in out} == {"applied"}, out
    supervisor = make.user("supervisor", jurisdiction="huayanglu")
    queue = client.get("/api/v1/review/queue", headers=login(supervisor)).json
    (item,) = [q for q in queue if q["inspection"]["id"] == str(site.inspection_id)]
    entry = next(f for f in item["findings"] if f["id"] == early)
    assert "recorded_before_check_in" in entry["flags"]
    reason = entry["flag_reasons"]["recorded_before_check_in"]
    assert reason.startswith("Recorded ") and "before the check-in" in reason
    others = [f for f in item["findings"] if f["id"] != early]
    assert all("recorded_before_check_in" not in f["flags"] for f in others)

    # The passes are confirmed in one decision; the flagged one is left for a look of its own.
    headers = login(supervisor)
    url = f"/api/v1/review/inspections/{site.inspection_id}/confirm-passes"
    bulk = client.post(url, json={"comment": "其余项符合"}, headers=headers)
    assert bulk.status_code == 200, bulk.json
    assert sorted(bulk.json["confirmed"]) == sorted(f["id"] for f in others)
    assert bulk.json["skipped"] == [{"id": early, "flags": ["recorded_before_check_in"]}]
    assert bulk.json["status"] == "submitted"
    again = client.post(url, json={}, headers=headers).json
    assert again["confirmed"] == [] and len(again["skipped"]) == 1
    one = client.post(
        f"/api/v1/findings/{early}/review", json={"decision": "confirm"}, headers=headers
    )
    assert one.status_code == 200
    done = client.post(url, json={}, headers=headers)
    assert done.status_code == 409 and done.json["code"] == "finding.not_submitted"
    outsider = make.user("supervisor", jurisdiction="xinhualu")
    hidden = client.post(url, json={}, headers=login(outsider))
    assert hidden.status_code == 404


def test_needs_info_round_trip_loses_nothing(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    """The supervisor asks; a device amends with only what changed; the amendment is reviewed."""
    dev = team(client, site)
    code = photo_items(site)[0]
    fid = str(uuid.uuid4())
    out = results(
        dev.send(
            check_in(site),
            put(site, fid, item_code=code, result="fail", note="软管老化", photos=[SHA]),
            *site.passes(code),
            submit(site),
        )
    )
    assert {r["status"] for r in out} == {"applied"}
    supervisor = login(make.user("supervisor", jurisdiction="huayanglu"))
    asked = client.post(
        f"/api/v1/findings/{fid}/review",
        json={"decision": "needs_info", "comment": "请补拍连接处"},
        headers=supervisor,
    )
    assert asked.status_code == 200, asked.json

    # Submitting again without amending is refused, naming the finding: nothing is lost.
    refusal = results(dev.send(submit(site)))[0]
    assert refusal["code"] == "inspection.needs_info_unanswered"
    assert refusal["errors"] == {"findings": [fid]} and code in refusal["message"]

    # The device sees the comment, and amends only what changed (no item_code, result, time).
    pulled = client.get(
        "/api/v1/sync/pull",
        query_string={"client_id": dev.client_id, "limit": 1000},
        headers=dev.headers,
    ).json["changes"]
    (mine,) = [c for c in pulled if c["id"] == fid]
    assert (mine["data"]["review_status"], mine["data"]["review_comment"]) == (
        "needs_info",
        "请补拍连接处",
    )
    closer = "c" * 64
    amend = {
        "id": fid,
        "inspection_id": str(site.inspection_id),
        "note": "软管老化，已补拍连接处",
        "photos": [SHA, closer],
        "base_version": mine["data"]["version"],
    }
    out = results(dev.send(("finding.put", amend), submit(site)))
    assert [r["status"] for r in out] == ["applied", "applied"], out
    amended_version = out[0]["entity"]["version"]
    assert amended_version > mine["data"]["version"]

    queue = client.get("/api/v1/review/queue", headers=supervisor).json
    (item,) = [q for q in queue if q["inspection"]["id"] == str(site.inspection_id)]
    entry = next(f for f in item["findings"] if f["id"] == fid)
    assert entry["review_status"] == "pending"
    assert (entry["result"], entry["note"]) == ("fail", "软管老化，已补拍连接处")
    assert [p["sha256"] for p in entry["photos"]] == [SHA, closer]
    # Once resubmitted it waits for the supervisor: further edits are locked again.
    late = results(dev.send(("finding.put", {**amend, "note": "too late"})))[0]
    assert late["code"] == "inspection.locked"
    decided = client.post(
        f"/api/v1/findings/{fid}/review", json={"decision": "confirm"}, headers=supervisor
    )
    assert decided.status_code == 200 and decided.json["hazard_id"]


def test_refused_transitions_name_what_is_possible(client: FlaskClient, site: Site) -> None:
    from app.db import session
    from app.inspections.lifecycle import allowed_actions, refusal
    from app.inspections.models import Inspection

    dev = team(client, site)
    out = results(dev.send(submit(site), put(site)))
    assert [r["code"] for r in out] == ["inspection.not_checked_in"] * 2
    with site.app.app_context():
        insp = session.get(Inspection, site.inspection_id)
        assert allowed_actions(insp) == ["check_in"]
        err = refusal(insp, "submit")
        assert err.status == 409 and err.extra["allowed_actions"] == ["check_in"]


def test_patrols_need_an_inspector_with_a_valid_certificate(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    from datetime import date

    lapsed = make.user("inspector", jurisdiction="huayanglu", certificate_expires=date(2020, 1, 1))
    dev = Push(client, login(lapsed))
    out = results(
        dev.send(
            (
                "inspection.create",
                {
                    "id": str(uuid.uuid4()),
                    "enterprise_id": str(site.enterprise_id),
                    "industry": "gas_catering",
                    "type": "routine",
                },
            )
        )
    )
    assert out[0]["code"] == "inspection.ineligible_inspector"
    assert "expired" in out[0]["message"]
