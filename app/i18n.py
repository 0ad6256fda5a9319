"""Languages: every word a person reads comes from the message catalogs in ``app/translations``.

Source texts (msgids) are English and live in the code, wrapped in :func:`_` (translated now, in
the request's language) or :func:`_l` (translated when shown: module-level texts). Chinese
(``zh``) is the default; English (``en``) is the source language and needs no catalog. The
language of a request is, in order: the signed-in user's own setting, the ``Accept-Language``
header, Chinese. ``make translations`` compiles the catalogs; ``docs/i18n.md`` says how to add a
text.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_locale, gettext, lazy_gettext, ngettext

#: The languages Fieldsafe speaks, the default first.
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = LANGUAGES[0]
TRANSLATIONS = Path(__file__).parent / "translations"

_ = gettext
_l = lazy_gettext
__all__ = ["LANGUAGES", "_", "_l", "init_i18n", "ngettext", "select_language"]


def select_language() -> str:
    """Pick the request's language: the user's setting, then Accept-Language, then Chinese."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    user = g.get("user")
    own = getattr(user, "locale", None)
    if own in LANGUAGES:
        return str(own)
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


def init_i18n(app: Flask) -> None:
    """Install Flask-Babel with Fieldsafe's catalogs; answers say which language they are in."""
    Babel(
        app,
        locale_selector=select_language,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(TRANSLATIONS),
        default_timezone="Asia/Shanghai",
    )

    @app.after_request
    def _content_language(response: Response) -> Response:
        response.headers.setdefault("Content-Language", str(get_locale() or DEFAULT_LANGUAGE))
        response.vary.add("Accept-Language")
        return response
