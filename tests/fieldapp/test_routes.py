"""The field app's pages (app/fieldapp): the shell, its manifest, its service worker, its icons and
its texts, each from this server and public (the shell holds no data), and every text the app's
code shows listed for the catalog, with its Chinese."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.fieldapp.routes import DIST
from app.fieldapp.texts import TEXTS
from app.i18n import TRANSLATIONS

ROOT = Path(__file__).resolve().parents[2]
APP_JS = ROOT / "web" / "src" / "app"
HAN = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.skipif(
    not (DIST / "app.js").exists(), reason="the field app is not built: make assets"
)


def test_the_shell_loads_the_bundle_and_the_manifest_from_here(client):
    resp = client.get("/app/", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert resp.headers["Cache-Control"] == "no-cache"
    html = resp.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "<title>Fieldsafe 现场检查</title>" in html
    version = re.search(r'src="/static/dist/app\.js\?v=([0-9a-f]{16})"', html).group(1)
    assert f'data-version="{version}"' in html
    assert 'href="/app/manifest.webmanifest"' in html
    with client.get(f"/static/dist/app.js?v={version}") as bundle:
        assert bundle.status_code == 200


def test_the_manifest_makes_an_installable_app_scoped_to_app(client):
    resp = client.get("/app/manifest.webmanifest", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 200
    assert resp.mimetype == "application/manifest+json"
    manifest = json.loads(resp.get_data(as_text=True))
    assert manifest["start_url"] == manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    assert manifest["name"] == "Fieldsafe 现场检查"
    for icon in manifest["icons"]:
        got = client.get(icon["src"])
        assert got.status_code == 200 and got.mimetype == "image/png"
        assert got.data.startswith(b"\x89PNG")
        size = int(icon["sizes"].split("x")[0])
        assert int.from_bytes(got.data[16:20], "big") == size  # the PNG's width


def test_the_service_worker_is_served_under_its_scope_with_what_to_precache(client):
    resp = client.get("/app/sw.js")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert resp.headers["Service-Worker-Allowed"] == "/app/"
    assert resp.headers["Cache-Control"] == "no-cache"
    head, _sep, body = resp.get_data(as_text=True).partition("\n")
    config = json.loads(head.removeprefix("self.FIELDSAFE = ").removesuffix(";"))
    assert body.strip() == (DIST / "sw.js").read_text().strip()
    shell = client.get("/app/").get_data(as_text=True)
    assert f"/static/dist/app.js?v={config['version']}" in config["precache"]
    assert f"app.js?v={config['version']}" in shell  # the shell loads exactly what is cached
    for url in config["precache"]:
        with client.get(url) as got:
            assert got.status_code == 200, url


def test_the_catalog_gives_every_text_in_chinese(client):
    resp = client.get("/app/i18n/zh.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Language"] == "zh"
    texts = resp.json
    assert set(texts) == set(TEXTS)
    assert texts["Sign in"] == "登录"
    assert all(HAN.search(value) for value in texts.values()), [
        k for k, v in texts.items() if not HAN.search(v)
    ]
    # The words the app uses before a submit are the server's own refusals' words.
    assert texts[
        "Answer every item of the checklist before submitting; unanswered: %(codes)s."
    ] == ("提交前须逐项填写检查表，尚未填写：%(codes)s。")


def test_the_catalog_in_english_is_the_source_text(client):
    texts = client.get("/app/i18n/en.json").json
    assert all(key == value for key, value in texts.items())


def test_an_unknown_language_is_a_clean_404(client):
    resp = client.get("/app/i18n/fr.json")
    assert resp.status_code == 404
    assert resp.json["code"] == "fieldapp.unknown_language"
    assert client.get("/app/icon-33.png").status_code == 404


def _texts_in_the_code() -> set[str]:
    """What the app's code passes to t(…), and the words of its *_WORDS tables."""
    found: set[str] = set()
    for path in sorted(APP_JS.glob("*.js")):
        source = path.read_text(encoding="utf-8")
        found |= {json.loads(f'"{m}"') for m in re.findall(r'\bt\(\s*"((?:[^"\\]|\\.)*)"', source)}
        for block in re.findall(r"const \w+_WORDS = \{(.*?)\};", source, re.S):
            found |= {json.loads(f'"{m}"') for m in re.findall(r':\s*"((?:[^"\\]|\\.)*)"', block)}
    return found


def test_every_text_the_app_shows_is_in_the_catalog_with_its_chinese():
    in_code = _texts_in_the_code()
    assert "Check in here" in in_code
    assert sorted(in_code - set(TEXTS)) == [], "add these to app/fieldapp/texts.py"
    with (TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    untranslated = [text for text in TEXTS if not (catalog.get(text) and catalog.get(text).string)]
    assert untranslated == [], "make messages, then translate these (docs/i18n.md)"


def test_an_unbuilt_app_is_a_clean_503_naming_the_fix(client, monkeypatch, tmp_path):
    monkeypatch.setattr("app.fieldapp.routes.DIST", tmp_path)
    for path in ("/app/", "/app/sw.js"):
        resp = client.get(path)
        assert resp.status_code == 503, path
        assert resp.json["code"] == "fieldapp.not_built"
        assert "make assets" in resp.json["message"]
