"""Languages: every word a person reads comes from the message catalogs in ``app/translations``.

Source texts (msgids) are English and live in the code, wrapped in :func:`_` (translated now, in
the request's language) or :func:`_l` (translated when shown: module-level texts). Chinese
(``zh``) is the default; English (``en``) is the source language and needs no catalog. The
language of a request is, in order: the signed-in user's own setting, the ``Accept-Language``
header, Chinese; a ``fieldsafe`` command speaks its terminal's language (``LANG``), English when
that is neither; other work outside a request (the worker) Chinese. ``make translations``
compiles the catalogs; ``docs/i18n.md`` says how to add a text.

The libraries (``sync/``, ``media/``) cannot translate: their messages are ``Text``s, English
``str``s that keep their template and values (``sync.text``, ``media.text``). :func:`localize`
turns any message into the request's language at the boundary, whatever made it: one of ours,
a library's ``Text``, or one of marshmallow's own (:data:`FOREIGN`), which a validation error
carries in English with its values already in place.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click
from babel.lists import format_list
from babel.support import NullTranslations, Translations
from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_locale, gettext, lazy_gettext, ngettext, refresh
from flask_babel.speaklater import LazyString
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

#: The languages Fieldsafe speaks, the default first.
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = LANGUAGES[0]
TRANSLATIONS = Path(__file__).parent / "translations"

_ = gettext
_l = lazy_gettext

#: A message as code hands it over: worded already (``_``, or a library's ``Text``, both ``str``)
#: or worded when shown (``_l``).
Message = str | LazyString

__all__ = [
    "DEFAULT_LANGUAGE",
    "FOREIGN",
    "LANGUAGES",
    "Message",
    "N_",
    "_",
    "_l",
    "either",
    "init_i18n",
    "language_of",
    "localize",
    "localize_errors",
    "ngettext",
    "select_language",
    "settle_language",
    "terminal_language",
    "translate",
    "translate_outside_request",
]


def N_(text: str) -> str:
    """Mark ``text`` for the catalog and return it untranslated.

    Only for a table whose reader translates each entry where it is shown, with
    ``gettext(TABLE[key])``, inside a request or out of one (see :data:`app.errors.MESSAGES`).
    """
    return text


def language_of(accept: LanguageAccept) -> str:
    """Return the language Fieldsafe speaks that ``accept`` ranks highest, else Chinese.

    Each accepted tag counts for its primary language (``en-GB`` is ``en``), so a browser's
    ``en-GB, zh;q=0.5`` gets English (Werkzeug's ``best_match`` prefers any exact tag, however
    low its quality); Traditional Chinese tags get the Simplified catalog, the only one there is.
    """
    for tag, quality in accept:  # highest quality first; "*" last
        primary = tag.replace("_", "-").split("-")[0].lower()
        if quality > 0 and primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def terminal_language(environ: Mapping[str, str] = os.environ) -> str:
    """Return the language of a command's terminal: its POSIX locale (``LC_ALL``, then
    ``LC_MESSAGES``, then ``LANG``: ``zh_CN.UTF-8`` is Chinese), else English, the language of
    the command line's own words."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := environ.get(name):
            primary = value.split(".")[0].split("_")[0].split("-")[0].lower()
            return primary if primary in LANGUAGES else "en"
    return "en"


def select_language() -> str:
    """Pick the request's language: the user's setting, then Accept-Language, then Chinese."""
    if not has_request_context():
        if click.get_current_context(silent=True) is not None:  # a fieldsafe command
            return terminal_language()
        return DEFAULT_LANGUAGE
    own = getattr(g.get("user"), "locale", None)
    if own in LANGUAGES:
        return str(own)
    return language_of(request.accept_languages)


def settle_language() -> None:
    """Decide the request's language now that the caller is known, once for the request.

    Flask-Babel picks the language at the first text a request translates and keeps it; the
    request boundary calls this right after authentication, so the caller's own setting counts
    even if a text was worded before, and no later text reads the user row again (a text worded
    after a failed flush must not touch the session).
    """
    refresh()
    get_locale()


def init_i18n(app: Flask) -> None:
    """Install Flask-Babel with Fieldsafe's catalogs; answers say which language they are in."""
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            # Without its .mo (gitignored, built by make translations) a language falls back to
            # the English source texts, silently: say so where the operator looks.
            app.logger.warning("%s is not compiled; run `make translations`", po)
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


# --------------------------------------------------------------------------- at the boundary


def localize(message: Any) -> Any:
    """Return ``message`` in the request's language, whoever worded it.

    - a library's ``Text`` (``sync.text``, ``media.text``): its template from the catalog, with
      its values (a value that is itself a ``Text`` translated too);
    - ``_l(...)``: translated now;
    - a plain ``str``: one of marshmallow's messages (:data:`FOREIGN`, found by its wording) is
      translated; anything else is taken as already worded (``_(...)``) and left as it is.
    Anything that is not text (a number, None) is returned as it is.
    """
    template = getattr(message, "template", None)
    if isinstance(message, str) and isinstance(template, str):
        params = {
            key: localize(value) if hasattr(value, "template") else value
            for key, value in message.params.items()  # type: ignore[attr-defined]
        }
        return gettext(template, **params)
    if isinstance(message, LazyString):
        return str(message)
    if isinstance(message, str):
        return _foreign(message)
    return message


def localize_errors(errors: Any) -> Any:
    """Return per-field messages (nested as marshmallow nests them) in the request's language.

    A field's messages are a list, as marshmallow gives them; one message alone (marshmallow
    leaves an ``_l`` text of ``error_messages`` unwrapped) becomes a list of one.
    """
    if isinstance(errors, dict):
        return {
            key: [localize(value)]
            if isinstance(value, str | LazyString)
            else localize_errors(value)
            for key, value in errors.items()
        }
    if isinstance(errors, list | tuple):
        return [localize_errors(value) for value in errors]
    return localize(errors)


def either(items: Iterable[Any]) -> str:
    """Join ``items`` as alternatives in the request's language: "a, b, or c", "a、b或c"."""
    words = [str(localize(item)) for item in items]
    return format_list(words, style="or", locale=str(get_locale() or DEFAULT_LANGUAGE))


def translate_outside_request(accept_language: str | None, msgid: str) -> str:
    """Translate ``msgid`` for a refusal answered before any app context exists (a server's own),
    in the language its Accept-Language header asks for."""
    language = language_of(parse_accept_header(accept_language, LanguageAccept))
    return _catalog(language).gettext(msgid)


def translate(msgid: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """Translate ``msgid`` into ``language`` whatever the request asks for (a statutory
    document is worded in Chinese, in a request or a command alike)."""
    text = _catalog(language).gettext(msgid)
    return text % values if values else text


@functools.cache
def _catalog(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [language])


# --------------------------------------------------------------------------- marshmallow's words

#: What marshmallow (and through it webargs and flask-smorest) says, in its words with named
#: placeholders where it puts values. A validation error carries these in English with the values
#: in place; :func:`localize` recognises each by its wording and answers the catalog's.
#: tests/test_i18n.py checks that every message marshmallow's fields and validators can give
#: is recognised, so a marshmallow upgrade that adds one fails there first.
FOREIGN = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Invalid type."),
    N_("Invalid value."),
    N_("Invalid input."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid UUID."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid boolean."),
    N_("Not a valid list."),
    N_("Not a valid tuple."),
    N_("Not a valid mapping type."),
    N_("Not a valid datetime."),
    N_("Not a valid aware datetime."),
    N_("Not a valid naive datetime."),
    N_("Not a valid date."),
    N_("Not a valid time."),
    N_("Not a valid period of time."),
    N_("Not a valid email address."),
    N_("Not a valid URL."),
    N_("Not a valid IP address."),
    N_("Not a valid IPv4 address."),
    N_("Not a valid IPv6 address."),
    N_("Not a valid IP interface."),
    N_("Not a valid IPv4 interface."),
    N_("Not a valid IPv6 interface."),
    N_("String does not match expected pattern."),
    N_("Must be one of: %(choices)s."),
    N_("Shorter than minimum length %(min)s."),
    N_("Longer than maximum length %(max)s."),
    N_("Length must be between %(min)s and %(max)s."),
    N_("Length must be %(equal)s."),
    N_("Must be equal to %(other)s."),
    N_("One or more of the choices you made was not in: %(choices)s."),
    N_("One or more of the choices you made was in: %(values)s."),
    N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than or equal to %(min)s and less than %(max)s."),
    N_("Must be greater than %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than %(min)s and less than %(max)s."),
    N_("Must be greater than or equal to %(min)s."),
    N_("Must be greater than %(min)s."),
    N_("Must be less than or equal to %(max)s."),
    N_("Must be less than %(max)s."),
    # webargs's own, for a body its parser cannot read
    N_("Invalid JSON body."),
)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.cache
def _patterns() -> tuple[tuple[str, ...], tuple[tuple[re.Pattern[str], str], ...]]:
    """The FOREIGN templates that take values, as patterns, and the words they start with.

    The most literal templates come first, so that "greater than or equal to %(min)s" is tried
    before "greater than %(min)s". Every template starts with words of its own (FOREIGN's do):
    a message starting otherwise (a row error of an import, one of ours) is not looked at.
    """
    found = []
    for msgid in FOREIGN:
        parts = _PLACEHOLDER.split(msgid)
        if len(parts) == 1:
            continue
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        found.append((parts[0], re.compile(regex), msgid))
    found.sort(key=lambda entry: -len(_PLACEHOLDER.sub("", entry[2])))
    starts = tuple(sorted({start for start, _pattern, _msgid in found}))
    return starts, tuple((pattern, msgid) for _start, pattern, msgid in found)


def _foreign(message: str) -> str:
    translated = gettext(message)
    if translated != message:
        return translated
    starts, patterns = _patterns()
    if not message.startswith(starts):
        return message
    for pattern, msgid in patterns:
        match = pattern.fullmatch(message)
        if match:
            return gettext(msgid, **match.groupdict())
    return message
