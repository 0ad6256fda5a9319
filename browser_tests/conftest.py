"""Browser tests: Debian's Chromium, driven by Playwright, against a real server.

One server per run (gunicorn on a free loopback port) over a SQLite file that ``fieldsafe`` has
migrated and loaded with the checklists and the demo district, exactly as ``make run`` does. Each
test gets a fresh browser context; when the test ends, the context must have logged no JavaScript
error and requested nothing from another host (the system lives on an intranet). ``shot`` writes
a screenshot under ``$FIELDSAFE_ARTIFACTS`` (default ``artifacts/``), where CI keeps them.

Run them with ``make test-browser``; ``make test`` does not collect them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.servers import gunicorn
from tests.sync.live import ROOT

CHROMIUM = os.environ.get("FIELDSAFE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FIELDSAFE_ARTIFACTS", ROOT / "artifacts"))
#: The flags a headless Chromium needs on a closed network: without the background-networking
#: ones it keeps trying Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OFFICE = {"viewport": {"width": 1366, "height": 768}}
#: A phone on the district's fixed point (长宁区), with touch and location granted.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "geolocation": {"latitude": 31.2200, "longitude": 121.4200},
    "permissions": ["geolocation"],
}


@dataclass
class Live:
    """The running server: its base URL and a way to run ``fieldsafe`` against its database."""

    base: str
    env: dict[str, str]
    tmp: Path

    def cli(self, *args: str) -> str:
        """Run ``fieldsafe ARGS`` on the server's database; return its output."""
        return _fieldsafe(self.env, *args)


def _fieldsafe(env: dict[str, str], *args: str) -> str:
    script = Path(sys.executable).with_name("fieldsafe")
    done = subprocess.run(
        [str(script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"fieldsafe {' '.join(args)}: {done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp / 'fieldsafe.db'}",
        "SECRET_KEY": "browser-tests",
        "MEDIA_ROOT": str(tmp / "media"),
        "MEDIA_SPOOL": str(tmp / "spool"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSAFE_")}
    env.update({f"FIELDSAFE_{k}": v for k, v in settings.items()})
    for command in (("db", "upgrade"), ("checklists", "load"), ("demo",)):
        _fieldsafe(env, *command)
    with gunicorn(tmp, settings) as base:
        yield Live(base=base, env=env, tmp=tmp)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` installs Debian's chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


#: Chromium's console line for an HTTP error answer ("… responded with a status of 409 (CONFLICT)").
HTTP_ERROR_LINE = re.compile(
    r"^Failed to load resource: the server responded with a status of (\d{3})"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "api_answers(*statuses): the test provokes these documented API error answers "
        "(e.g. 409 sync.reset_required); Chromium's console lines for them are not errors",
    )


@dataclass
class Watch:
    """What a browser context did that a page on an intranet must not: errors, other hosts."""

    host: str
    errors: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    #: HTTP statuses of /api/ answers the test provokes on purpose (``api_answers`` marker)
    expected: frozenset[int] = frozenset()
    #: the pages (navigations) that answered 4xx: Chromium logs each as a console error
    pages_answered_4xx: set[str] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.on("page", self._page)
        context.on("request", self._request)
        context.on("response", self._response)

    def _page(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))

    def _console(self, page: Page, msg: Any) -> None:
        if msg.type != "error":
            return
        if "net::ERR_INTERNET_DISCONNECTED" in msg.text:
            # Only a context a test took offline (set_offline) logs this: a request the app
            # tried meanwhile (a sync as the network went away) and handles as offline.
            return
        answer = HTTP_ERROR_LINE.match(msg.text)
        url = (msg.location or {}).get("url") or ""
        if answer and url in self.pages_answered_4xx:
            return  # a page answered 4xx on purpose (a form shown again with its reasons)
        if (
            answer
            and int(answer.group(1)) in self.expected
            and urlsplit(url).path.startswith("/api/")
        ):
            return  # an answer of the protocol the test asked for, handled by the page
        self.errors.append(f"{page.url}: {msg.text}")

    def _response(self, response: Any) -> None:
        # A page (a navigation) may answer 4xx on purpose; its scripts, styles, images and fonts
        # may not, and nothing may answer 5xx.
        request = response.request
        if request.resource_type == "document" and 400 <= response.status < 500:
            self.pages_answered_4xx.add(request.url)
        elif response.status >= 500 or (
            response.status >= 400
            and request.resource_type in ("script", "stylesheet", "image", "font")
        ):
            self.errors.append(f"{request.resource_type} {request.url}: HTTP {response.status}")

    def _request(self, request: Any) -> None:
        where = urlsplit(request.url)
        if where.scheme in ("http", "https", "ws", "wss") and where.netloc != self.host:
            self.elsewhere.append(request.url)


def _context(
    browser: Browser, live: Live, options: dict[str, Any], expected: frozenset[int] = frozenset()
) -> Iterator[BrowserContext]:
    watch = Watch(host=urlsplit(live.base).netloc, expected=expected)
    context = browser.new_context(base_url=live.base, locale="zh-CN", **options)
    watch.attach(context)
    yield context
    context.close()
    assert not watch.errors, f"JavaScript errors: {watch.errors}"
    assert not watch.elsewhere, f"requests to another host: {watch.elsewhere}"


@pytest.fixture
def office(browser: Browser, live: Live) -> Iterator[BrowserContext]:
    """A browser context on an office screen (1366×768), in Chinese."""
    yield from _context(browser, live, OFFICE)


@pytest.fixture
def phone(browser: Browser, live: Live, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A browser context on a phone with touch, located in 长宁区, in Chinese."""
    marker = request.node.get_closest_marker("api_answers")
    expected = frozenset(marker.args) if marker else frozenset()
    yield from _context(browser, live, PHONE, expected)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """``shot(page, "step")`` writes artifacts/<test>/<n>-step.png and returns its path."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    taken = [0]

    def _shot(page: Page, name: str) -> Path:
        taken[0] += 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{taken[0]:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
