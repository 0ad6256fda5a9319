"""The review queue (evidence and flags) and decisions on findings."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from app.clock import utcnow
from app.db import session
from app.hazards.models import Hazard
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.media.models import MediaObject
from app.media.near import index_photo
from app.sync.models import SyncChange
from tests.hazards.helpers import T0, sha

SITE = (31.2195, 121.4265)  # the factories' enterprise location


def _inspection(world, status="submitted", far=False, enterprise=None):
    ent = enterprise or world.ent
    with world.app.app_context():
        insp = Inspection(
            type="unannounced",
            status=status,
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry="gas_catering",
            check_in_at=T0,
            check_in_received_at=T0 + timedelta(seconds=5),
            check_in_lat=SITE[0],
            check_in_lon=SITE[1],
            check_in_distance_m=1800.0 if far else 12.0,
            check_in_far=far,
            submitted_at=T0 + timedelta(hours=1),
        )
        session.add(insp)
        session.flush()
        session.add(
            InspectionInspector(inspection_id=insp.id, user_id=world.users["inspector_other"].id)
        )
        session.commit()
        return insp.id


def _finding(world, inspection_id, result="fail", photos=(), grade="general", code="GAS-01"):
    with world.app.app_context():
        f = Finding(
            id=uuid.uuid4(),
            inspection_id=inspection_id,
            item_code=code,
            result=result,
            note=f"{code} {result}",
            grade=grade,
            photos=list(photos),
            recorded_at=T0 + timedelta(minutes=20),
        )
        session.add(f)
        session.commit()
        return f.id


def _photo(world, label, taken_at=None, gps=None, phash="0f0f0f0f0f0f0f0f", exif=True):
    digest = sha(label)
    with world.app.app_context():
        session.add(
            MediaObject(
                sha256=digest,
                size=1000,
                content_type="image/jpeg",
                width=640,
                height=480,
                exif=(
                    {
                        "taken_at": taken_at.strftime("%Y-%m-%dT%H:%M:%SZ") if taken_at else None,
                        "gps": {"lat": gps[0], "lon": gps[1], "alt": None} if gps else None,
                        "make": "Huawei",
                        "model": "P60",
                    }
                    if exif
                    else None
                ),
                phash=phash,
                created_at=T0,
            )
        )
        session.flush()
        index_photo(digest, phash)  # as the one writer of MediaObject does (app.media.services)
        session.commit()
    return digest


def _queue(world, who="supervisor_other"):
    resp = world.client.get("/api/v1/review/queue?page_size=50", headers=world.headers(who))
    assert resp.status_code == 200, resp.json
    return resp.json


def _review(world, finding_id, who="supervisor_other", **body):
    return world.client.post(
        f"/api/v1/findings/{finding_id}/review", json=body, headers=world.headers(who)
    )


def test_the_queue_shows_evidence_and_flags(world):
    at = T0 + timedelta(minutes=15)
    good = _photo(world, "good", taken_at=at, gps=SITE, phash="00000000000000ff")
    old = _photo(world, "old", taken_at=T0 - timedelta(days=3), gps=SITE, phash="0000000000ff0000")
    far = _photo(world, "far", taken_at=at, gps=(31.2395, 121.4265), phash="00000000ff000000")
    bare = _photo(world, "bare", exif=False, phash="000000ff00000000")
    reused = _photo(world, "reused", taken_at=at, gps=SITE, phash="0000ff0000000000")
    near = _photo(world, "near", taken_at=at, gps=SITE, phash="00ff000000000007")
    near_twin = _photo(world, "near-twin", taken_at=at, gps=SITE, phash="00ff000000000000")
    missing = sha("never-uploaded")

    earlier = _inspection(world, status="reviewed")
    _finding(world, earlier, photos=[reused, near_twin])
    insp = _inspection(world)
    f_good = _finding(world, insp, photos=[good], code="GAS-01")
    f_old = _finding(world, insp, photos=[old], code="GAS-02")
    f_far = _finding(world, insp, photos=[far], code="GAS-03")
    f_bare = _finding(world, insp, photos=[bare], code="GAS-04")
    f_reused = _finding(world, insp, photos=[reused], code="GAS-05")
    f_near = _finding(world, insp, photos=[near], code="GAS-06")
    f_missing = _finding(world, insp, photos=[missing], code="GAS-07")
    f_pass = _finding(world, insp, result="pass", photos=[good], code="GAS-08")

    queue = _queue(world)
    assert [item["inspection"]["id"] for item in queue] == [str(insp)]
    item = queue[0]
    assert item["flags"] == [] and item["inspection"]["enterprise"]["name"] == world.ent.name
    flags = {f["id"]: f["flags"] for f in item["findings"]}
    assert flags[str(f_good)] == [] and flags[str(f_pass)] == []
    assert flags[str(f_old)] == ["photo_time_mismatch"]
    assert flags[str(f_far)] == ["photo_far_from_site"]
    assert flags[str(f_bare)] == ["photo_no_exif"]
    assert flags[str(f_reused)] == ["photo_reused"]
    assert flags[str(f_near)] == ["photo_reused"]
    assert flags[str(f_missing)] == []
    by_id = {f["id"]: f for f in item["findings"]}
    photo = by_id[str(f_good)]["photos"][0]
    assert photo["stored"] and photo["taken_at"] == "2026-03-02T01:15:00Z"
    assert photo["gps"]["lat"] == SITE[0] and photo["distance_m"] == 0.0
    assert set(photo["thumbnails"]) == {"original", "small", "large"}
    assert "signature=" in photo["thumbnails"]["small"] or "sig" in photo["thumbnails"]["small"]
    assert by_id[str(f_far)]["photos"][0]["distance_m"] > 2000
    assert by_id[str(f_missing)]["photos"][0] == {
        "sha256": missing,
        "stored": False,
        "thumbnails": None,
        "taken_at": None,
        "gps": None,
        "distance_m": None,
        "flags": [],
    }


def test_a_far_check_in_flags_every_finding(world):
    insp = _inspection(world, far=True)
    f = _finding(world, insp)
    item = _queue(world)[0]
    assert item["flags"] == ["check_in_far_from_site"]
    assert item["findings"][0]["id"] == str(f)
    assert item["findings"][0]["flags"] == ["check_in_far_from_site"]


def test_the_queue_is_for_supervisors_in_scope(world, make, login):
    insp = _inspection(world)
    _finding(world, insp)
    _inspection(world, status="in_progress")  # not submitted: not in the queue
    for who in ("inspector_other", "coordinator", "enterprise"):
        resp = world.client.get("/api/v1/review/queue", headers=world.headers(who))
        assert resp.status_code == 403
    street = login(make.user("supervisor", jurisdiction="xinhualu", department_code="fire"))
    assert world.client.get("/api/v1/review/queue", headers=street).json == []
    assert len(_queue(world)) == 1


def test_confirming_a_failure_issues_one_ticket_and_retries_answer_the_same(world, db_session):
    insp = _inspection(world)
    fail = _finding(world, insp, photos=[sha("evidence")])
    other = _finding(world, insp, code="GAS-02")
    first = _review(world, fail, decision="confirm", comment="属实")
    assert first.status_code == 200, first.json
    hazard_id = first.json["hazard_id"]
    assert first.json["review_status"] == "confirmed" and hazard_id
    assert first.json["review"]["comment"] == "属实"
    again = _review(world, fail, decision="confirm", comment="重复提交")
    assert again.status_code == 200 and again.json["hazard_id"] == hazard_id
    second_sup = _review(world, fail, who="supervisor_resp", decision="confirm")
    assert second_sup.json["hazard_id"] == hazard_id
    assert db_session.scalar(select(func.count()).select_from(Hazard)) == 1
    flip = _review(world, fail, decision="reject")
    assert flip.status_code == 409 and flip.json["code"] == "finding.already_reviewed"

    ticket = world.get(uuid.UUID(hazard_id)).json
    assert ticket["source"] == "inspection" and ticket["finding_id"] == str(fail)
    assert ticket["inspection_id"] == str(insp) and ticket["photos"] == [sha("evidence")]
    assert ticket["item_code"] == "GAS-01" and ticket["status"] == "open"

    assert world.row(uuid.UUID(hazard_id)).status == "open"
    with world.app.app_context():
        assert session.get(Inspection, insp).status == "submitted"
    assert _review(world, other, decision="reject", comment="证据不足").json["hazard_id"] is None
    with world.app.app_context():
        assert session.get(Inspection, insp).status == "reviewed"


def test_a_grade_override_needs_a_reason(world):
    insp = _inspection(world)
    fid = _finding(world, insp)
    resp = _review(world, fid, decision="confirm", grade="major")
    assert resp.status_code == 422 and resp.json["code"] == "review.grade_reason_required"
    resp = _review(world, fid, decision="reject", grade="major", grade_reason="x")
    assert resp.status_code == 422
    resp = _review(
        world, fid, decision="confirm", grade="major", grade_reason="建城规〔2023〕4号 第九条"
    )
    assert resp.status_code == 200 and resp.json["grade"] == "major"
    assert resp.json["review"]["grade_from"] == "general"
    ticket = world.get(uuid.UUID(resp.json["hazard_id"])).json
    assert ticket["grade"] == "major" and ticket["listed"] is True


def test_needs_info_goes_back_to_the_device_and_keeps_the_inspection_open(world, db_session, clock):
    insp = _inspection(world)
    fid = _finding(world, insp)
    resp = _review(world, fid, decision="needs_info", comment="请补拍灶具连接处")
    assert resp.status_code == 200 and resp.json["review_status"] == "needs_info"
    assert resp.json["version"] == 2 and resp.json["hazard_id"] is None
    change = (
        db_session.execute(
            select(SyncChange).where(SyncChange.entity_id == fid).order_by(SyncChange.id.desc())
        )
        .scalars()
        .first()
    )
    assert change is not None and change.entity_type == "finding" and change.version == 2
    assert _queue(world) == []  # waiting for the inspector, not for the supervisor
    with world.app.app_context():
        assert session.get(Inspection, insp).status == "submitted"
        session.get(Finding, fid).review_status = "pending"  # the inspector resubmitted
        session.commit()
    assert len(_queue(world)) == 1
    clock.advance(minutes=30)
    resp = _review(world, fid, decision="confirm")
    assert resp.status_code == 200 and resp.json["hazard_id"]
    history = world.client.get(
        f"/api/v1/findings/{fid}/reviews", headers=world.headers("coordinator")
    )
    assert [r["decision"] for r in history.json] == ["needs_info", "confirm"]


def test_only_submitted_findings_in_scope_are_reviewed(world, make, login):
    running = _inspection(world, status="in_progress")
    fid = _finding(world, running)
    resp = _review(world, fid, decision="confirm")
    assert resp.status_code == 409 and resp.json["code"] == "finding.not_submitted"
    insp = _inspection(world)
    fid = _finding(world, insp)
    street = login(make.user("supervisor", jurisdiction="xinhualu", department_code="fire"))
    resp = world.client.post(
        f"/api/v1/findings/{fid}/review", json={"decision": "confirm"}, headers=street
    )
    assert resp.status_code == 404
    resp = _review(world, fid, who="coordinator", decision="confirm")
    assert resp.status_code == 403
    assert _review(world, uuid.uuid4(), decision="confirm").status_code == 404


def test_confirming_a_pass_makes_no_ticket(world, db_session):
    insp = _inspection(world)
    fid = _finding(world, insp, result="pass")
    resp = _review(world, fid, decision="confirm")
    assert resp.status_code == 200 and resp.json["hazard_id"] is None
    assert db_session.scalar(select(func.count()).select_from(Hazard)) == 0


def test_the_queue_names_the_item_its_basis_and_edition_and_the_inspectors(world):
    from app.checklists.services import load_library

    with world.app.app_context():
        load_library(now=utcnow())
        session.commit()
    insp = _inspection(world)
    _finding(world, insp, code="GAS-01")
    _finding(world, insp, code="NO-SUCH-ITEM")

    item = _queue(world)[0]
    inspector = world.users["inspector_other"]
    assert item["inspection"]["inspectors"] == [{"id": str(inspector.id), "name": inspector.name}]
    by_code = {f["item_code"]: f["item"] for f in item["findings"]}
    gas = by_code["GAS-01"]
    assert gas["code"] == "GAS-01" and gas["text"].startswith("相对密度")
    assert gas["grade"] == "major" and gas["checklist_version"] == 1
    assert gas["basis"]["document"] == "城镇燃气经营安全重大隐患判定标准"
    assert gas["basis"]["number"] == "建城规〔2023〕4号"
    assert gas["basis"]["edition"] == "2023" and gas["basis"]["in_force"] is True
    assert by_code["NO-SUCH-ITEM"] is None


def test_a_ticket_keeps_the_edition_its_finding_was_judged_under(world):
    from app.checklists.services import load_library

    with world.app.app_context():
        load_library(now=utcnow())
        session.commit()
    insp = _inspection(world)
    finding = _finding(world, insp, code="GAS-01", grade="major")
    resp = _review(world, finding, decision="confirm", comment="属实")
    assert resp.status_code == 200, resp.json
    ticket = world.client.get(
        f"/api/v1/hazards/{resp.json['hazard_id']}", headers=world.headers("coordinator")
    ).json
    assert ticket["basis"]["number"] == "建城规〔2023〕4号"
    assert ticket["basis"]["edition"] == "2023" and ticket["basis"]["in_force"] is True
