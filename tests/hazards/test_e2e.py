"""Issue 7 end to end, through HTTP and the reference sync client (sync/client.py).

A planner schedules an unannounced inspection → the inspector works offline and syncs
findings and photos → the supervisor confirms one and rejects one → the coordinator assigns
→ the enterprise starts and submits evidence → the inspector rechecks through sync → the
supervisor closes → the device's next pull shows the ticket closed → `fieldsafe audit verify`.

It runs on an app that really commits (on PostgreSQL the change feed only shows committed
transactions), with a settable clock.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from app.clock import utcnow
from sync.client import SyncClient
from tests.factories import Factories
from tests.hazards.helpers import Clock, z
from tests.media.media_samples import jpeg
from tests.sync.conftest import FlaskTransport, settle

SITE = (31.2195, 121.4265)


def _login(app, user) -> str:
    from app.auth.services import issue_tokens
    from app.db import session
    from app.org.models import User

    with app.app_context():
        pair = issue_tokens(session.get(User, user.id), "e2e", now=utcnow())
        session.commit()
    return pair["access_token"]


def _exif_photo(clock: Clock, seed: int) -> bytes:
    local = clock.now + timedelta(hours=8)
    return jpeg(
        seed=seed,
        taken=local.strftime("%Y:%m:%d %H:%M:%S"),
        offset="+08:00",
        gps=(SITE[0] + 0.0001, SITE[1], 10.0),
    )


def _sync(app, device):
    """Sync, then pull again once every committed change (the push's too) lies below the feed's
    horizon: PostgreSQL's is cluster-wide, and another session's open transaction may hold it
    back a moment."""
    settle(app)
    report = device.sync()
    settle(app)
    device.pull(report)
    return report


def _pass_the_rest(app, device, inspection_id: str, answered: set[str], at: str) -> list[str]:
    """Enqueue a pass for every checklist item not answered (submit needs them all)."""
    from app.checklists.services import get_checklist

    ids = []
    with app.app_context():
        content = get_checklist("gas_catering").content["items"]
    for item in content:
        if item["code"] in answered:
            continue
        args = {
            "id": str(uuid.uuid4()),
            "inspection_id": inspection_id,
            "item_code": item["code"],
            "result": "pass",
            "recorded_at": at,
        }
        if item.get("unit"):
            args["value"] = item["min"] if item.get("min") is not None else item["max"]
        device.enqueue("finding.put", args)
        ids.append(args["id"])
    return ids


def _confirm(http, headers, finding_ids) -> None:
    for fid in finding_ids:
        resp = http.post(
            f"/api/v1/findings/{fid}/review", json={"decision": "confirm"}, headers=headers
        )
        assert resp.status_code == 200, resp.json


def test_issue_7_end_to_end(committed_app, tmp_path):
    from app.checklists.services import get_checklist, load_library
    from app.db import session

    app = committed_app
    clock = Clock()
    app.config["CLOCK"] = clock
    app.config["ACCESS_TOKEN_TTL"] = 30 * 24 * 3600
    with app.app_context():
        load_library(now=utcnow())
        session.commit()
        content = get_checklist("gas_catering").content["items"]
        items = [i["code"] for i in content if i["grade"] == "general"]
    make = Factories(app)
    ent = make.enterprise(
        industry="gas_catering", jurisdiction="huayanglu", lat=SITE[0], lon=SITE[1]
    )
    team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(2)]
    people = {
        "planner": make.user("planner", department_code="safety_office"),
        "supervisor": make.user("supervisor", department_code="construction"),
        "coordinator": make.user("coordinator", department_code="safety_office"),
        "enterprise": make.user("enterprise", jurisdiction="huayanglu", enterprise_id=ent.id),
    }
    tokens = {name: _login(app, u) for name, u in people.items()}
    tokens["inspector"] = _login(app, team[0])
    http = app.test_client()

    def auth(who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}", **extra}

    # 1. The planner schedules an unannounced (四不两直) inspection.
    resp = http.post(
        "/api/v1/inspections",
        json={
            "type": "unannounced",
            "enterprise_id": str(ent.id),
            "inspector_ids": [str(u.id) for u in team],
            "industry": "gas_catering",
            "window": {"start": z(clock.now), "end": z(clock.now + timedelta(hours=8))},
            "dispatch_at": z(clock.now),
        },
        headers=auth("planner"),
    )
    assert resp.status_code == 201, resp.json
    inspection_id = resp.json["id"]
    # The enterprise sees nothing of it before check-in.
    assert http.get("/api/v1/inspections", headers=auth("enterprise")).json == []

    # 2. The inspector's device works offline, then syncs findings and photos.
    device = SyncClient(
        str(tmp_path / "device.sqlite"),
        FlaskTransport(http),
        token=lambda: tokens["inspector"],
        sleep=lambda s: None,
    )
    settle(app)  # PostgreSQL's feed horizon is cluster-wide
    device.pull()
    assert device.get("inspection", inspection_id) is not None
    clock.advance(minutes=30)
    device.enqueue(
        "inspection.check_in",
        {
            "inspection_id": inspection_id,
            "at": z(clock.now),
            "location": {"lat": SITE[0], "lon": SITE[1], "accuracy": 8.0},
        },
    )
    clock.advance(minutes=10)
    evidence = [device.add_photo(_exif_photo(clock, seed)) for seed in (1, 2)]
    findings = [str(uuid.uuid4()), str(uuid.uuid4())]
    for fid, code, photo in zip(findings, items[:2], evidence, strict=True):
        device.enqueue(
            "finding.put",
            {
                "id": fid,
                "inspection_id": inspection_id,
                "item_code": code,
                "result": "fail",
                "note": f"{code} 不符合",
                "photos": [photo],
                "recorded_at": z(clock.now),
            },
        )
    passed = _pass_the_rest(app, device, inspection_id, set(items[:2]), z(clock.now))
    clock.advance(minutes=20)
    device.enqueue("inspection.submit", {"inspection_id": inspection_id, "at": z(clock.now)})
    report = _sync(app, device)
    assert not report.rejected, report.rejected
    assert sorted(report.uploaded) == sorted(evidence)

    # 3. The supervisor reviews: evidence with thumbnails and no flags; confirms one, rejects one.
    queue = http.get("/api/v1/review/queue", headers=auth("supervisor")).json
    assert [q["inspection"]["id"] for q in queue] == [inspection_id]
    entries = {f["id"]: f for f in queue[0]["findings"]}
    assert set(entries) == {*findings, *passed}
    _confirm(http, auth("supervisor"), passed)
    for entry in (entries[fid] for fid in findings):
        assert entry["flags"] == [], entry
        photo = entry["photos"][0]
        assert photo["stored"] and photo["thumbnails"]["small"] and photo["distance_m"] < 50
    confirmed = http.post(
        f"/api/v1/findings/{findings[0]}/review",
        json={"decision": "confirm", "comment": "属实"},
        headers=auth("supervisor"),
    )
    assert confirmed.status_code == 200, confirmed.json
    hazard_id = confirmed.json["hazard_id"]
    rejected = http.post(
        f"/api/v1/findings/{findings[1]}/review",
        json={"decision": "reject", "comment": "照片不能证明"},
        headers=auth("supervisor"),
    )
    assert rejected.status_code == 200 and rejected.json["hazard_id"] is None
    insp = http.get(f"/api/v1/inspections/{inspection_id}", headers=auth("supervisor")).json
    assert insp["status"] == "reviewed"

    def ticket(who: str = "coordinator") -> Any:
        resp = http.get(f"/api/v1/hazards/{hazard_id}", headers=auth(who))
        assert resp.status_code == 200, resp.json
        return resp

    def act(who: str, body: dict[str, Any]) -> Any:
        etag = ticket(who).headers["ETag"]
        resp = http.post(
            f"/api/v1/hazards/{hazard_id}/actions",
            json=body,
            headers=auth(who, **{"If-Match": etag}),
        )
        assert resp.status_code == 200, (body, resp.json)
        return resp.json

    # 4. The coordinator assigns the follow-up to the inspector.
    act("coordinator", {"action": "assign", "assignee_id": str(team[0].id)})

    # 5. The enterprise sees its ticket, starts, uploads evidence and submits it.
    own = http.get("/api/v1/hazards", headers=auth("enterprise")).json
    assert [h["id"] for h in own] == [hazard_id] and own[0]["status"] == "open"
    fixed = jpeg(seed=9, no_exif=True)
    fixed_sha = hashlib.sha256(fixed).hexdigest()
    put = http.put(
        f"/api/v1/media/{fixed_sha}",
        data=fixed,
        headers=auth("enterprise", **{"Content-Type": "image/jpeg"}),
    )
    assert put.status_code == 201, put.json
    act("enterprise", {"action": "start"})
    clock.advance(days=2)
    done = act(
        "enterprise", {"action": "submit_rectification", "note": "已整改", "photos": [fixed_sha]}
    )
    assert done["status"] == "rectified"

    # 6. The inspector rechecks through sync.
    settle(app)  # PostgreSQL's feed horizon is cluster-wide
    device.pull()
    assert device.get("hazard", hazard_id)["status"] == "rectified"
    clock.advance(days=1)
    proof = device.add_photo(_exif_photo(clock, 5))
    device.enqueue(
        "hazard.recheck",
        {
            "hazard_id": hazard_id,
            "result": "pass",
            "note": "复查合格",
            "photos": [proof],
            "at": z(clock.now),
            "location": {"lat": SITE[0], "lon": SITE[1], "accuracy": 6.0},
        },
    )
    report = _sync(app, device)
    assert not report.rejected, report.rejected
    assert report.uploaded == [proof]
    assert device.get("hazard", hazard_id)["status"] == "verified"

    # 7. The supervisor of the responsible department closes it (销号).
    closed = act("supervisor", {"action": "close", "note": "审核同意销号"})
    assert closed["status"] == "closed"
    assert [e["action"] for e in closed["timeline"]] == [
        "issue",
        "assign",
        "start",
        "submit_rectification",
        "recheck",
        "close",
    ]
    recheck = closed["timeline"][4]
    assert recheck["actor"]["id"] == str(team[0].id) and recheck["device_at"] == z(clock.now)

    # 8. The device's next pull takes the closed ticket off the phone (its work is done) and
    # shows the inspection closed, its loop closed.
    _sync(app, device)
    assert device.get("hazard", hazard_id) is None
    assert device.get("inspection", inspection_id)["status"] == "closed"
    device.close()

    # 9. The audit chain is intact.
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_needs_info_goes_to_the_device_which_amends_and_resubmits(committed_app, tmp_path):
    """needs_info reaches the inspector through sync; the amended finding comes back for review."""
    from app.checklists.services import get_checklist, load_library
    from app.db import session

    app = committed_app
    clock = Clock()
    app.config["CLOCK"] = clock
    app.config["ACCESS_TOKEN_TTL"] = 30 * 24 * 3600
    with app.app_context():
        load_library(now=utcnow())
        session.commit()
        code = next(
            i["code"]
            for i in get_checklist("gas_catering").content["items"]
            if i["grade"] == "general"
        )
    make = Factories(app)
    ent = make.enterprise(
        industry="gas_catering", jurisdiction="huayanglu", lat=SITE[0], lon=SITE[1]
    )
    team = [make.user("inspector", jurisdiction="huayanglu") for _ in range(2)]
    supervisor = make.user("supervisor", department_code="construction")
    planner = make.user("planner", department_code="safety_office")
    http = app.test_client()
    sup = {"Authorization": f"Bearer {_login(app, supervisor)}"}
    token = _login(app, team[0])
    resp = http.post(
        "/api/v1/inspections",
        json={
            "type": "routine",
            "enterprise_id": str(ent.id),
            "inspector_ids": [str(u.id) for u in team],
            "industry": "gas_catering",
        },
        headers={"Authorization": f"Bearer {_login(app, planner)}"},
    )
    assert resp.status_code == 201, resp.json
    inspection_id = resp.json["id"]
    device = SyncClient(
        str(tmp_path / "d.sqlite"), FlaskTransport(http), token=lambda: token, sleep=lambda s: None
    )
    settle(app)  # PostgreSQL's feed horizon is cluster-wide
    device.pull()
    fid = str(uuid.uuid4())
    device.enqueue(
        "inspection.check_in",
        {
            "inspection_id": inspection_id,
            "at": z(clock.now),
            "location": {"lat": SITE[0], "lon": SITE[1], "accuracy": 5.0},
        },
    )
    finding = {
        "id": fid,
        "inspection_id": inspection_id,
        "item_code": code,
        "result": "fail",
        "note": "软管老化",
        "photos": [device.add_photo(_exif_photo(clock, 3))],
        "recorded_at": z(clock.now),
    }
    device.enqueue("finding.put", finding)
    passed = _pass_the_rest(app, device, inspection_id, {code}, z(clock.now))
    device.enqueue("inspection.submit", {"inspection_id": inspection_id, "at": z(clock.now)})
    assert not _sync(app, device).rejected
    _confirm(http, sup, passed)

    resp = http.post(
        f"/api/v1/findings/{fid}/review",
        json={"decision": "needs_info", "comment": "请补拍连接处"},
        headers=sup,
    )
    assert resp.status_code == 200 and resp.json["review_status"] == "needs_info"
    assert http.get("/api/v1/review/queue", headers=sup).json == []

    settle(app)  # PostgreSQL's feed horizon is cluster-wide
    device.pull()
    assert device.get("finding", fid)["review_status"] == "needs_info"
    # The device shows the inspector what the supervisor asked for.
    assert device.get("finding", fid)["review_comment"] == "请补拍连接处"
    clock.advance(minutes=5)
    closer = device.add_photo(_exif_photo(clock, 4))
    device.enqueue(
        "finding.put",
        {**finding, "photos": [*finding["photos"], closer], "note": "软管老化，已补拍连接处"},
    )
    device.enqueue("inspection.submit", {"inspection_id": inspection_id, "at": z(clock.now)})
    report = _sync(app, device)
    assert not report.rejected, report.rejected
    assert report.uploaded == [closer]

    queue = http.get("/api/v1/review/queue", headers=sup).json
    (entry,) = queue[0]["findings"]
    assert entry["id"] == fid and entry["review_status"] == "pending"
    assert [p["sha256"] for p in entry["photos"]] == [*finding["photos"], closer]
    resp = http.post(f"/api/v1/findings/{fid}/review", json={"decision": "confirm"}, headers=sup)
    assert resp.status_code == 200 and resp.json["hazard_id"]
    settle(app)  # PostgreSQL's feed horizon is cluster-wide
    device.pull()
    assert device.get("hazard", resp.json["hazard_id"])["status"] == "open"
    assert device.get("inspection", inspection_id)["status"] == "reviewed"
    device.close()
