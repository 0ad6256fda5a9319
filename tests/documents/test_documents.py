"""The four documents as PDFs: what they say, their numbers, versions, fonts and payloads."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.documents.conftest import Case, pdf_pages, pdf_text, squeeze


def test_the_record_says_who_what_where_when_and_what_was_found(case: Case) -> None:
    resp = case.issue("inspection_record")
    assert resp.status_code == 201, resp.json
    doc = resp.json
    assert doc["kind"] == "inspection_record" and doc["version"] == 1
    assert re.fullmatch(r"区应急管理局检记〔2026〕0001号", doc["number"])
    text = pdf_text(case.pdf(doc["id"]))
    for expected in (
        "现场检查记录",
        doc["number"],
        case.enterprise.name,
        case.enterprise.address,
        case.enterprise.uscc,
        "张国强",
        "021-62000000",
        "李明",
        "31010520001",
        "王芳",
        "31010520002",
        "2026年3月2日09时30分",
        "2026年3月2日10时25分",
        "GAS-04",
        "后厨三眼灶无熄火保护装置",
        "不符合",
        "建城规〔2023〕4号",
        "附件：现场照片",
        "附图1",
        doc["code"],
    ):
        assert squeeze(expected) in text, expected


def test_the_order_names_each_hazard_with_its_basis_deadline_and_the_remedies(case: Case) -> None:
    resp = case.issue("rectification_order")
    assert resp.status_code == 201, resp.json
    doc = resp.json
    assert doc["number"] == "区应急管理局责改〔2026〕0001号"
    assert sorted(doc["hazard_ids"]) == sorted(str(h) for h in case.hazard_ids)
    text = pdf_text(case.pdf(doc["id"]))
    for expected in (
        "责令限期整改指令书",
        doc["number"],
        f"{case.enterprise.name}：",
        "后厨三眼灶无熄火保护装置",
        "燃气浓度报警器被遮挡",
        "整改期限：2026年3月9日前。",
        "《中华人民共和国安全生产法》第六十五条第一款第（三）项",
        "60日内",
        "6个月内",
        "上海市长宁区人民政府",
        "长宁隐〔2026〕0001号",
    ):
        assert squeeze(expected) in text, expected


def test_the_decision_lists_the_measures_taken_on_the_spot(case: Case) -> None:
    resp = case.issue("onsite_measures")
    assert resp.status_code == 201, resp.json
    text = pdf_text(case.pdf(resp.json["id"]))
    for expected in (
        "现场处理措施决定书",
        resp.json["number"],
        "燃气浓度报警器被遮挡",
        "责令停止使用相关设施、设备",
        "停用后厨燃具",
        "责令从危险区域内撤出作业人员",
        "本决定不停止执行",
    ):
        assert squeeze(expected) in text, expected


def test_the_fonts_are_embedded(case: Case) -> None:
    import io

    import pdfplumber

    data = case.pdf(case.issue("inspection_record").json["id"])
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        fonts = {c["fontname"] for page in pdf.pages for c in page.chars}
        page = pdf.pages[0]
        assert (round(page.width), round(page.height)) == (595, 842)  # A4
        font_files = _font_files(pdf)
    assert len(fonts) == 1 and "+" in next(iter(fonts)) and "UMing" in next(iter(fonts))
    # one subset of AR PL UMing, its font file (Flate-compressed by ISA-L) a TrueType font of
    # the length its stream declares
    [(declared, font)] = font_files
    assert font[:4] == b"\x00\x01\x00\x00" and len(font) == declared


def _font_files(pdf: Any) -> list[tuple[int, bytes]]:
    """The embedded TrueType font files of ``pdf`` (pdfplumber): each one's declared length
    (``/Length1``) and its decoded bytes."""
    from pdfminer.pdftypes import resolve1

    doc, found = pdf.doc, []
    for xref in doc.xrefs:
        for objid in xref.get_objids():
            obj = resolve1(doc.getobj(objid))
            if isinstance(obj, dict) and "FontFile2" in obj:
                stream = resolve1(obj["FontFile2"])
                found.append((resolve1(stream["Length1"]), stream.get_data()))
    return found


def test_issuing_again_from_the_same_record_gives_the_same_document(case: Case) -> None:
    first = case.issue("inspection_record").json
    again = case.issue("inspection_record").json
    assert again["id"] == first["id"] and again["version"] == 1
    from app.db import session
    from app.documents import render
    from app.documents.content import build
    from app.documents.models import Document
    from app.inspections.models import Inspection

    with case.app.app_context():
        doc = session.get(Document, uuid.UUID(first["id"]))
        insp = session.get(Inspection, case.inspection_id)
        one = build(
            render.gather(insp, "inspection_record", doc.number, doc.code, doc.department_code)
        )
        two = build(
            render.gather(insp, "inspection_record", doc.number, doc.code, doc.department_code)
        )
        assert one.text() == two.text()
        assert one.as_dict() == doc.content
        assert render.render(one) == render.render(two) == doc.pdf


def test_a_correction_reissues_a_new_version_with_the_same_number_and_keeps_the_old(
    case: Case,
) -> None:
    from app.db import session
    from app.inspections.models import Finding

    first = case.issue("inspection_record").json
    with case.app.app_context():
        f = session.query(Finding).filter_by(inspection_id=case.inspection_id, item_code="GAS-04")
        f.one().note = "后厨灶具无熄火保护（更正）"
        session.commit()
    second = case.issue("inspection_record").json
    assert second["version"] == 2 and second["number"] == first["number"]
    assert second["id"] != first["id"] and second["code"] != first["code"]
    assert "更正" in pdf_text(case.pdf(second["id"]))
    old = case.client.get(f"/api/v1/documents/{first['id']}", headers=case.headers["inspector"])
    assert old.status_code == 200 and old.json["current"] is False
    listed = case.client.get(
        f"/api/v1/inspections/{case.inspection_id}/documents?all_versions=true",
        headers=case.headers["inspector"],
    ).json
    assert [d["version"] for d in listed] == [1, 2]
    # the next record of the department takes the next number: the reissue took none
    from app.documents.models import DocumentCounter

    with case.app.app_context():
        counter = session.get(DocumentCounter, ("emergency", "inspection_record", 2026))
        assert counter.last == 1


def test_long_findings_flow_onto_further_pages(
    app: Any, client: Any, make: Any, login: Any, clock: Any
) -> None:
    from tests.documents.conftest import build_case

    tail = "结尾标记"
    case = build_case(app, client, make, login, long_note="灶具周边堆放杂物。" * 300 + tail)
    data = case.pdf(case.issue("inspection_record").json["id"])
    assert pdf_pages(data) >= 4  # the text over several pages, then the photos
    text = pdf_text(data)
    assert tail in text and text.count("灶具周边堆放杂物。") >= 290


def test_documents_are_listed_in_the_inspection_and_ticket_payloads(case: Case) -> None:
    record = case.issue("inspection_record").json
    order = case.issue("rectification_order").json
    h = case.inspectors[0]
    insp = case.client.get(
        f"/api/v1/inspections/{case.inspection_id}", headers=case.headers["inspector"]
    ).json
    assert [(d["kind"], d["number"]) for d in insp["documents"]] == [
        ("inspection_record", record["number"]),
        ("rectification_order", order["number"]),
    ]
    assert insp["documents"][0]["url"] == f"/api/v1/documents/{record['id']}/pdf"
    ticket = case.client.get(
        f"/api/v1/hazards/{case.hazard_ids[0]}/documents", headers=case.headers["inspector"]
    )
    assert ticket.status_code == 200, ticket.json
    assert {d["kind"] for d in ticket.json} == {"inspection_record", "rectification_order"}
    assert h is not None


def test_nothing_to_issue_is_a_409_with_its_code(
    app: Any, client: Any, make: Any, login: Any, clock: Any
) -> None:
    ent = make.enterprise()
    a = make.user("inspector")
    insp_id = make.inspection(ent.id, [a], clock())
    headers = login(a)
    url = f"/api/v1/inspections/{insp_id}/documents"
    resp = client.post(url, json={"kind": "inspection_record"}, headers=headers)
    assert resp.status_code == 409 and resp.json["code"] == "document.not_checked_in"
    resp = client.post(url, json={"kind": "memo"}, headers=headers)
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"


def test_an_order_without_tickets_and_a_recheck_without_results_are_refused(case: Case) -> None:
    resp = case.issue("recheck_opinion")
    assert resp.status_code == 409 and resp.json["code"] == "document.nothing_to_recheck"


def test_a_missing_font_is_named(case: Case) -> None:
    from app.settings import override_settings

    override_settings(case.app, document_font="/nonexistent/uming.ttc")
    resp = case.issue("inspection_record")
    assert resp.status_code == 503, resp.json
    assert resp.json["code"] == "document.font_missing"
    assert "AR PL UMing" in resp.json["message"] and "make fonts" in resp.json["message"]
    # and nothing was numbered
    override_settings(case.app, document_font="/usr/share/fonts/truetype/arphic/uming.ttc")
    assert case.issue("inspection_record").json["number"].endswith("0001号")


def test_the_pull_feed_lists_the_documents_with_the_inspection(case: Case) -> None:
    from tests.sync.test_pull import pull_all

    record = case.issue("inspection_record").json
    changes, _cursor, _pages = pull_all(case.client, case.headers["inspector"], str(uuid.uuid4()))
    sent = [c for c in changes if c["type"] == "inspection" and c["id"] == str(case.inspection_id)]
    assert sent and sent[-1]["data"]["documents"][0]["number"] == record["number"]
    tickets = [c for c in changes if c["type"] == "hazard"]
    assert all("documents" in c["data"] for c in tickets)


def test_fieldsafe_demo_produces_all_four_documents_signed(app: Any, db_session: Any) -> None:
    from sqlalchemy import select

    from app.documents.models import Document, DocumentSignature

    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    current = db_session.execute(select(Document).where(Document.current.is_(True))).scalars()
    kinds = {d.kind: d for d in current}
    assert set(kinds) == {
        "inspection_record",
        "rectification_order",
        "onsite_measures",
        "recheck_opinion",
    }
    text = kinds["inspection_record"].content
    assert all(s["image_sha256"] for s in text["slots"])  # both officers and the manager signed
    refusals = db_session.execute(
        select(DocumentSignature).where(DocumentSignature.refused.is_(True))
    ).scalars()
    assert [r.witness_name for r in refusals] == ["周明（街道安全员）"]
    assert runner.invoke(args=["demo"]).exit_code == 0  # a second run adds nothing
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_the_photos_are_on_the_appendix_pages(case: Case) -> None:
    import io

    import pdfplumber

    data = case.pdf(case.issue("inspection_record").json["id"])
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        images = [img for page in pdf.pages for img in page.images]
    assert len(images) == len(case.photos)
    assert all(img["width"] > 300 for img in images)


def test_the_photos_are_read_from_s3(
    app: Any, client: Any, make: Any, login: Any, clock: Any, s3_endpoint: str
) -> None:
    import io

    import pdfplumber

    from tests.documents.conftest import build_case
    from tests.media.moto_s3 import make_s3_storage

    app.extensions["storage"] = make_s3_storage(s3_endpoint)  # moto's S3 server on loopback
    case = build_case(app, client, make, login)
    data = case.pdf(case.issue("inspection_record").json["id"])
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        assert sum(len(page.images) for page in pdf.pages) == 2


def test_a_caption_too_long_for_its_line_wraps_under_its_photo() -> None:
    import io

    import pdfplumber

    from app.documents.content import Content, Photo, Slot
    from app.documents.pdf import build_pdf

    long = "附图2 " + "现场照片说明文字" * 12  # wider than the frame: a Paragraph, wrapped
    content = Content(
        kind="inspection_record",
        title="现场检查记录",
        number="区应急管理局检记〔2026〕0001号",
        department="区应急管理局",
        fields=(("被检查单位", "测试单位"),),
        blocks=(),
        photos=(
            Photo("a" * 64, "附图1　GAS-04　拍摄时间：2026年3月2日09时30分"),
            Photo("b" * 64, long),
        ),
        appendix="附件：现场照片",
        slots=(Slot("检查人员签名"),),
        date="区应急管理局　2026年3月2日",
        seal="（印章）",
        verify_url="",
        verify_text="核验",
    )
    data = build_pdf(content, {}, {})
    assert data == build_pdf(content, {}, {})
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        lines = [line["text"] for line in pdf.pages[-1].extract_text_lines()]
    assert "附图1 GAS-04 拍摄时间：2026年3月2日09时30分" in lines  # its spaces as a Paragraph's
    wrapped = [line for line in lines if "现场照片说明文字" in line]
    assert len(wrapped) > 1 and squeeze("".join(wrapped)) == squeeze(long)


def test_the_pages_read_as_reportlabs_own(case: Case, monkeypatch: Any) -> None:
    """The pages ``app.documents.pdf`` writes at once (dictionary and content stream) read as
    the pages ReportLab writes: the same boxes, text, fonts and photos on every page."""
    import io

    import pdfplumber
    from reportlab.pdfgen.canvas import Canvas

    from app.db import session
    from app.documents import pdf, render
    from app.documents.content import build
    from app.inspections.models import Inspection

    with case.app.app_context():
        insp = session.get(Inspection, case.inspection_id)
        assert insp is not None
        content = build(render.gather(insp, "inspection_record", "检记〔2026〕0001号", "C", "x"))
        ours = render.render(content)
        monkeypatch.setattr(pdf, "Canvas", Canvas)  # ReportLab's own pages
        theirs = render.render(content)

    def pages(data: bytes) -> list[tuple[Any, ...]]:
        with pdfplumber.open(io.BytesIO(data)) as doc:
            return [
                (
                    p.mediabox,
                    p.extract_text(),
                    sorted({c["fontname"] for c in p.chars}),
                    [(i["srcsize"], i["x0"], i["top"], i["x1"], i["bottom"]) for i in p.images],
                )
                for p in doc.pages
            ]

    assert ours != theirs  # the pages are written differently ...
    read = pages(ours)
    assert read == pages(theirs)  # ... and read the same
    assert len(read) > 1 and any(images for *_rest, images in read)
