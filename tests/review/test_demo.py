"""`fieldsafe demo` leaves two submitted inspections in the supervisor's review queue."""

from __future__ import annotations

from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.demo.fieldwork import _id
from app.inspections.models import Finding, Inspection
from app.media.models import MediaObject
from app.sync.models import SyncChange


def _counts(db_session):
    return {
        model.__name__: db_session.scalar(select(func.count()).select_from(model))
        for model in (Inspection, Finding, MediaObject, AuditEntry, SyncChange)
    }


def test_demo_fills_the_review_queue_with_flagged_evidence(app, client, login, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    db_session.expire_all()
    before = _counts(db_session)
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    db_session.expire_all()
    assert _counts(db_session) == before  # a second run adds nothing
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    resp = client.get("/api/v1/review/queue?page_size=50", headers=login("supervisor"))
    assert resp.status_code == 200, resp.json
    queue = resp.json
    assert [item["inspection"]["id"] for item in queue] == [
        str(_id("inspection-1")),
        str(_id("inspection-2")),
    ]
    first_item, second_item = queue
    for item in queue:
        insp = item["inspection"]
        assert insp["status"] == "submitted" and insp["industry"] == "gas_catering"
        assert insp["check_in"]["distance_m"] < 50 and not insp["check_in"]["far"]
        assert item["flags"] == []
        for finding in item["findings"]:
            assert finding["review_status"] == "pending" and not finding["media_pending"]

    findings = {f["item_code"]: f for f in first_item["findings"]}
    from app.checklists.services import get_checklist

    version = first_item["findings"][0]["checklist_version"]
    with app.app_context():
        codes = {i["code"] for i in get_checklist("gas_catering", version).content["items"]}
    assert set(findings) == codes  # every item answered: submit needs them all
    assert {f["result"] for f in findings.values()} == {"pass", "fail"}
    major = findings["GAS-04"]
    assert (major["result"], major["grade"]) == ("fail", "major")
    assert major["flags"] == ["photo_no_exif"]
    assert findings["GAS-08"]["flags"] == ["photo_far_from_site"]
    assert findings["GAS-14"]["flags"] == ["photo_reused"]
    fails = [f for f in findings.values() if f["result"] == "fail"]
    assert all(1 <= len(f["photos"]) <= 2 for f in fails)
    photos = [p for f in fails for p in f["photos"]]
    # Most photos carry the visit's EXIF time and place; exactly one has none.
    assert sum(p["taken_at"] is not None and p["gps"] is not None for p in photos) == 3
    assert sum("photo_no_exif" in p["flags"] for p in photos) == 1
    assert not any("photo_time_mismatch" in p["flags"] for p in photos)

    reused = next(f for f in second_item["findings"] if f["result"] == "fail")
    assert "photo_reused" in reused["flags"]
    assert reused["photos"][0]["sha256"] == findings["GAS-14"]["photos"][0]["sha256"]

    # Every photo went through the media pipeline: real JPEGs with thumbnails.
    for photo in photos:
        assert photo["stored"] and set(photo["thumbnails"]) == {"original", "small", "large"}
        for url in photo["thumbnails"].values():
            with client.get(url) as got:
                assert got.status_code == 200 and got.mimetype == "image/jpeg"
                assert got.data[:2] == b"\xff\xd8"
