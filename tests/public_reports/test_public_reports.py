"""Anonymous public reports (群众举报): rate-limited, optional inline photo, verified by staff."""

from __future__ import annotations

import base64
import hashlib
import uuid

from sqlalchemy import func, select

from app.hazards.models import Hazard
from app.media.models import MediaObject
from app.public_reports.models import PublicReport
from app.settings import override_settings
from tests.media.media_samples import jpeg

REPORT = {
    "description": "某餐馆后厨液化气钢瓶放在地下室",
    "address": "长宁区华阳路100号",
    "location": {"lat": 31.2195, "lon": 121.4265},
    "jurisdiction": "huayanglu",
    "enterprise_name": "某餐馆",
}


def test_anyone_may_report_without_a_token_and_sees_only_a_receipt(client):
    resp = client.post("/api/v1/public/reports", json=REPORT)
    assert resp.status_code == 201, resp.json
    assert set(resp.json) == {"id", "status", "received_at"}
    assert resp.json["status"] == "pending"


def test_a_report_may_carry_a_small_inline_photo(client, db_session):
    photo = jpeg()
    body = {**REPORT, "photo": base64.b64encode(photo).decode()}
    resp = client.post("/api/v1/public/reports", json=body)
    assert resp.status_code == 201, resp.json
    digest = hashlib.sha256(photo).hexdigest()
    report = db_session.get(PublicReport, uuid.UUID(resp.json["id"]))
    assert report.photo_sha256 == digest
    media = db_session.get(MediaObject, digest)
    assert media is not None and media.uploaded_by is None and media.exif["gps"]


def test_bad_photos_are_refused_and_nothing_is_kept(client, db_session, app):
    not_image = base64.b64encode(b"<html>hello</html>" * 10).decode()
    resp = client.post("/api/v1/public/reports", json={**REPORT, "photo": not_image})
    assert 400 <= resp.status_code < 500 and resp.json["code"].startswith("media.")
    resp = client.post("/api/v1/public/reports", json={**REPORT, "photo": "!!not base64!!"})
    assert resp.status_code == 422
    override_settings(app, public_report_max_photo_bytes=1000)
    resp = client.post(
        "/api/v1/public/reports", json={**REPORT, "photo": base64.b64encode(jpeg()).decode()}
    )
    assert resp.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(PublicReport)) == 0
    resp = client.post("/api/v1/public/reports", json={**REPORT, "jurisdiction": "atlantis"})
    assert resp.status_code == 422


def test_reports_are_rate_limited(app, client):
    app.config["PUBLIC_REPORT_RATE_LIMIT"] = "2 per hour"
    codes = [client.post("/api/v1/public/reports", json=REPORT).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert client.post("/api/v1/public/reports", json=REPORT).json["code"] == "rate_limited"


def test_staff_verify_a_report_into_one_ticket(world, db_session, client):
    photo = jpeg(seed=4)
    body = {**REPORT, "photo": base64.b64encode(photo).decode(), "contact": "138xxxx"}
    rid = client.post("/api/v1/public/reports", json=body).json["id"]
    listed = client.get(
        "/api/v1/public-reports?status=pending", headers=world.headers("coordinator")
    )
    assert [r["id"] for r in listed.json] == [rid] and listed.json[0]["contact"] == "138xxxx"
    assert (
        client.get("/api/v1/public-reports", headers=world.headers("inspector_other")).status_code
        == 403
    )

    verify = {"enterprise_id": str(world.ent.id), "grade": "general", "note": "现场查实"}
    url = f"/api/v1/public-reports/{rid}/verify"
    resp = client.post(url, json=verify, headers=world.headers("supervisor_other"))
    assert resp.status_code == 201, resp.json
    ticket = resp.json
    assert ticket["source"] == "public_report" and ticket["public_report_id"] == rid
    assert ticket["photos"] == [hashlib.sha256(photo).hexdigest()]
    assert ticket["description"] == REPORT["description"]
    again = client.post(url, json=verify, headers=world.headers("coordinator"))
    assert again.json["id"] == ticket["id"]
    assert db_session.scalar(select(func.count()).select_from(Hazard)) == 1
    resp = client.post(
        f"/api/v1/public-reports/{rid}/reject",
        json={"note": "x"},
        headers=world.headers("coordinator"),
    )
    assert resp.status_code == 409 and resp.json["code"] == "public_report.already_decided"
    report = client.get(f"/api/v1/public-reports/{rid}", headers=world.headers("coordinator")).json
    assert report["status"] == "verified" and report["hazard_id"] == ticket["id"]
    # The enterprise now sees the ticket, and the photo through the media API.
    sha = ticket["photos"][0]
    assert (
        client.get(f"/api/v1/media/{sha}", headers=world.headers("enterprise")).status_code == 200
    )
    assert (
        client.get(f"/api/v1/media/{sha}", headers=world.headers("inspector_other")).status_code
        == 200
    )


def test_reports_are_triaged_in_scope_and_rejected_with_a_reason(world, make, login, client):
    placed = client.post("/api/v1/public/reports", json=REPORT).json["id"]
    unplaced = client.post(
        "/api/v1/public/reports", json={k: v for k, v in REPORT.items() if k != "jurisdiction"}
    ).json["id"]
    street = login(make.user("coordinator", jurisdiction="huayanglu"))
    other_street = login(make.user("coordinator", jurisdiction="xinhualu"))
    assert [r["id"] for r in client.get("/api/v1/public-reports", headers=street).json] == [placed]
    assert client.get("/api/v1/public-reports", headers=other_street).json == []
    assert client.get(f"/api/v1/public-reports/{unplaced}", headers=street).status_code == 404
    resp = client.post(f"/api/v1/public-reports/{placed}/reject", json={}, headers=street)
    assert resp.status_code == 422
    resp = client.post(
        f"/api/v1/public-reports/{placed}/reject", json={"note": "查无实据"}, headers=street
    )
    assert resp.status_code == 200 and resp.json["status"] == "rejected"
    verify = {"enterprise_id": str(world.ent.id), "grade": "general"}
    resp = client.post(f"/api/v1/public-reports/{placed}/verify", json=verify, headers=street)
    assert resp.status_code == 409
    far_ent = {"enterprise_id": str(world.other_ent.id), "grade": "general"}
    resp = client.post(
        f"/api/v1/public-reports/{unplaced}/verify",
        json=far_ent,
        headers=world.headers("coordinator"),
    )
    assert resp.status_code == 201  # district-level staff may place it anywhere


def test_listing_reports_costs_the_same_statements_for_2_as_for_6(app, world, client, queries):
    app.config["PUBLIC_REPORT_RATE_LIMIT"] = "100 per hour"

    def cost(expected):
        with queries:
            resp = client.get("/api/v1/public-reports", headers=world.headers("coordinator"))
        assert resp.status_code == 200 and len(resp.json) == expected
        return queries.count

    verify = {"enterprise_id": str(world.ent.id), "grade": "general"}

    def report_and_verify():
        rid = client.post("/api/v1/public/reports", json=REPORT).json["id"]
        url = f"/api/v1/public-reports/{rid}/verify"
        assert (
            client.post(url, json=verify, headers=world.headers("coordinator")).status_code == 201
        )

    for _ in range(2):
        report_and_verify()
    two = cost(2)
    for _ in range(4):
        report_and_verify()
    assert cost(6) == two


def test_a_reported_photo_releases_the_finding_waiting_for_it(app, world, make, db_session):
    """The inline photo is stored like any upload: hooks run and media.upload is audited."""
    from app.audit.models import AuditEntry
    from app.inspections.models import Finding
    from app.sync.models import SyncChange

    photo = jpeg(seed=9)
    digest = hashlib.sha256(photo).hexdigest()
    inspector = world.users["inspector_assignee"]
    inspection_id = make.inspection(world.ent.id, [inspector], world.app.config["CLOCK"]())
    finding = Finding(
        id=uuid.uuid4(),
        inspection_id=inspection_id,
        item_code="GC-01",
        result="fail",
        grade="general",
        photos=[digest],
        recorded_at=world.app.config["CLOCK"](),
        recorded_by=inspector.id,
        media_pending=True,
    )
    db_session.add(finding)
    db_session.commit()

    def changes() -> int:
        stmt = select(func.count()).where(
            SyncChange.entity_type == "finding", SyncChange.entity_id == finding.id
        )
        return db_session.scalar(stmt)

    before = changes()
    body = {**REPORT, "photo": base64.b64encode(photo).decode()}
    resp = world.client.post("/api/v1/public/reports", json=body)
    assert resp.status_code == 201, resp.json
    db_session.expire_all()
    released = db_session.get(Finding, finding.id)
    assert released.media_pending is False and released.version == 2
    assert changes() == before + 1
    audit = db_session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "media.upload", AuditEntry.entity_id == digest
        )
    ).all()
    assert len(audit) == 1 and audit[0].data["via"] == "public_report"
    assert audit[0].actor_id is None and audit[0].data["new"] is True
