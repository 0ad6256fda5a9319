"""Every HTML page the app serves works with no outside network: nothing it loads, and nothing
it links to, is on another host (the system lives on a government intranet, 政务外网)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

HOST = "localhost"  # the test client's host
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
SCRIPT_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>]*""")
URL_ATTRS = {"src", "href", "action", "formaction", "poster", "data", "background"}


class References(HTMLParser):
    """The URLs a page loads or links to: attributes, srcset, inline styles and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []  # text of <script> and <style> elements
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value:
                continue
            if name in URL_ATTRS:
                self.urls.append(value)
            elif name == "srcset":
                self.urls += [part.split()[0] for part in value.split(",") if part.strip()]
            elif name == "style":
                self.urls += [a or b for a, b in CSS_URL.findall(value)]
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.urls += [a or b for a, b in CSS_URL.findall(data)]
        elif self._in == "script":
            self.inline.append(data)


def _html_pages(app, client, headers):
    """GET every argument-free route; keep those answering HTML."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments:
            continue
        for h in ({}, headers):
            with client.get(rule.rule, headers=h) as resp:
                html = resp.status_code == 200 and resp.mimetype == "text/html"
            if html:
                yield rule.rule
                break


def _walk(client, start: str) -> tuple[set[str], list[str]]:
    """Fetch a page and everything it references on this host; return what was fetched and
    every reference to another host."""
    seen: set[str] = set()
    foreign: list[str] = []
    todo = [f"http://{HOST}{start}"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        parts = urlsplit(url)
        with client.get(parts.path + (f"?{parts.query}" if parts.query else "")) as resp:
            assert resp.status_code == 200, (url, resp.status_code)
            mimetype, body = resp.mimetype, resp.get_data()
        text = body.decode() if mimetype in ("text/html", "text/css") else ""
        refs: list[str] = []
        if mimetype == "text/html":
            parser = References()
            parser.feed(text)
            refs = parser.urls
            for script in parser.inline:
                foreign += [f"{url}: {u}" for u in SCRIPT_URL.findall(script)]
        elif mimetype == "text/css":
            refs = [a or b for a, b in CSS_URL.findall(text)]
        for ref in refs:
            if ref.startswith(("data:", "#", "javascript:", "mailto:")):
                continue
            target = urljoin(url, ref)
            if urlsplit(target).netloc != HOST:
                foreign.append(f"{url}: {ref}")
            else:
                todo.append(target.split("#")[0])
    return seen, foreign


def test_every_html_page_and_its_assets_come_from_this_server(app, client, make, login):
    pages = list(_html_pages(app, client, login(make.user("admin"))))
    assert "/docs" in pages
    fetched_all = set()
    for page in pages:
        fetched, foreign = _walk(client, page)
        assert foreign == [], foreign
        fetched_all |= fetched
    # The docs page really loads Swagger UI from here: its script and style sheet.
    assert {f"http://{HOST}/docs/swagger-ui-bundle.js", f"http://{HOST}/docs/swagger-ui.css"} <= (
        fetched_all
    )


def test_swagger_ui_is_told_not_to_call_out(client):
    page = client.get("/docs").get_data(as_text=True)
    config = json.loads(re.search(r"var user_config = (\{.*?\});", page).group(1))
    # Swagger UI's default validatorUrl sends the document to validator.swagger.io.
    assert config["validatorUrl"] is None
    assert config["url"] == "/api/v1/openapi.json"
    assert not urlsplit(config["oauth2RedirectUrl"]).netloc
