"""The public verification page (/public/documents/<code>): no login, in Chinese.

A paper copy's QR code opens it; it confirms the document's number, issuing department, date,
the enterprise and the PDF's SHA-256, in the words of the catalog (Chinese unless the browser
asks for English).
"""

from __future__ import annotations

from html import escape

from flask import Blueprint, Response

from app.documents import services
from app.documents.wording import words
from app.errors import DomainError
from app.i18n import select_language

pages = Blueprint("document_pages", __name__)

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}
th{{text-align:left;padding-right:1em;vertical-align:top}}
code{{word-break:break-all}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


@pages.get("/documents/<string:code>")
def verification_page(code: str) -> Response:
    """Show what the code confirms about a document, or that no document has it."""
    language = select_language()
    say = words(language)
    try:
        doc = services.public_document(code)
    except DomainError:
        body = f"<p>{escape(say('page.unknown'))}</p>"
        html = PAGE.format(lang=language, title=escape(say("page.title")), body=body)
        return Response(html, status=404, mimetype="text/html")
    latest = services.latest_version(doc)
    rows = [
        (say("page.kind"), doc.content.get("title", "")),
        (say("page.number"), doc.number),
        (say("page.department"), doc.content.get("department", "")),
        (say("page.date"), doc.content.get("date", "")),
        (say("page.enterprise"), doc.enterprise.name),
        (say("page.version"), str(doc.version)),
        (say("page.sha256"), f"<code>{escape(doc.sha256)}</code>"),
    ]
    table = "".join(
        f"<tr><th>{escape(k)}</th><td>{v if k == say('page.sha256') else escape(v)}</td></tr>"
        for k, v in rows
    )
    notes = [say("page.genuine")]
    if latest.id != doc.id:
        notes.append(say("page.superseded", version=latest.version))
    endpoint = f"POST /api/v1/public/documents/{doc.code}/verify"
    notes.append(say("page.howto", endpoint=endpoint))
    body = "".join(f"<p>{escape(n)}</p>" for n in notes[:1]) + f"<table>{table}</table>"
    body += "".join(f"<p>{escape(n)}</p>" for n in notes[1:])
    html = PAGE.format(lang=language, title=escape(say("page.title")), body=body)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
