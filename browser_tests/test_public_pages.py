"""The public pages in a real browser, on a phone: a citizen files a report with a photo, and
anyone reads the 双随机 results."""

from __future__ import annotations

import io

from PIL import Image

from app.demo.planning import DEMO_PLAN_NAME


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 60, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_a_citizen_files_a_report_with_a_photo(phone, shot):
    page = phone.new_page()
    page.goto("/public/")
    page.get_by_role("link", name="举报安全隐患").first.click()
    page.wait_for_url("**/public/report")
    shot(page, "report-form")
    page.get_by_label("您看到了什么？（必填）").fill(
        "小区地下车库里有电动自行车在充电，电线拖在地上"
    )
    page.get_by_label("在哪里？（地址或标志性建筑）").fill("长宁路1号地下车库")
    page.get_by_label("街道（镇）").select_option(label="华阳路街道")
    page.get_by_label("照片（可选，不超过 3 MB）").set_input_files(
        files=[{"name": "garage.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )
    page.get_by_role("button", name="提交举报").click()
    page.wait_for_url("**/public/report/received/**")
    assert "感谢您的举报" in page.inner_text("h1")
    assert len(page.inner_text(".receipt")) == 36  # the receipt number (a UUID)
    shot(page, "report-received")


def test_a_refused_report_keeps_what_was_typed(phone, shot):
    page = phone.new_page()
    page.goto("/public/report")
    page.get_by_label("您看到了什么？（必填）").fill("火")  # too short for the server
    page.evaluate("document.querySelector('textarea').removeAttribute('minlength')")
    page.get_by_label("在哪里？（地址或标志性建筑）").fill("长宁路2号")
    page.get_by_role("button", name="提交举报").click()
    assert "部分内容需要修改" in page.inner_text("[role=alert]")
    assert page.get_by_label("在哪里？（地址或标志性建筑）").input_value() == "长宁路2号"
    shot(page, "report-refused")


def test_anyone_reads_the_sampling_results(office, shot):
    page = office.new_page()
    page.goto("/public/sampling")
    page.get_by_role("link", name=DEMO_PLAN_NAME).click()
    assert "种子承诺" in page.inner_text("main")
    shot(page, "sampling-plan")
