"""Signatures captured on the device, refusals with a witness, the recheck opinion, and the
public verification of a copy (QR code, short code, SHA-256 on the audit chain)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from tests.documents.conftest import T0, Case, b64, pdf_text, signature_png, squeeze


def _sign(case: Case, document_id: str, body: dict[str, Any], who: str = "inspector") -> Any:
    return case.client.post(
        f"/api/v1/documents/{document_id}/signatures", json=body, headers=case.headers[who]
    )


def test_signatures_are_placed_on_a_new_version_and_a_refusal_names_its_witness(
    case: Case,
) -> None:
    record = case.issue("inspection_record").json
    at = (T0 + timedelta(minutes=58)).isoformat()
    resp = _sign(
        case,
        record["id"],
        {
            "role": "inspector",
            "signer_name": "李明",
            "signed_at": at,
            "image": b64(signature_png("li")),
            "place": "后厨",
            "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 6},
        },
    )
    assert resp.status_code == 201, resp.json
    signed = resp.json
    assert signed["version"] == 2 and signed["number"] == record["number"]
    # A version superseded by another record is refused: sign the current one.
    from app.db import session
    from app.documents.models import Document

    with case.app.app_context():
        current = session.get(Document, uuid.UUID(signed["id"]))
        said = current.content
        current.content = {**said, "blocks": [*said["blocks"], {"style": "para", "text": "改"}]}
        session.commit()
    stale = _sign(
        case,
        record["id"],
        {
            "role": "representative",
            "signer_name": "张国强",
            "signed_at": at,
            "refused": True,
            "witness_name": "赵六",
        },
    )
    assert stale.status_code == 409 and stale.json["code"] == "document.superseded"
    with case.app.app_context():
        current = session.get(Document, uuid.UUID(signed["id"]))
        current.content = said
        session.commit()
    no_witness = _sign(
        case,
        signed["id"],
        {"role": "representative", "signer_name": "张国强", "signed_at": at, "refused": True},
    )
    assert no_witness.status_code == 422
    assert no_witness.json["code"] == "document.refusal_needs_witness"
    refused = _sign(
        case,
        signed["id"],
        {
            "role": "representative",
            "signer_name": "张国强",
            "signed_at": at,
            "refused": True,
            "witness_name": "赵六（社区安全员）",
            "place": "店堂",
        },
    )
    assert refused.status_code == 201, refused.json
    text = pdf_text(case.pdf(refused.json["id"]))
    assert squeeze("拒绝签名，见证人：赵六（社区安全员）") in text
    assert "2026年3月2日10时28分" in text and "后厨" in text

    with case.app.app_context():
        doc = session.get(Document, uuid.UUID(refused.json["id"]))
        assert b"/Subtype /Image" in doc.pdf or b"/Subtype/Image" in doc.pdf


def test_a_bad_signature_or_a_signer_off_the_team_is_refused(
    case: Case, make: Any, login: Any
) -> None:
    record = case.issue("inspection_record").json
    at = T0.isoformat()
    body = {"role": "inspector", "signer_name": "李明", "signed_at": at}
    for image in (b64(b"not an image"), "%%%"):
        resp = _sign(case, record["id"], {**body, "image": image})
        assert resp.status_code == 422, resp.json
    resp = _sign(case, record["id"], {**body, "image": b64(b"x" * 300_000)})
    assert resp.status_code == 422
    off_team = make.user("inspector")
    case.headers["off_team"] = login(off_team)
    resp = _sign(case, record["id"], {**body, "image": b64(signature_png())}, who="off_team")
    assert resp.status_code in (403, 404), resp.json  # not on the team (or not even in scope)
    other = {**body, "image": b64(signature_png()), "signer_id": str(off_team.id)}
    resp = _sign(case, record["id"], other)
    assert resp.status_code == 422 and resp.json["code"] == "document.signer_not_on_team"
    listed = case.client.get(
        f"/api/v1/inspections/{case.inspection_id}/documents", headers=case.headers["inspector"]
    ).json
    assert [d["version"] for d in listed] == [1]  # nothing refused was written


def test_the_device_signs_through_the_sync_push(case: Case) -> None:
    record = case.issue("inspection_record").json
    body = {
        "client_id": str(uuid.uuid4()),
        "mutations": [
            {
                "id": 1,
                "name": "document.sign",
                "args": {
                    "document_id": record["id"],
                    "role": "inspector",
                    "signer_name": "王芳",
                    "signer_id": str(case.inspectors[1].id),
                    "signed_at": "2026-03-02T02:26:00Z",
                    "image": b64(signature_png("wang")),
                    "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 5},
                    "place": "后厨",
                },
            },
            {
                "id": 2,
                "name": "document.sign",
                "args": {
                    "document_id": record["id"],
                    "role": "representative",
                    "signer_name": "张国强",
                    "signed_at": "2026-03-02T02:27:00Z",
                    "refused": True,
                },
            },
        ],
    }
    resp = case.client.post("/api/v1/sync/push", json=body, headers=case.headers["inspector"])
    assert resp.status_code == 200, resp.json
    first, second = resp.json["results"]
    assert first["status"] == "applied", first
    assert second["status"] == "rejected" and "witness_name" in second["errors"]
    docs = case.client.get(
        f"/api/v1/inspections/{case.inspection_id}/documents", headers=case.headers["inspector"]
    ).json
    assert [d["version"] for d in docs] == [2]
    assert "王芳" in pdf_text(case.pdf(docs[0]["id"]))


def test_anyone_can_verify_a_copy_and_a_tampered_copy_fails(case: Case) -> None:
    record = case.issue("inspection_record").json
    pdf = case.pdf(record["id"])
    assert hashlib.sha256(pdf).hexdigest() == record["sha256"]
    anonymous = case.app.test_client()
    page = anonymous.get(f"/public/documents/{record['code']}", headers={"Accept-Language": "zh"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for expected in (
        record["number"],
        "区应急管理局",
        "2026年3月2日",
        case.enterprise.name,
        record["sha256"],
        "执法文书验证",
    ):
        assert expected in html, expected
    assert record["content"]["verify_url"].endswith(f"/public/documents/{record['code']}")
    api = anonymous.get(f"/api/v1/public/documents/{record['code']}")
    assert api.status_code == 200 and api.json["sha256"] == record["sha256"]
    url = f"/api/v1/public/documents/{record['code']}/verify"
    ok = anonymous.post(url, data=pdf, content_type="application/pdf")
    assert ok.status_code == 200 and ok.json["genuine"] is True, ok.json
    tampered = pdf.replace(case.enterprise.name.encode("utf-16-be")[:2], b"XX", 1)
    tampered = tampered if tampered != pdf else pdf[:-10] + b"%%EOF-edit"
    bad = anonymous.post(url, data=tampered, content_type="application/pdf")
    assert bad.status_code == 200 and bad.json["genuine"] is False
    assert bad.json["expected_sha256"] == record["sha256"] != bad.json["sha256"]
    empty = anonymous.post(url, data=b"", content_type="application/pdf")
    assert empty.status_code == 422 and empty.json["code"] == "document.no_file"
    unknown = anonymous.get("/public/documents/NOSUCHCODE", headers={"Accept-Language": "zh"})
    assert unknown.status_code == 404 and "未找到" in unknown.get_data(as_text=True)
    assert anonymous.get("/api/v1/public/documents/NOSUCHCODE").json["code"] == (
        "document.not_found"
    )


def test_the_sha256_of_every_version_is_on_the_audit_chain(case: Case) -> None:
    from sqlalchemy import select

    from app.audit.models import AuditEntry
    from app.db import session

    record = case.issue("inspection_record").json
    with case.app.app_context():
        data = session.execute(
            select(AuditEntry.data).where(
                AuditEntry.action == "document.issue", AuditEntry.entity_id == record["id"]
            )
        ).scalar_one()
    assert data["sha256"] == record["sha256"] and data["number"] == record["number"]


def test_the_enterprise_reads_its_own_documents_and_no_one_elses(
    case: Case, make: Any, login: Any
) -> None:
    record = case.issue("inspection_record").json
    own = login(make.user("enterprise", jurisdiction="huayanglu", enterprise_id=case.enterprise.id))
    other_ent = make.enterprise()
    other = login(make.user("enterprise", jurisdiction="huayanglu", enterprise_id=other_ent.id))
    url = f"/api/v1/inspections/{case.inspection_id}/documents"
    assert [d["id"] for d in case.client.get(url, headers=own).json] == [record["id"]]
    assert case.client.get(f"/api/v1/documents/{record['id']}/pdf", headers=own).status_code == 200
    assert case.client.get(url, headers=other).status_code == 404
    resp = case.client.get(f"/api/v1/documents/{record['id']}/pdf", headers=other)
    assert resp.status_code == 404 and resp.json["code"] == "document.not_found"
    issued = case.client.post(url, json={"kind": "inspection_record"}, headers=own)
    assert issued.status_code == 403


def test_the_recheck_opinion_says_which_orders_were_complied_with(case: Case, make: Any) -> None:
    from app.db import session
    from app.hazards.models import Hazard, RecheckItem
    from app.inspections.models import Inspection, InspectionInspector

    order = case.issue("rectification_order").json
    with case.app.app_context():
        visit = Inspection(
            type="recheck",
            status="in_progress",
            enterprise_id=case.enterprise.id,
            jurisdiction_code="huayanglu",
            industry="gas_catering",
            check_in_at=T0 + timedelta(days=8),
            check_in_received_at=T0 + timedelta(days=8),
        )
        session.add(visit)
        session.flush()
        session.add(InspectionInspector(inspection_id=visit.id, user_id=case.inspectors[0].id))
        passed, failed = case.hazard_ids
        session.add(
            RecheckItem(
                inspection_id=visit.id,
                hazard_id=passed,
                result="pass",
                rechecked_at=T0 + timedelta(days=8),
            )
        )
        session.add(
            RecheckItem(
                inspection_id=visit.id,
                hazard_id=failed,
                result="fail",
                rechecked_at=T0 + timedelta(days=8),
            )
        )
        session.get(Hazard, failed).deadline = T0 + timedelta(days=15)
        session.commit()
        visit_id = visit.id
    resp = case.client.post(
        f"/api/v1/inspections/{visit_id}/documents",
        json={"kind": "recheck_opinion"},
        headers=case.headers["inspector"],
    )
    assert resp.status_code == 201, resp.json
    text = pdf_text(case.pdf(resp.json["id"]))
    for expected in (
        "整改复查意见书",
        resp.json["number"],
        order["number"],
        "2026年3月10日",
        "已整改，符合要求。",
        "未按要求整改，责令于2026年3月17日前整改完毕。",
        "第一百零二条",
    ):
        assert squeeze(expected) in text, expected
    docs = case.client.get(
        f"/api/v1/hazards/{failed}/documents", headers=case.headers["inspector"]
    ).json
    assert {d["kind"] for d in docs} == {"rectification_order", "recheck_opinion"}


def test_the_verification_page_speaks_english_when_asked(case: Case) -> None:
    record = case.issue("inspection_record").json
    page = case.app.test_client().get(
        f"/public/documents/{record['code']}", headers={"Accept-Language": "en"}
    )
    html = page.get_data(as_text=True)
    assert "Verify an enforcement document" in html and record["number"] in html
    assert "现场检查记录" in html  # the document's own title stays as printed


def test_signatures_captured_together_offline_all_land_on_the_current_version(
    case: Case,
) -> None:
    """The device holds version 1 and signs it three times before it syncs: each signature
    names version 1; the later versions only added the earlier signatures, so none is refused."""
    record = case.issue("inspection_record").json
    at = "2026-03-02T02:26:00Z"
    sig = {"signed_at": at, "place": "后厨"}
    mutations = [
        {"role": "inspector", "signer_name": "李明", "image": b64(signature_png("li")), **sig},
        {
            "role": "inspector",
            "signer_name": "王芳",
            "signer_id": str(case.inspectors[1].id),
            "image": b64(signature_png("wang")),
            **sig,
        },
        {
            "role": "representative",
            "signer_name": "张国强",
            "image": b64(signature_png("z")),
            **sig,
        },
    ]
    body = {
        "client_id": str(uuid.uuid4()),
        "mutations": [
            {"id": n, "name": "document.sign", "args": {"document_id": record["id"], **args}}
            for n, args in enumerate(mutations, start=1)
        ],
    }
    resp = case.client.post("/api/v1/sync/push", json=body, headers=case.headers["inspector"])
    assert resp.status_code == 200, resp.json
    assert [r["status"] for r in resp.json["results"]] == ["applied"] * 3, resp.json
    docs = case.client.get(
        f"/api/v1/inspections/{case.inspection_id}/documents", headers=case.headers["inspector"]
    ).json
    assert [d["version"] for d in docs] == [4]
    text = pdf_text(case.pdf(docs[0]["id"]))
    for name in ("李明", "王芳", "张国强"):
        assert name in text
