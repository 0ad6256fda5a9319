"""The field app's pages: ``/app/`` (the shell), its manifest, its service worker (scope
``/app/``), its icons and its texts (``/app/i18n/<lang>.json``, from the gettext catalog).

Everything is public: the shell holds no data; the app signs in with the API's tokens.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template
from flask_babel import force_locale, gettext
from PIL import Image, ImageDraw

from app.errors import DomainError
from app.fieldapp.texts import TEXTS
from app.i18n import DEFAULT_LANGUAGE, LANGUAGES, _

bp = Blueprint("fieldapp", __name__, url_prefix="/app", template_folder="templates")

#: The bundles ``web/build.mjs`` writes (``make assets``).
DIST = Path(__file__).resolve().parents[1] / "static" / "dist"
BUNDLES = ("app.js", "sw.js")
#: The theme colour: the safety orange of the icons and the status bar.
THEME = "#c2410c"
ICON_SIZES = (192, 512)


def _bundle(name: str) -> bytes:
    path = DIST / name
    if not path.is_file():
        raise DomainError(
            "fieldapp.not_built",
            503,
            _("The field app is not built on this server; run `make assets`."),
        )
    return path.read_bytes()


def catalog(language: str) -> dict[str, str]:
    """Return ``{msgid: text}`` of every field-app text in ``language``."""
    with force_locale(language):
        return {text: gettext(text) for text in TEXTS}


def _version() -> str:
    """A digest of what the app is made of: a new one makes the service worker update."""
    digest = hashlib.sha256()
    for name in BUNDLES:
        digest.update(_bundle(name))
    digest.update((Path(__file__).parent / "templates" / "fieldapp" / "shell.html").read_bytes())
    for language in LANGUAGES:
        digest.update(json.dumps(catalog(language), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _precache(version: str) -> list[str]:
    return [
        "/app/",
        "/app/manifest.webmanifest",
        f"/static/dist/app.js?v={version}",
        *(f"/app/i18n/{language}.json?v={version}" for language in LANGUAGES),
        *(f"/app/icon-{size}.png" for size in ICON_SIZES),
    ]


def _no_cache(resp: Response) -> Response:
    # The service worker caches the app; the browser's HTTP cache must not serve a stale shell.
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/")
def shell() -> Response:
    """The app's one HTML page; the script draws every screen."""
    version = _version()
    html = render_template(
        "fieldapp/shell.html",
        version=version,
        theme=THEME,
        languages=list(LANGUAGES),
        default_language=DEFAULT_LANGUAGE,
    )
    return _no_cache(Response(html, mimetype="text/html"))


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: installable, standalone, its scope /app/."""
    body = {
        "name": _("Fieldsafe field inspections"),
        "short_name": _("Field inspections"),
        "description": _("Work-safety inspections on site, with or without a network."),
        "lang": "zh-CN",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {
                "src": f"/app/icon-{size}.png",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for size in ICON_SIZES
        ],
    }
    resp = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    return _no_cache(resp)


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, told this build's version and what to precache."""
    version = _version()
    head = f"self.FIELDSAFE = {json.dumps({'version': version, 'precache': _precache(version)})};\n"
    resp = Response(head.encode() + _bundle("sw.js"), mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/app/"
    return _no_cache(resp)


@bp.get("/i18n/<lang>.json")
def texts(lang: str) -> Any:
    """Every text the app shows, in ``lang``, from the server's message catalog."""
    if lang not in LANGUAGES:
        raise DomainError(
            "fieldapp.unknown_language",
            404,
            _(
                "No texts in %(lang)s; the app speaks %(languages)s.",
                lang=lang[:20],
                languages=", ".join(LANGUAGES),
            ),
        )
    resp = Response(json.dumps(catalog(lang), ensure_ascii=False), mimetype="application/json")
    resp.headers["Content-Language"] = lang
    return _no_cache(resp)


@lru_cache(maxsize=len(ICON_SIZES))
def _icon(size: int) -> bytes:
    """Draw the icon here (no outside asset): a white check mark on safety orange."""
    image = Image.new("RGB", (size, size), THEME)
    draw = ImageDraw.Draw(image)
    s = size / 192
    draw.rounded_rectangle(
        (36 * s, 36 * s, 156 * s, 156 * s),
        radius=18 * s,
        outline="white",
        width=max(2, int(10 * s)),
    )
    draw.line(
        [(62 * s, 98 * s), (86 * s, 124 * s), (132 * s, 70 * s)],
        fill="white",
        width=max(3, int(14 * s)),
        joint="curve",
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@bp.get("/icon-<int:size>.png")
def icon(size: int) -> Response:
    """The app's icon in one of its sizes."""
    if size not in ICON_SIZES:
        abort(404)
    resp = Response(_icon(size), mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp
