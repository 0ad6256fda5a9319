"""The public pages: 一公开 results with a draw anyone can re-check, and the 群众举报 form."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid

from PIL import Image
from sqlalchemy import select

from app.inspections.models import Inspection
from app.public_reports.models import PublicReport
from tests.planning.test_plans import create_commit_draw

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def page(client, path, status=200, **kw):
    resp = client.get(path, headers=ZH, **kw)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "text/html"
    return resp.get_data(as_text=True)


def test_the_entry_page_is_in_chinese_and_needs_no_login(client):
    html = page(client, "/public/")
    assert "信息公开" in html and "举报安全隐患" in html and "双随机、一公开" in html
    assert 'lang="zh-CN"' in html


def test_a_draw_is_published_as_its_commitment_then_its_record_and_how_to_check_it(
    client,
    make,
    login,
    seeds,
    district,
    db_session,
    tmp_path,  # noqa: F811
):
    ents, _inspectors = district
    _, drawn = create_commit_draw(client, login(make.user("planner")))
    pid, draw = drawn["id"], drawn["draws"][0]

    listing = page(client, "/public/sampling")
    assert drawn["name"] in listing
    before = page(client, f"/public/sampling/{pid}")
    assert draw["seed_commitment"] in before and "自行核验本次抽取" not in before
    assert seeds.given[0].hex() not in before
    assert all(e.name not in before for e in ents)  # no target before the inspections start

    from app.clock import utcnow

    for insp in db_session.scalars(
        select(Inspection).where(Inspection.sampling_plan_id == uuid.UUID(pid))
    ):
        insp.status, insp.check_in_received_at = "in_progress", utcnow()
    db_session.commit()
    after = page(client, f"/public/sampling/{pid}")
    assert seeds.given[0].hex() in after and "自行核验本次抽取" in after
    record_url = f"/api/v1/public/sampling-results/{pid}/draws/1"
    assert record_url in after and "/public/sampling/verify-draw.py" in after

    # What the page tells a citizen to do, done: download both, run the script.
    script = tmp_path / "verify-draw.py"
    with client.get("/public/sampling/verify-draw.py") as resp:
        assert resp.status_code == 200
        script.write_bytes(resp.data)
    record = client.get(record_url).json
    good = tmp_path / "draw-1.json"
    good.write_text(json.dumps(record), encoding="utf-8")
    ran = subprocess.run([sys.executable, str(script), str(good)], capture_output=True, text=True)
    assert ran.returncode == 0 and "核验通过" in ran.stdout, ran.stdout + ran.stderr

    record["result"]["targets"]["high"].reverse()  # a record someone tampered with
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(record), encoding="utf-8")
    ran = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True)
    assert ran.returncode == 1 and "核验不通过" in ran.stdout


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def test_a_citizen_reports_a_hazard_with_a_photo(client, db_session):
    form = page(client, "/public/report")
    assert "华阳路街道" in form and 'type="file"' in form
    resp = client.post(
        "/public/report",
        headers=ZH,
        data={
            "description": "楼道里堆满了纸箱，安全出口被锁住了",
            "address": "长宁路100号",
            "jurisdiction": "huayanglu",
            "photo": (io.BytesIO(_jpeg()), "site.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    received = page(client, resp.headers["Location"])
    (report,) = db_session.scalars(select(PublicReport)).all()
    assert str(report.id) in received and "感谢您的举报" in received
    assert report.jurisdiction_code == "huayanglu" and report.photo_sha256


def test_a_refused_report_shows_the_reasons_in_chinese_and_stores_nothing(client, db_session):
    resp = client.post(
        "/public/report",
        headers=ZH,
        data={"description": "火", "jurisdiction": "nowhere", "address": "长宁路"},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "部分内容需要修改" in html
    assert "Length must be" not in html and "长度" in html  # marshmallow's words, in Chinese
    assert "长宁路" in html  # what was typed is kept
    resp = client.post(
        "/public/report",
        headers=ZH,
        data={"description": "楼道堆放杂物", "jurisdiction": "nowhere"},
    )
    assert resp.status_code == 422 and "请从列表中选择街道" in resp.get_data(as_text=True)
    resp = client.post(
        "/public/report",
        headers=ZH,
        data={"description": "楼道堆放杂物", "photo": (io.BytesIO(b"not a photo"), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert resp.status_code in (415, 422) and "<form" in resp.get_data(as_text=True)
    assert db_session.scalars(select(PublicReport)).all() == []


def test_too_many_reports_get_a_page_that_says_so(app, client):
    app.config["PUBLIC_REPORT_RATE_LIMIT"] = "2 per hour"
    for _ in range(2):
        resp = client.post("/public/report", headers=ZH, data={"description": "楼道堆放杂物"})
        assert resp.status_code == 303
    resp = client.post("/public/report", headers=ZH, data={"description": "楼道堆放杂物"})
    assert resp.status_code == 429 and "举报过于频繁" in resp.get_data(as_text=True)


def test_an_unknown_plan_is_a_404(client):
    page(client, f"/public/sampling/{uuid.uuid4()}", status=404)
