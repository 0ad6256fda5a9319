"""The field app (/app/) on a phone, against the real server: a whole inspection done with the
network cut from check-in to submit (and the page reloaded meanwhile), then synced; a submit the
server refuses, shown on its item and corrected; one outbox open in two tabs, pushed once.

Each test creates its own 四不两直 inspection through the API as the planner would (team
inspector1 + inspector2), so the tests share the demo server without sharing work."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.demo.org import DEMO_PASSWORD

TIMEOUT = 30_000


def _api(live, method: str, path: str, user: str | None = None, **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", {})
    if user is not None:
        headers["Authorization"] = f"Bearer {_token(live, user)}"
    resp = requests.request(method, live.base + path, headers=headers, timeout=30, **kwargs)
    assert resp.status_code < 300, (path, resp.status_code, resp.text)
    return resp.json() if resp.content else None


_TOKENS: dict[str, str] = {}


def _token(live, user: str) -> str:
    if user not in _TOKENS:
        body = requests.post(
            live.base + "/api/v1/auth/token",
            json={"username": user, "password": DEMO_PASSWORD, "device_name": "browser tests"},
            timeout=30,
        ).json()
        _TOKENS[user] = body["access_token"]
    return _TOKENS[user]


def _inspection(live, industry: str = "high_rise") -> dict[str, Any]:
    """A 四不两直 inspection of an enterprise of ``industry``, dispatched to the team now."""
    team = [_api(live, "GET", "/api/v1/me", u)["id"] for u in ("inspector1", "inspector2")]
    enterprises = _api(
        live, "GET", f"/api/v1/enterprises?industry={industry}&page_size=50", "planner"
    )
    enterprise = next(e for e in enterprises if e["jurisdiction"] != "huayanglu")
    now = datetime.now(UTC)
    return _api(
        live,
        "POST",
        "/api/v1/inspections",
        "planner",
        json={
            "type": "unannounced",
            "enterprise_id": enterprise["id"],
            "inspector_ids": team,
            "window": {
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
            },
            "dispatch_at": (now - timedelta(minutes=1)).isoformat(),
        },
    )


def _checklist(live, insp: dict[str, Any]) -> list[dict[str, Any]]:
    cl = _api(
        live,
        "GET",
        f"/api/v1/checklists/{insp['industry']}/versions/{insp['checklist_version']}",
        "inspector1",
    )
    return cl["items"]


def _db(live) -> sqlite3.Connection:
    return sqlite3.connect(live.tmp / "fieldsafe.db")


def _findings(live, inspection_id: str) -> list[tuple[Any, ...]]:
    with _db(live) as db:
        return db.execute(
            "SELECT item_code, result, value, photos, note, media_pending FROM findings "
            "WHERE inspection_id = ? AND deleted = 0 ORDER BY item_code",
            (uuid.UUID(inspection_id).hex,),
        ).fetchall()


def _status(live, inspection_id: str) -> str:
    with _db(live) as db:
        row = db.execute(
            "SELECT status FROM inspections WHERE id = ?", (uuid.UUID(inspection_id).hex,)
        ).fetchone()
    return row[0]


def _jpeg(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(out, format="JPEG", quality=85)
    return out.getvalue()


def _sign_in(page: Page, user: str = "inspector1") -> None:
    page.goto("/app/")
    page.fill("#username", user)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("[data-testid=inspection]", timeout=TIMEOUT)
    # The service worker controls the page: from now on the app opens with no network.
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=TIMEOUT)


def _open(page: Page, inspection_id: str) -> None:
    _tap(page, f"[data-testid=inspection][data-id='{inspection_id}']")
    page.wait_for_selector("[data-testid=item], [data-action=check-in]", timeout=TIMEOUT)


def _answer(page: Page, item: dict[str, Any], result: str = "pass", value: Any = None) -> None:
    """On the item's page: choose the result, give the value, save (goes to the next item)."""
    expect(page.locator("[data-testid=item-page]")).to_have_attribute("data-code", item["code"])
    _tap(page, f"[data-action=answer][data-result={result}]")
    if item.get("unit"):
        page.fill("#value", str(value if value is not None else _inside(item)))
    _saved(page, item["code"])


def _shot(shot: Any, page: Page, name: str) -> None:
    """A screenshot of the whole screen from its top (the status bar sticks to the top)."""
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, name)


def _idle(page: Page) -> None:
    """Wait until no sync round or redraw is running (a tap then lands where it aims)."""
    page.wait_for_function("!document.body.dataset.syncing", timeout=TIMEOUT)


def _tap(page: Page, selector: str) -> None:
    _idle(page)
    page.click(selector)


def _submit(page: Page) -> None:
    """Submit the inspection on screen; the app shows it submitted once the outbox holds it."""
    _tap(page, "[data-action=submit]")
    page.wait_for_selector("[data-action=submit]", state="detached", timeout=TIMEOUT)


def _saved(page: Page, code: str) -> None:
    """Save the item's answer; the app moves on once the outbox holds it."""
    _tap(page, "[data-action=save]")
    try:
        page.wait_for_function(
            """code => { const p = document.querySelector('[data-testid=item-page]');
                         return !p || p.dataset.code !== code; }""",
            arg=code,
            timeout=TIMEOUT,
        )
    except PlaywrightTimeout:
        # Say what the screen shows instead of only that it did not move on.
        check = page.locator("[data-testid=item-check]")
        why = check.inner_text() if check.count() else "no message on the item"
        status = page.inner_text("#status")
        chosen = page.locator("[data-action=answer].chosen").count()
        raise AssertionError(
            f"{code} was not saved: {why}; {chosen} answer chosen; status bar: {status}"
        ) from None


def _wait_waiting(page: Page, n: int) -> None:
    page.wait_for_function(
        """n => { const w = document.querySelector('[data-testid=waiting]');
                  return w && Number(w.textContent.replace(/\\D/g, '')) === n; }""",
        arg=n,
        timeout=TIMEOUT,
    )


def _inside(item: dict[str, Any]) -> float:
    low, high = item.get("min"), item.get("max")
    if low is not None and high is not None:
        return (low + high) / 2
    return low if low is not None else (high if high is not None else 1)


def _waiting(page: Page) -> int:
    text = page.inner_text("[data-testid=waiting]")
    return int("".join(ch for ch in text if ch.isdigit()))


def _synced(page: Page) -> None:
    """Wait until the outbox is drained and every photo uploaded (the status bar says 0)."""
    page.wait_for_function(
        """() => { const w = document.querySelector('[data-testid=waiting]');
                  const p = document.querySelector('[data-testid=photos-waiting]');
                  return w && p && /[:：]\\s*0\\D*$/.test(w.textContent)
                                && /[:：]\\s*0\\D*$/.test(p.textContent); }""",
        timeout=TIMEOUT,
    )


def test_a_whole_inspection_offline_reaches_the_server_once(
    phone: BrowserContext, live, shot
) -> None:
    insp = _inspection(live)
    items = _checklist(live, insp)
    measured = [i for i in items if i.get("unit")]
    photo_item = next(i for i in items if i.get("requires_photo"))
    page = phone.new_page()
    _sign_in(page)
    _shot(shot, page, "today")
    phone.set_offline(True)

    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    expect(page.locator("[data-testid=checked-in]")).to_contain_text("米", timeout=TIMEOUT)
    expect(page.locator("#status")).to_contain_text("离线")
    _shot(shot, page, "checked-in-offline")

    _tap(page, f"[data-testid=item][data-code='{items[0]['code']}']")
    expected: dict[str, tuple[str, float | None]] = {}
    for n, item in enumerate(items):
        if item is photo_item:
            _tap(page, "[data-action=answer][data-result=fail]")
            page.fill("#note", "消防控制室无人值班")
            page.set_input_files(
                "#photo-input",
                files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": _jpeg("red")}],
            )
            expect(page.locator("[data-testid=photos] img")).to_have_count(1)
            if item.get("unit"):
                page.fill("#value", str(_inside(item)))
            _shot(shot, page, "photo-item")
            _saved(page, item["code"])
            expected[item["code"]] = ("fail", _inside(item) if item.get("unit") else None)
        else:
            value = _inside(item) if item.get("unit") else None
            if item is (measured[0] if measured else None):
                # Out of range as a pass: refused on the phone in the server's words.
                _tap(page, "[data-action=answer][data-result=pass]")
                low, high = item.get("min"), item.get("max")
                page.fill("#value", str(low - 1 if low is not None else high + 1))
                _tap(page, "[data-action=save]")
                expect(page.locator("[data-testid=item-check]")).to_contain_text("超出")
                _shot(shot, page, "value-out-of-range")
            _answer(page, item, "pass", value)
            expected[item["code"]] = ("pass", value)
        if n == 4:
            # Reloading with no network loses nothing: the shell comes from the service worker,
            # the answers from the outbox.
            page.reload()
            page.wait_for_selector("[data-testid=item-page]", timeout=TIMEOUT)
            assert _waiting(page) == n + 2  # the check-in and the answers so far
    page.wait_for_selector("[data-testid=item]", timeout=TIMEOUT)
    _shot(shot, page, "checklist")
    _submit(page)
    _wait_waiting(page, len(items) + 2)
    page.goto("/app/#/outbox")
    page.wait_for_selector("[data-testid=outbox]", timeout=TIMEOUT)
    assert _waiting(page) == len(items) + 2
    _shot(shot, page, "outbox-offline")
    assert _findings(live, insp["id"]) == []  # nothing left the phone

    phone.set_offline(False)
    _synced(page)
    _shot(shot, page, "outbox-synced")
    assert _status(live, insp["id"]) == "submitted"
    found = _findings(live, insp["id"])
    assert [f[0] for f in found] == sorted(i["code"] for i in items)  # each item once
    photo_sha = None
    for code, result, value, photos, note, media_pending in found:
        assert (result, value) == expected[code], code
        assert not media_pending
        if code == photo_item["code"]:
            photo_sha = json.loads(photos)[0]
            assert note == "消防控制室无人值班"
        else:
            assert json.loads(photos) == []
    with _db(live) as db:
        stored = db.execute(
            "SELECT size FROM media_objects WHERE sha256 = ?", (photo_sha,)
        ).fetchone()
    assert stored is not None and stored[0] == len(_jpeg("red"))


def test_a_refused_submit_shows_its_reason_on_the_item(phone: BrowserContext, live, shot) -> None:
    insp = _inspection(live)
    items = _checklist(live, insp)
    page = phone.new_page()
    _sign_in(page)
    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    page.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    _tap(page, f"[data-testid=item][data-code='{items[0]['code']}']")
    for item in items:
        _answer(page, item)
    page.wait_for_selector("[data-testid=item]", timeout=TIMEOUT)
    _synced(page)
    assert len(_findings(live, insp["id"])) == len(items)

    # Offline, the inspector submits; meanwhile a teammate deletes one of the findings.
    phone.set_offline(True)
    _submit(page)
    _wait_waiting(page, 1)
    gone = items[2]["code"]
    finding = next(
        f
        for f in _api(live, "GET", f"/api/v1/inspections/{insp['id']}/findings", "inspector2")
        if f["item_code"] == gone
    )
    _api(
        live,
        "POST",
        "/api/v1/sync/push",
        "inspector2",
        json={
            "client_id": str(uuid.uuid4()),
            "mutations": [{"id": 1, "name": "finding.delete", "args": {"id": finding["id"]}}],
        },
    )
    phone.set_offline(False)
    refusal = page.locator(f"[data-testid=item][data-code='{gone}'] [data-testid=item-refusal]")
    expect(refusal).to_contain_text("尚未填写", timeout=TIMEOUT)
    expect(refusal).to_contain_text(gone)
    expect(page.locator("[data-testid=submit-refused]")).to_contain_text("提交前须逐项填写检查表")
    _shot(shot, page, "rejected-item")
    assert _status(live, insp["id"]) == "in_progress"

    # Answered again (a new finding: a delete beats any edit) and submitted: accepted.
    _tap(page, f"[data-testid=item][data-code='{gone}']")
    expect(page.locator("[data-testid=item-page] [data-testid=item-refusal]")).to_contain_text(
        "服务器拒绝"
    )
    _shot(shot, page, "rejected-item-page")
    _answer(page, items[2])
    page.goto(f"/app/#/i/{insp['id']}")
    page.wait_for_selector("[data-action=submit]", timeout=TIMEOUT)
    _submit(page)
    _synced(page)
    expect(page.locator("[data-testid=submit-refused]")).to_have_count(0)
    assert _status(live, insp["id"]) == "submitted"
    assert len(_findings(live, insp["id"])) == len(items)


def test_two_tabs_push_one_outbox_once(phone: BrowserContext, live, shot) -> None:
    insp = _inspection(live)
    items = _checklist(live, insp)
    sent: list[int] = []
    phone.on(
        "request",
        lambda r: (
            r.url.endswith("/api/v1/sync/push")
            and sent.extend(m["id"] for m in json.loads(r.post_data or "{}")["mutations"])
        ),
    )
    first = phone.new_page()
    _sign_in(first)
    second = phone.new_page()
    second.goto("/app/")
    second.wait_for_selector("[data-testid=inspection]", timeout=TIMEOUT)
    phone.set_offline(True)
    _open(first, insp["id"])
    _tap(first, "[data-action=check-in]")
    first.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    _tap(first, f"[data-testid=item][data-code='{items[0]['code']}']")
    for item in items[:3]:
        _answer(first, item)
    second.reload()
    second.wait_for_selector("[data-testid=waiting]", timeout=TIMEOUT)
    assert _waiting(second) == 4  # the same outbox, seen from the other tab
    _shot(shot, second, "second-tab-offline")

    phone.set_offline(False)  # both tabs see the network come back and try to drain
    _synced(first)
    _synced(second)
    assert sorted(sent) == sorted(set(sent)) and set(sent) >= {1, 2, 3, 4}
    found = _findings(live, insp["id"])
    assert sorted(f[0] for f in found) == sorted(i["code"] for i in items[:3])


@pytest.fixture(autouse=True)
def _fresh_tokens() -> None:
    _TOKENS.clear()


def test_a_finding_sent_back_is_amended_and_resubmitted(phone: BrowserContext, live, shot) -> None:
    insp = _inspection(live)
    items = _checklist(live, insp)
    page = phone.new_page()
    _sign_in(page)
    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    page.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    _tap(page, f"[data-testid=item][data-code='{items[0]['code']}']")
    for item in items:
        _answer(page, item)
    page.wait_for_selector("[data-action=submit]", timeout=TIMEOUT)
    _submit(page)
    _synced(page)
    assert _status(live, insp["id"]) == "submitted"

    asked = items[1]["code"]
    finding = next(
        f
        for f in _api(live, "GET", f"/api/v1/inspections/{insp['id']}/findings", "supervisor")
        if f["item_code"] == asked
    )
    _api(
        live,
        "POST",
        f"/api/v1/findings/{finding['id']}/review",
        "supervisor",
        json={"decision": "needs_info", "comment": "请补充说明检查的具体位置"},
    )
    page.goto("/app/#/outbox")
    _tap(page, "[data-action=sync]")
    _synced(page)
    page.goto(f"/app/#/i/{insp['id']}")
    _tap(page, f"[data-testid=item][data-code='{asked}']")
    expect(page.locator("[data-testid=review-comment]")).to_contain_text("请补充说明检查的具体位置")
    page.fill("#note", "检查位置：一层东侧疏散通道")
    _shot(shot, page, "sent-back")
    _saved(page, asked)
    page.goto(f"/app/#/i/{insp['id']}")
    _submit(page)
    _synced(page)
    with _db(live) as db:
        note, status = db.execute(
            "SELECT note, review_status FROM findings WHERE id = ?",
            (uuid.UUID(finding["id"]).hex,),
        ).fetchone()
    assert (note, status) == ("检查位置：一层东侧疏散通道", "pending")


def test_signing_out_after_the_outbox_drained_leaves_nothing_on_the_phone(
    phone: BrowserContext, live
) -> None:
    page = phone.new_page()
    _sign_in(page)
    page.goto("/app/#/outbox")
    page.wait_for_selector("[data-testid=outbox]", timeout=TIMEOUT)
    assert _waiting(page) == 0
    _tap(page, "[data-action=logout]")
    page.wait_for_selector("#login", timeout=TIMEOUT)
    assert page.evaluate(_IDB_COUNTS) == _IDB_EMPTY


_IDB_COUNTS = """async () => {
  const r = indexedDB.open('fieldsafe');
  await new Promise(done => { r.onsuccess = done; });
  const d = r.result;
  const count = s => new Promise(done => {
    const q = d.transaction(s).objectStore(s).count();
    q.onsuccess = () => done(q.result);
  });
  const n = { meta: await count('meta'), entities: await count('entities'),
              outbox: await count('outbox'), media: await count('media') };
  d.close();
  return n;
}"""
_IDB_EMPTY = {"meta": 0, "entities": 0, "outbox": 0, "media": 0}

_IDB_SNAPSHOT = """async () => {
  const r = indexedDB.open('fieldsafe');
  await new Promise(done => { r.onsuccess = done; });
  const d = r.result;
  const all = (s, how) => new Promise(done => {
    const q = d.transaction(s).objectStore(s)[how]();
    q.onsuccess = () => done(q.result);
  });
  const keys = await all('meta', 'getAllKeys');
  const values = await all('meta', 'getAll');
  const meta = Object.fromEntries(keys.map((k, i) => [k, values[i]]));
  const out = { user: meta.user ? meta.user.username : null,
                ids: (await all('entities', 'getAll')).map(e => e.id),
                outbox: (await all('outbox', 'getAll')).map(m => [m.name, m.state]) };
  d.close();
  return out;
}"""


def _check_in_offline(phone: BrowserContext, page: Page, inspection_id: str) -> None:
    phone.set_offline(True)
    _open(page, inspection_id)
    _tap(page, "[data-action=check-in]")
    page.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    _wait_waiting(page, 1)


def _phone_device(live, username: str) -> str:
    """The newest un-revoked device login of ``username`` from the field app (this test's)."""
    user_id = _api(live, "GET", "/api/v1/me", username)["id"]
    devices = _api(live, "GET", f"/api/v1/devices?user_id={user_id}&page_size=100", "admin")
    mine = [
        d for d in devices if d["revoked_at"] is None and d["name"].startswith("现场检查应用")
    ] or [d for d in devices if d["revoked_at"] is None and d["name"] != "browser tests"]
    return max(mine, key=lambda d: d["created_at"])["id"]


@pytest.mark.api_answers(401)
def test_a_revoked_device_warns_of_what_is_lost_and_keeps_nothing(
    phone: BrowserContext, live, shot
) -> None:
    """An administrator revokes the phone while a check-in waits in its outbox: when the network
    is back the server answers auth.revoked; the app names the change it cannot send, has
    deleted everything, and after 我知道了 shows the sign-in form."""
    insp = _inspection(live)
    page = phone.new_page()
    _sign_in(page)
    _check_in_offline(phone, page, insp["id"])
    device = _phone_device(live, "inspector1")
    _api(live, "POST", f"/api/v1/devices/{device}/revoke", "admin")
    phone.set_offline(False)
    warning = page.wait_for_selector("[data-testid=revoked]", timeout=TIMEOUT)
    assert warning.get_attribute("data-changes") == "1"
    assert warning.get_attribute("data-photos") == "0"
    text = page.inner_text("[data-testid=revoked]")
    assert "此设备已被撤销" in text and "1项记录" in text and "0张照片" in text
    _idle(page)
    _shot(shot, page, "revoked-warning")
    assert page.evaluate(_IDB_COUNTS) == _IDB_EMPTY  # deleted before the warning is acknowledged
    page.reload()  # the warning stays until acknowledged, and nothing of the data comes back
    page.wait_for_selector("[data-testid=revoked]", timeout=TIMEOUT)
    _tap(page, "[data-action=revoked-ack]")
    page.wait_for_selector("#login", timeout=TIMEOUT)
    _shot(shot, page, "sign-in-after-revocation")
    assert page.evaluate(_IDB_COUNTS) == _IDB_EMPTY
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('tus::'))") == []
    assert _status(live, insp["id"]) == "dispatched"  # the check-in never reached the server


def _lapse(phone: BrowserContext, page: Page) -> None:
    """The login ends without a logout (the session lapsed): the phone keeps its data. The tokens
    go while offline, so no sync is under way with them."""
    page.evaluate(_IDB_PUT_META, ["tokens", None])
    phone.set_offline(False)
    page.goto("/app/")
    page.wait_for_selector("#login", timeout=TIMEOUT)


def test_another_user_signing_in_sees_nothing_of_the_previous_one(
    phone: BrowserContext, live, shot
) -> None:
    """inspector1's check-in waits on the phone when their login lapses; inspector3 (another
    street, another team) signs in: warned of the change, then none of inspector1's data."""
    insp = _inspection(live)
    page = phone.new_page()
    _sign_in(page)
    _check_in_offline(phone, page, insp["id"])
    assert insp["id"] in page.evaluate(_IDB_SNAPSHOT)["ids"]
    _lapse(phone, page)
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.fill("#username", "inspector3")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#login", state="detached", timeout=TIMEOUT)
    page.wait_for_selector("[data-testid=waiting]", timeout=TIMEOUT)
    _idle(page)
    _shot(shot, page, "next-user-signed-in")
    assert len(asked) == 1 and "1项记录" in asked[0] and "另一位用户" in asked[0]
    assert page.locator(f"[data-id='{insp['id']}']").count() == 0
    left = page.evaluate(_IDB_SNAPSHOT)
    assert left["user"] == "inspector3"
    assert insp["id"] not in left["ids"] and left["outbox"] == []
    assert _status(live, insp["id"]) == "dispatched"


def test_the_same_user_signing_in_again_keeps_their_outbox(phone: BrowserContext, live) -> None:
    insp = _inspection(live)
    page = phone.new_page()
    _sign_in(page)
    _check_in_offline(phone, page, insp["id"])
    _lapse(phone, page)
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    _sign_in(page)
    _synced(page)
    assert asked == []
    assert _status(live, insp["id"]) == "in_progress"  # the check-in kept, and sent


def test_a_photo_upload_cut_off_by_a_closed_tab_resumes(phone: BrowserContext, live) -> None:
    insp = _inspection(live)
    items = _checklist(live, insp)
    photo_item = next(n for n, i in enumerate(items) if i.get("requires_photo"))
    noise = Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3))
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=95, subsampling=0)
    jpeg = out.getvalue()
    assert len(jpeg) > 3 * 512 * 1024  # several of the app's 512 KiB chunks
    uploads: list[Any] = []
    phone.on("request", lambda r: "/api/v1/media/uploads" in r.url and uploads.append(r))

    page = phone.new_page()
    _sign_in(page)
    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    page.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    page.goto(f"/app/#/i/{insp['id']}/{photo_item}")
    page.wait_for_selector("[data-testid=item-page]", timeout=TIMEOUT)
    _tap(page, "[data-action=answer][data-result=fail]")
    page.set_input_files(
        "#photo-input", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": jpeg}]
    )
    expect(page.locator("[data-testid=photos] img")).to_have_count(1)
    if items[photo_item].get("unit"):
        page.fill("#value", str(_inside(items[photo_item])))
    # A slow uplink (Chromium's own throttling), so that the tab closes mid-upload.
    cdp = phone.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    with page.expect_request(
        lambda r: r.method == "PATCH" and r.headers.get("upload-offset", "0") != "0",
        timeout=TIMEOUT,
    ):
        _tap(page, "[data-action=save]")
    page.close()  # the inspector closes the tab with the photo half sent
    before = len(uploads)

    again = phone.new_page()
    again.goto("/app/")
    again.wait_for_selector("[data-testid=waiting]", timeout=TIMEOUT)
    _synced(again)
    created = [r for r in uploads if r.method == "POST"]
    resumed = [r for r in uploads if r.method == "HEAD"]
    assert len(created) == 1  # one upload, resumed: not started again
    assert resumed, "the new tab asked the server how much of the upload it holds"
    patches = [r for r in uploads[before:] if r.method == "PATCH"]
    assert patches and int(patches[0].headers["upload-offset"]) > 0  # from where it stopped
    sha = hashlib.sha256(jpeg).hexdigest()
    with _db(live) as db:
        stored = db.execute("SELECT size FROM media_objects WHERE sha256 = ?", (sha,)).fetchone()
    assert stored == (len(jpeg),)
    found = {f[0]: f for f in _findings(live, insp["id"])}
    assert json.loads(found[items[photo_item]["code"]][3]) == [sha]


@pytest.mark.api_answers(409)
def test_after_a_restore_the_phone_pulls_its_scope_again_and_keeps_its_outbox(
    phone: BrowserContext, live
) -> None:
    """``fieldsafe sync rotate-epoch`` (after a restore): the next pull answers
    sync.reset_required; the app drops its copy and cursor, pulls from scratch, and the outbox
    (here a check-in made offline) still reaches the server."""
    insp = _inspection(live)
    answers: list[tuple[str, int]] = []
    phone.on("response", lambda r: answers.append((urlsplit(r.url).path, r.status)))
    page = phone.new_page()
    _sign_in(page)
    phone.set_offline(True)
    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    page.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    live.cli("sync", "rotate-epoch")
    phone.set_offline(False)
    _synced(page)
    _idle(page)
    assert _status(live, insp["id"]) == "in_progress"
    page.goto("/app/#/")
    page.wait_for_selector(f"[data-testid=inspection][data-id='{insp['id']}']", timeout=TIMEOUT)
    resets = page.evaluate(
        """async () => {
             const r = indexedDB.open('fieldsafe');
             await new Promise(done => { r.onsuccess = done; });
             const q = r.result.transaction('meta').objectStore('meta').get('cursor');
             return new Promise(done => { q.onsuccess = () => done(q.result); });
           }"""
    )
    assert resets  # a new cursor, of the new epoch
    assert ("/api/v1/sync/pull", 409) in answers  # sync.reset_required, answered by a reset


_IDB_PUT_META = """async ([key, value]) => {
  const r = indexedDB.open('fieldsafe');
  await new Promise(done => { r.onsuccess = done; });
  const tx = r.result.transaction('meta', 'readwrite');
  tx.objectStore('meta').put(value, key);
  await new Promise(done => { tx.oncomplete = done; });
  r.result.close();
}"""


@pytest.mark.api_answers(409)
def test_an_install_id_taken_by_another_user_is_replaced_and_the_outbox_sent_under_the_new_one(
    phone: BrowserContext, live
) -> None:
    """A cloned install: its client_id already belongs to inspector2's device. The push answers
    sync.client_taken; the app takes a new client_id, renumbers its outbox from 1, pushes it."""
    insp = _inspection(live)
    taken = str(uuid.uuid4())
    _api(
        live, "POST", "/api/v1/sync/push", "inspector2", json={"client_id": taken, "mutations": []}
    )
    answers: list[tuple[str, int]] = []
    phone.on("response", lambda r: answers.append((urlsplit(r.url).path, r.status)))
    page = phone.new_page()
    _sign_in(page)
    phone.set_offline(True)
    page.evaluate(_IDB_PUT_META, ["client_id", taken])
    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    page.wait_for_selector("[data-testid=checked-in]", timeout=TIMEOUT)
    phone.set_offline(False)
    _synced(page)
    assert ("/api/v1/sync/push", 409) in answers  # sync.client_taken
    assert _status(live, insp["id"]) == "in_progress"  # the check-in, under the new id
    mine = page.evaluate(
        """async () => {
             const r = indexedDB.open('fieldsafe');
             await new Promise(done => { r.onsuccess = done; });
             const q = r.result.transaction('meta').objectStore('meta').get('client_id');
             return new Promise(done => { q.onsuccess = () => done(q.result); });
           }"""
    )
    assert mine != taken


def _recheck_visit(live) -> tuple[dict[str, Any], dict[str, Any]]:
    """A hazard ticket issued by inspector1, and a recheck visit of it dispatched to the team."""
    insp = _inspection(live, "gas_catering")
    photo = _jpeg("orange")
    sha = hashlib.sha256(photo).hexdigest()
    _api(
        live,
        "PUT",
        f"/api/v1/media/{sha}",
        "inspector1",
        data=photo,
        headers={"Content-Type": "image/jpeg"},
    )
    hazard = _api(
        live,
        "POST",
        "/api/v1/hazards",
        "inspector1",
        json={
            "enterprise_id": insp["enterprise_id"],
            "grade": "general",
            "description": "燃气软管老化开裂",
            "photos": [sha],
            "deadline": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
        },
    )
    team = [_api(live, "GET", "/api/v1/me", u)["id"] for u in ("inspector1", "inspector2")]
    now = datetime.now(UTC)
    visit = _api(
        live,
        "POST",
        "/api/v1/inspections",
        "planner",
        json={
            "type": "recheck",
            "enterprise_id": insp["enterprise_id"],
            "hazard_ids": [hazard["id"]],
            "inspector_ids": team,
            "window": {
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
            },
            "dispatch_at": (now - timedelta(minutes=1)).isoformat(),
        },
    )
    return hazard, visit


def test_a_recheck_visit_done_offline_reaches_the_server_once(
    phone: BrowserContext, live, shot
) -> None:
    hazard, visit = _recheck_visit(live)
    page = phone.new_page()
    _sign_in(page)
    _idle(page)
    phone.set_offline(True)
    _open(page, visit["id"])
    _tap(page, "[data-action=check-in]")
    expect(page.locator("[data-testid=checked-in]")).to_be_visible(timeout=TIMEOUT)
    ticket = page.locator(f"[data-testid=recheck-ticket][data-id='{hazard['id']}']")
    expect(ticket).to_contain_text("燃气软管老化开裂")
    _tap(page, f"[data-testid=recheck-ticket][data-id='{hazard['id']}']")
    expect(page.locator("[data-testid=recheck-deadline]")).to_contain_text("整改")
    # The hazard's photo came with the sync before the network went: it shows offline.
    expect(page.locator("[data-testid=hazard-photos] img")).to_have_count(1)
    # A pass needs photo proof, as the server says.
    _tap(page, "[data-action=recheck-answer][data-result=pass]")
    page.fill("#note", "已更换为金属波纹管")
    _tap(page, "[data-action=recheck-save]")
    expect(page.locator("[data-testid=item-check]")).to_be_visible()
    page.set_input_files(
        "#photo-input",
        files=[{"name": "r.jpg", "mimeType": "image/jpeg", "buffer": _jpeg("green")}],
    )
    expect(page.locator("[data-testid=photos] img")).to_have_count(1)
    _shot(shot, page, "recheck-ticket")
    _tap(page, "[data-action=recheck-save]")
    page.wait_for_selector("[data-testid=recheck-list]", timeout=TIMEOUT)
    expect(ticket).to_contain_text("未同步")
    page.reload()
    page.wait_for_selector("[data-testid=recheck-list]", timeout=TIMEOUT)
    assert _waiting(page) == 2  # the check-in and the recheck
    _shot(shot, page, "recheck-visit-offline")
    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    _synced(page)
    with _db(live) as db:
        status = db.execute(
            "SELECT status FROM hazards WHERE id = ?", (uuid.UUID(hazard["id"]).hex,)
        ).fetchone()[0]
        rechecks = db.execute(
            "SELECT count(*) FROM hazard_events WHERE hazard_id = ? AND action = 'recheck'",
            (uuid.UUID(hazard["id"]).hex,),
        ).fetchone()[0]
    assert status == "verified"
    assert rechecks == 1
    assert _status(live, visit["id"]) == "closed"
    # The ticket's closure arrives through the feed.
    expect(ticket).not_to_contain_text("未同步", timeout=TIMEOUT)


def _draw(page: Page) -> None:
    """A signature stroke across the pad, by pointer."""
    box = page.locator("[data-testid=pad]").bounding_box()
    assert box
    x, y = box["x"], box["y"] + box["height"] / 2
    page.mouse.move(x + 20, y)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(x + 20 + step * 20, y + (15 if step % 2 else -15))
    page.mouse.up()


def test_the_record_signed_offline_carries_the_signatures_once_synced(
    phone: BrowserContext, live, shot
) -> None:
    insp = _inspection(live)
    page = phone.new_page()
    _sign_in(page)
    _open(page, insp["id"])
    _tap(page, "[data-action=check-in]")
    expect(page.locator("[data-testid=checked-in]")).to_be_visible(timeout=TIMEOUT)
    _synced(page)
    # The office (or the inspector's other device) issues the 现场检查记录; the feed brings it.
    issued = _api(
        live,
        "POST",
        f"/api/v1/inspections/{insp['id']}/documents",
        "inspector1",
        json={"kind": "inspection_record"},
    )
    _idle(page)
    page.reload()
    expect(page.locator("[data-testid=document]")).to_have_attribute(
        "data-id", issued["id"], timeout=TIMEOUT
    )
    _idle(page)
    phone.set_offline(True)

    # The inspector signs on the screen.
    _tap(page, "[data-testid=sign-link]")
    page.wait_for_selector("[data-testid=sign-page]", timeout=TIMEOUT)
    page.select_option("#role", "inspector")
    _tap(page, "[data-action=sign-save]")
    expect(page.locator("[data-testid=sign-check]")).to_be_visible()  # nothing drawn yet
    _draw(page)
    _shot(shot, page, "signature-pad")
    _tap(page, "[data-action=sign-save]")
    page.wait_for_selector("[data-testid=signature]", timeout=TIMEOUT)

    # The representative refuses, before a witness.
    _tap(page, "[data-testid=sign-link]")
    page.wait_for_selector("[data-testid=sign-page]", timeout=TIMEOUT)
    page.fill("#signer", "张国强")
    page.check("#refused")
    _tap(page, "[data-action=sign-save]")
    expect(page.locator("[data-testid=sign-check]")).to_contain_text("见证人")
    page.fill("#witness", "赵六")
    _tap(page, "[data-action=sign-save]")
    expect(page.locator("[data-testid=signature]")).to_have_count(2, timeout=TIMEOUT)
    page.reload()
    expect(page.locator("[data-testid=signature][data-state=pending]")).to_have_count(
        2, timeout=TIMEOUT
    )
    _shot(shot, page, "signatures-offline")
    listed = _api(live, "GET", f"/api/v1/inspections/{insp['id']}/documents", "inspector1")
    assert [d["version"] for d in listed] == [1]  # nothing left the phone

    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    _synced(page)
    expect(page.locator("[data-testid=signature][data-state=applied]")).to_have_count(
        2, timeout=TIMEOUT
    )
    listed = _api(live, "GET", f"/api/v1/inspections/{insp['id']}/documents", "inspector1")
    assert [d["version"] for d in listed] == [3]  # each signature once: two new versions
    doc = _api(live, "GET", f"/api/v1/documents/{listed[0]['id']}", "inspector1")
    slots = doc["content"]["slots"]
    assert any(s["image_sha256"] for s in slots)  # the inspector's drawn signature
    assert any("赵六" in s["note"] for s in slots)  # the refusal with its witness
    with _db(live) as db:
        rows = db.execute(
            "SELECT role, refused, witness_name, location IS NOT NULL, length(image) "
            "FROM document_signatures WHERE inspection_id = ? ORDER BY role",
            (uuid.UUID(insp["id"]).hex,),
        ).fetchall()
    assert [(r[0], bool(r[1]), r[2], bool(r[3])) for r in rows] == [
        ("inspector", False, None, True),
        ("representative", True, "赵六", True),
    ]
    assert rows[0][4] > 100  # the PNG drawn on the pad
    expect(page.locator("[data-testid=document]")).to_contain_text("第3版", timeout=TIMEOUT)
    _shot(shot, page, "signatures-synced")
