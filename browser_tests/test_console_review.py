"""The staff console in a real browser, in Chinese: a supervisor confirms a finding with a photo
and a ticket appears; a coordinator assigns it by name with a deadline; the rectification and
the recheck go through the API in that test (the enterprise's rectification page is driven by
the next test, the recheck visit by the field app's, browser_tests/test_field_app.py); the
responsible supervisor closes it (销号); a page out of the caller's scope is a 404 page."""

from __future__ import annotations

import hashlib
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect

from app.demo.org import DEMO_PASSWORD
from browser_tests.conftest import OFFICE, Watch
from tests.registry.test_import import HEADER, as_xlsx, rows

TIMEOUT = 20_000
#: How Chromium logs a page answered with a refusal (a 4xx page is meant here, not an error).
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


@pytest.fixture
def refusals(browser, live) -> Iterator[BrowserContext]:
    """Like ``office``, for pages that answer 4xx on purpose: the browser's own log line of each
    refused page is expected; any other error, or any request to another host, fails the test."""
    watch = Watch(host=urlsplit(live.base).netloc)
    context = browser.new_context(base_url=live.base, locale="zh-CN", **OFFICE)
    watch.attach(context)
    yield context
    context.close()
    errors = [e for e in watch.errors if not REFUSED.search(e)]
    assert not errors, f"JavaScript errors: {errors}"
    assert not watch.elsewhere, f"requests to another host: {watch.elsewhere}"


def sign_in(context: BrowserContext, username: str) -> Page:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto("/")
    expect(page.locator("h1")).to_have_text("安全生产检查工作台")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("header.top")).to_be_visible()
    return page


def sign_out(page: Page) -> None:
    page.click("#logout")
    expect(page.locator(".flash")).to_have_text("已退出登录。")
    page.close()


def api(base: str, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    data = kw.get("data")
    headers = {"Accept-Language": "zh", **kw.get("headers", {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if "json" in kw:
        data = json.dumps(kw["json"]).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the loopback server
        body = answer.read()
        return json.loads(body) if body else None, answer.headers


def token_of(base: str, username: str) -> str:
    body, _headers = api(
        base,
        "POST",
        "/api/v1/auth/token",
        json={"username": username, "password": DEMO_PASSWORD, "device_name": "browser test"},
    )
    return str(body["access_token"])


def act(base: str, token: str, hazard_id: str, body: dict[str, Any]) -> dict[str, Any]:
    _ticket, headers = api(base, "GET", f"/api/v1/hazards/{hazard_id}", token)
    result, _ = api(
        base,
        "POST",
        f"/api/v1/hazards/{hazard_id}/actions",
        token,
        json=body,
        headers={"If-Match": headers["ETag"]},
    )
    return dict(result)


def a_photo(seed: int) -> bytes:
    image = Image.new("RGB", (640, 480), (40 + seed % 200, 120, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def test_a_finding_goes_from_review_to_closure_in_the_console(office, live, shot):
    # 1. The supervisor opens the queue and a non-compliant finding with a photo.
    page = sign_in(office, "supervisor")
    page.goto("/console/review")
    expect(page.locator("h1")).to_contain_text("审核队列")
    shot(page, "review-queue")
    row = page.locator("tr[data-href]:has(.tag.fail)").first
    row.locator("a").first.click()
    photo = page.locator(".photo img").first
    expect(photo).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    expect(page.locator(".facts .basis")).to_contain_text("依据")
    shot(page, "finding")
    # zoom, by the keyboard, and close it again
    page.keyboard.press("z")
    expect(page.locator(".lightbox")).to_be_visible()
    shot(page, "finding-zoom")
    page.keyboard.press("Escape")
    expect(page.locator(".lightbox")).to_be_hidden()
    finding_url = page.url
    # c chooses confirm and focuses the button; Enter saves
    page.keyboard.press("c")
    page.keyboard.press("Enter")
    flash = page.locator(".flash.ok")
    expect(flash).to_contain_text("已下达隐患整改单")
    number = re.search(r"长宁隐\S+号", flash.inner_text())
    assert number, flash.inner_text()
    shot(page, "confirmed-next-finding")
    page.goto(finding_url)
    ticket_link = page.locator(".kv a[href*='/console/hazards/']")
    hazard_url = ticket_link.get_attribute("href")
    assert hazard_url
    hazard_id = hazard_url.rsplit("/", 1)[-1]
    page.goto("/console/hazards?source=inspection&status=open")
    expect(page.locator("table.tickets")).to_contain_text(number.group(0))
    shot(page, "ledger")
    sign_out(page)

    # 2. The coordinator assigns it by name, with a deadline from the date picker.
    page = sign_in(office, "coordinator")
    page.goto(hazard_url)
    form = page.locator("#assign-form")
    person = form.locator("option", has_text="应急局 检查员一").first.get_attribute("value")
    assert person
    form.locator("select[name=assignee_id]").select_option(person)
    form.locator("input[name=deadline]").fill("2099-06-30")
    shot(page, "assign")
    form.locator("button").click()
    expect(page.locator(".flash.ok")).to_contain_text("已指派")
    expect(page.locator("#assignee")).to_have_text("应急局 检查员一")
    expect(page.locator("#deadline")).to_contain_text("2099-06-30 23:59")
    shot(page, "assigned")
    sign_out(page)

    # 3. The assignee rectifies and rechecks through the API (field-app steps).
    inspector = token_of(live.base, "inspector1")
    ticket, _ = api(live.base, "GET", f"/api/v1/hazards/{hazard_id}", inspector)
    start: dict[str, Any] = {"action": "start"}
    if ticket["grade"] == "major":
        start["plan"] = {
            part: "按判定标准整改"
            for part in (
                "goals",
                "measures",
                "funds_and_materials",
                "people_and_duties",
                "safety_measures",
                "emergency_plan",
            )
        }
    act(live.base, inspector, hazard_id, start)
    photo_bytes = a_photo(7)
    sha = hashlib.sha256(photo_bytes).hexdigest()
    api(
        live.base,
        "PUT",
        f"/api/v1/media/{sha}",
        inspector,
        data=photo_bytes,
        headers={"Content-Type": "application/octet-stream"},
    )
    act(
        live.base,
        inspector,
        hazard_id,
        {"action": "submit_rectification", "note": "已更换燃气软管", "photos": [sha]},
    )
    act(
        live.base,
        inspector,
        hazard_id,
        {"action": "recheck", "result": "pass", "note": "复查合格", "photos": [sha]},
    )

    # 4. The responsible supervisor (建管委 for 燃气餐饮) finds it in their work and closes it.
    page = sign_in(office, "supervisor_construction")
    page.goto("/console/work")
    expect(page.locator("main")).to_contain_text(number.group(0))
    shot(page, "my-work-close")
    page.goto(hazard_url)
    expect(page.locator(".timeline")).to_contain_text("复查合格")
    expect(page.locator(".timeline img").first).to_be_visible()
    page.fill("#close-form textarea[name=note]", "整改到位，予以销号")
    page.locator("#close-form button").click()
    expect(page.locator(".tag.status")).to_have_text("已销号")
    shot(page, "closed")
    sign_out(page)


def test_the_enterprise_submits_its_rectification_with_a_photo(office, live, shot, tmp_path):
    page = sign_in(office, "enterprise1")
    page.goto("/console/work")
    expect(page.locator("main")).to_contain_text("整改中的隐患")
    shot(page, "enterprise-work")
    page.locator("section:has-text('整改中的隐患') table a").first.click()
    form = page.locator("#rectify-form")
    form.locator("textarea[name=note]").fill("已更换燃气软管并加装卡箍")
    photo = tmp_path / "rectified.jpg"
    photo.write_bytes(a_photo(11))
    form.locator("input[type=file]").set_input_files(str(photo))
    shot(page, "rectification-form")
    form.locator("button").click()
    expect(page.locator(".flash.ok")).to_contain_text("提交整改")
    expect(page.locator(".tag.status")).to_have_text("待复查")
    last = page.locator(".timeline li").last
    expect(last).to_contain_text("已更换燃气软管并加装卡箍")
    thumb = last.locator("img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
    )
    shot(page, "rectification-submitted")
    # and reports a hazard of its own check, with a photo
    page.goto("/console/hazards")
    page.click("#report")
    form = page.locator("#report-form")
    form.locator("textarea[name=description]").fill("仓库消防通道堆放杂物")
    photo.write_bytes(a_photo(23))
    form.locator("input[type=file]").set_input_files(str(photo))
    form.locator("button").click()
    expect(page.locator(".flash.ok")).to_contain_text("已上报")
    expect(page.locator(".finding-head")).to_contain_text("企业自查上报")
    expect(page.locator(".facts .strip img").first).to_be_visible()
    shot(page, "self-report")
    sign_out(page)


def test_a_ticket_outside_the_callers_street_is_a_404_page(refusals, live, shot):
    coordinator = token_of(live.base, "coordinator")
    tickets, _ = api(live.base, "GET", "/api/v1/hazards?page_size=100", coordinator)
    elsewhere = next(t for t in tickets if t["jurisdiction"] != "huayanglu")
    page = sign_in(refusals, "inspector3")  # 华阳路's inspector
    answer = page.goto(f"/console/hazards/{elsewhere['id']}")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("页面不存在。")
    shot(page, "out-of-scope-404")
    answer = page.goto("/console/review")  # not a supervisor: the queue is not theirs
    assert answer is not None and answer.status == 403


def test_signing_in_with_a_wrong_password_says_so_in_chinese(refusals, shot):
    page = refusals.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto("/console/login")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_have_text("用户名或密码错误。")
    shot(page, "wrong-password")


def test_the_planner_imports_a_workbook_with_a_bad_row(refusals, shot, tmp_path):
    table = rows(3)
    table[1][1] = "NOT-A-USCC"
    book = tmp_path / "名录.xlsx"
    book.write_bytes(as_xlsx([HEADER, *table]))
    page = sign_in(refusals, "planner")
    page.click("text=名录导入")
    page.locator("#import-form input[type=file]").set_input_files(str(book))
    page.locator("#import-form button").click()
    expect(page.locator("#import-errors")).to_contain_text("NOT-A-USCC")
    expect(page.locator(".flash.error")).to_contain_text("未导入")
    shot(page, "registry-import-bad-row")
    table[1] = rows(1)[0]
    book.write_bytes(as_xlsx([HEADER, *table]))
    page.locator("#import-form input[type=file]").set_input_files(str(book))
    page.locator("#import-form button").click()
    expect(page.locator("#import-summary")).to_contain_text("3")
    shot(page, "registry-import-done")
    # then a sampling plan: a bad rate is the form again with the reason beside it
    page.click("header.top >> text=抽查计划")
    page.click("#new-plan")
    page.fill("input[name=name]", "2026年第四季度双随机抽查")
    page.fill("input[name=rate_high]", "0.5")
    page.fill("input[name=rate_medium]", "0.5")
    page.fill("input[name=rate_low]", "0")
    page.locator("#plan-form button.primary").click()
    expect(page.locator("#plan-form .field-error").first).to_be_visible()
    shot(page, "plan-bad-rate")
    page.fill("input[name=rate_low]", "0.5")
    page.locator("#plan-form button.primary").click()
    expect(page.locator("#commit")).to_be_visible()
    page.click("#commit")
    expect(page.locator("#draw")).to_be_visible()
    expect(page.locator("#draw-1")).to_contain_text("种子承诺值")
    shot(page, "plan-committed")
    page.click("#draw")
    expect(page.locator("#draw-1 .draw-result")).to_be_visible()
    expect(page.locator("#public-record")).to_be_visible()
    shot(page, "plan-drawn")


def test_the_coordinator_reads_the_reports_and_work_lists(office, shot):
    page = sign_in(office, "coordinator")
    page.click("header.top >> text=统计报表")
    expect(page.locator("#hazard-stats")).to_be_visible()
    expect(page.locator("#stock")).to_contain_text("存量")
    shot(page, "reports")
    page.select_option("select[name=by]", "source")
    page.click("#period-form button")
    expect(page.locator("#hazard-stats")).to_contain_text("企业自查")
    shot(page, "reports-by-source")
    page.click("header.top >> text=重大隐患清零")
    expect(page.locator("h1")).to_contain_text("动态清零")
    shot(page, "zero-major")
    page.click("header.top >> text=逾期")
    expect(page.locator("h1")).to_contain_text("逾期")
    page.click("header.top >> text=隐患台账")
    page.select_option("select[name=grade]", "major")
    page.click("form.filters button[type=submit]")
    page.fill("input[name=view_name]", "重大隐患")
    page.click("#save-view")
    expect(page.locator("#saved-views ul")).to_contain_text("重大隐患")
    page.goto("/console/hazards")
    page.click("#saved-views ul >> text=重大隐患")
    expect(page.locator("select[name=grade]")).to_have_value("major")
    shot(page, "ledger-saved-view")


def test_the_planner_browses_the_enterprises_and_the_inspectors(office, shot):
    page = sign_in(office, "planner")
    page.click("header.top >> text=企业名录")
    expect(page.locator("h1")).to_contain_text("检查对象名录库")
    expect(page.locator("#enterprises tbody tr")).to_have_count(25)  # a page of the registry
    expect(page.locator(".pager")).to_contain_text("下一页")
    shot(page, "enterprises")
    page.select_option("#enterprise-filters select[name=jurisdiction]", "huayanglu")
    page.fill("#enterprise-filters input[name=q]", "周家桥医院")
    page.click("#enterprise-filters button")
    expect(page.locator("#enterprises tbody tr")).to_have_count(1)
    row = page.locator("#enterprises tbody tr")
    expect(row).to_contain_text("华阳路")
    expect(row.locator(".open-hazards")).not_to_have_text("0")
    row.locator("a").click()
    expect(page.locator("h1")).to_contain_text("上海周家桥医院")
    expect(page.locator("#enterprise-facts")).to_contain_text("统一社会信用代码")
    expect(page.locator("#enterprise-tickets tbody a").first).to_be_visible()
    shot(page, "enterprise")
    page.click("header.top >> text=执法人员名录")
    expect(page.locator("h1")).to_contain_text("执法检查人员名录库")
    inspector = page.locator("#inspectors tbody tr", has_text="应急局 检查员一")
    expect(inspector).to_contain_text("31010520230001")
    expect(inspector.locator(".open-inspections")).not_to_have_text("0")
    shot(page, "inspectors")


def test_the_planner_changes_then_cancels_an_unannounced_inspection(office, shot):
    page = sign_in(office, "planner")
    page.click("header.top >> text=派出四不两直检查")
    page.fill("#dispatch-form input[name=enterprise]", "上海周家桥医院（002）")
    page.locator("#dispatch-form input[name=inspector_ids]").nth(0).check()
    page.locator("#dispatch-form input[name=inspector_ids]").nth(1).check()
    page.fill("#dispatch-form input[name=window_start]", "2026-12-23T09:00")
    page.fill("#dispatch-form input[name=window_end]", "2026-12-23T17:00")
    page.fill("#dispatch-form input[name=dispatch_at]", "2026-12-22T08:00")
    page.locator("#dispatch-form button.primary").click()
    expect(page.locator(".flash.ok")).to_contain_text("上海周家桥医院（002）")
    page.locator("#planned tbody tr", has_text="2026-12-23").locator("a").click()
    expect(page.locator("#edit-form")).to_be_visible()
    expect(page.locator("#edit-form input[name=dispatch_at]")).to_have_value("2026-12-22T08:00")
    page.fill("#edit-form input[name=window_end]", "2026-12-23T12:00")
    page.locator("#edit-form button.primary").click()
    expect(page.locator(".flash.ok")).to_contain_text("已保存")
    expect(page.locator("#edit-form input[name=window_end]")).to_have_value("2026-12-23T12:00")
    shot(page, "inspection-changed")
    page.fill("#cancel-form textarea[name=reason]", "企业已停产，改期另行安排")
    page.locator("#cancel-form button").click()
    expect(page.locator(".flash.ok")).to_contain_text("已取消")
    expect(page.locator("#cancel-reason")).to_have_text("企业已停产，改期另行安排")
    expect(page.locator("#edit-form")).to_have_count(0)
    shot(page, "inspection-cancelled")
