"""HTTP helpers shared by views: input guards, pagination and optimistic-concurrency ETags."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime
from typing import Any
from urllib.parse import quote

import flask_smorest
from flask import Response, current_app, g, request
from flask_smorest.utils import deepupdate
from sqlalchemy import Select, func, select
from webargs.flaskparser import FlaskParser

from app.clock import utcnow
from app.db import session
from app.errors import MESSAGES, DomainError
from app.fields import DumpContext
from app.i18n import _, _l
from media.tus import UploadSession, session_headers

#: The highest page number a list answers; beyond it (10^8 rows at the largest page size) a
#: page number is a mistake, and an OFFSET that large overflows the database's integers.
MAX_PAGE = 1_000_000
#: How deeply JSON arrays and objects may nest in a request body. The deepest body of the API
#: (a sync push: mutations → args → location) is five levels.
MAX_JSON_DEPTH = 32
#: Longest integer literal accepted in a JSON body (Python refuses beyond 4300 digits anyway).
MAX_JSON_INT_DIGITS = 40
#: Characters no text field accepts: NUL (PostgreSQL text cannot hold it) and lone UTF-16
#: surrogates (not Unicode scalar values; they cannot be encoded as UTF-8 to store or answer).
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_BAD_CHAR_MESSAGE = _l("Contains a NUL character or an invalid Unicode code point.")
#: The errors of Python's JSON parser (json.JSONDecodeError.msg), in words a caller reads.
_JSON_ERRORS = {
    "Expecting value": _l("a value is missing or is not JSON"),
    "Expecting property name enclosed in double quotes": _l(
        "a property name must be in double quotes"
    ),
    "Expecting ':' delimiter": _l("a ':' is missing"),
    "Expecting ',' delimiter": _l("a ',' is missing"),
    "Unterminated string starting at": _l("a string is not closed"),
    "Invalid control character at": _l("a string holds a control character"),
    "Invalid \\escape": _l("a string holds an invalid escape"),
    "Invalid \\uXXXX escape": _l("a string holds an invalid \\u escape"),
    "Extra data": _l("there is more after the JSON value"),
    "Illegal trailing comma before end of object": _l("a ',' ends an object"),
    "Illegal trailing comma before end of array": _l("a ',' ends an array"),
}


class _JSONRefusal(ValueError):
    """A value the strict parse refuses, with the words that say why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Where the request's time is kept (in the WSGI environ: one per request, unlike ``g``, which
#: an app context pushed around several requests would share).
_NOW_KEY = "fieldsafe.now"


def request_now() -> datetime:
    """Return the time of this request: the clock read once, for the caller's token, the
    view's services (their ``now``) and the response's dump (:class:`Blueprint`)."""
    now = request.environ.get(_NOW_KEY)
    if now is None:
        now = request.environ[_NOW_KEY] = utcnow()
    return now  # type: ignore[no-any-return]


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _bad_json(reason: str) -> DomainError:
    # i18n: %(reason)s is one of the reasons below (a string is not closed, …).
    return DomainError(
        "bad_request", 400, _("The request body is not valid JSON: %(reason)s.", reason=reason)
    )


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _JSONRefusal(
            _("an integer longer than %(digits)s digits", digits=MAX_JSON_INT_DIGITS)
        )
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _JSONRefusal(_("%(number)s is beyond the range of a number", number=literal[:20]))
    return value


def _parse_constant(name: str) -> Any:
    raise _JSONRefusal(_("%(name)s is not a JSON number", name=name))


def _json_error(exc: json.JSONDecodeError) -> str:
    reason = _JSON_ERRORS.get(exc.msg)
    if reason is None:
        return _(
            "a syntax error at line %(line)s, column %(column)s", line=exc.lineno, column=exc.colno
        )
    return _(
        "%(reason)s at line %(line)s, column %(column)s",
        reason=reason,
        line=exc.lineno,
        column=exc.colno,
    )


def checks_own_text(view: Any) -> Any:
    """Mark a view whose schemas refuse NUL and invalid code points per item themselves.

    The sync push is one: a bad character in one mutation must reject that mutation, not the
    whole push, or the device's outbox would never drain.
    """
    view._checks_own_text = True
    return view


def _matched_view() -> Any:
    """Return the function that handles this request (a MethodView's method for its verb)."""
    view = current_app.view_functions.get(request.endpoint or "")
    cls = getattr(view, "view_class", None)
    if cls is not None:
        view = getattr(cls, request.method.lower(), None)
    return view


def _view_checks_own_text() -> bool:
    return bool(getattr(_matched_view(), "_checks_own_text", False))


def strict_json_loads(data: bytes | str, check_strings: bool = True) -> Any:
    """Parse RFC 8259 JSON: no NaN/Infinity, bounded integers, bounded nesting.

    Raises DomainError 400 (bad_request) for anything that is not such JSON, and 422
    (validation_error) for strings holding characters no field accepts.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except UnicodeDecodeError:
        raise _bad_json(_("it is not UTF-8")) from None
    except RecursionError:
        raise _too_deep() from None
    except _JSONRefusal as exc:  # what the parse hooks raise
        raise _bad_json(exc.reason) from None
    except json.JSONDecodeError as exc:
        raise _bad_json(_json_error(exc)) from None
    except ValueError:  # e.g. Python's own limit on the digits of an integer
        raise _bad_json(_("a number is too long")) from None
    _check_depth(value)
    # NUL and surrogates can only arrive as \u escapes (raw ones are not valid JSON in UTF-8),
    # so most bodies skip the walk over every string.
    if check_strings and "\\u" in text and _SUSPECT_ESCAPE.search(text):
        errors = _bad_strings(value)
        if errors:
            raise DomainError("validation_error", 422, _(MESSAGES[422]), errors)
    return value


def _too_deep() -> DomainError:
    return _bad_json(_("it nests deeper than %(depth)s levels", depth=MAX_JSON_DEPTH))


def _check_depth(value: Any) -> None:
    """Refuse containers nested deeper than MAX_JSON_DEPTH (iteratively: no stack to run out)."""
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        children = node.values() if type(node) is dict else node
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)


def _bad_strings(value: Any) -> dict[str, Any]:
    """Return per-field errors for the strings and keys holding characters no field accepts."""
    errors: dict[str, Any] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _BAD_CHARS.search(node):
                _put_error(errors, path)
        elif isinstance(node, dict):
            for key, child in node.items():
                if _BAD_CHARS.search(key):
                    _put_error(errors, (*path, _BAD_CHARS.sub("?", key)))
                else:
                    stack.append((child, (*path, key)))
        elif isinstance(node, list):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(node))
    return errors


def _put_error(errors: dict[str, Any], path: tuple[str, ...]) -> None:
    """Nest a message under `path` the way marshmallow nests per-field messages."""
    if not path:
        errors["_schema"] = [_BAD_CHAR_MESSAGE]
        return
    node = errors
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return
    node[path[-1]] = [_BAD_CHAR_MESSAGE]


def check_request_input() -> None:
    """Refuse input no view can handle, before any view parses it (a before_request hook).

    - a NUL in the path: 404 (no resource has such a name);
    - a NUL in a query parameter: 422, naming the parameter;
    - a JSON body (by Content-Type) that is not strict RFC 8259 JSON: 400; see strict_json_loads;
    - a body of another Content-Type (or none) sent to a view that takes JSON: 415 (its
      parser would silently see no body: a PATCH would succeed, changing nothing).
    The parsed body is kept on ``g``, where the views' argument parser (see
    :class:`Blueprint`) takes it instead of parsing the body again.
    """
    if "\x00" in request.path:
        raise DomainError("not_found", 404, _(MESSAGES[404]))
    bad = {
        _BAD_CHARS.sub("?", key): [_BAD_CHAR_MESSAGE]
        for key, value in request.args.items(multi=True)
        if "\x00" in key or "\x00" in value
    }
    if bad:
        raise DomainError("validation_error", 422, _(MESSAGES[422]), bad)
    if not _is_json(request.mimetype):
        has_body = bool(request.content_length) or "chunked" in request.headers.get(
            "Transfer-Encoding", ""
        )
        if has_body and _takes_json_body():
            raise DomainError("unsupported_media_type", 415, _(MESSAGES[415]))
        return
    data = request.get_data(cache=True)
    if data.strip():
        g.json_body = strict_json_loads(data, check_strings=not _view_checks_own_text())


def _takes_json_body() -> bool:
    """Tell whether the matched view parses a JSON body (@blp.arguments, location json)."""
    arguments = getattr(_matched_view(), "_apidoc", {}).get("arguments", {})
    return any(p.get("in") == "json" for p in arguments.get("parameters", ()))


def paginate(stmt: Select[Any], pagination_parameters: Any) -> list[Any]:
    """Run `stmt` for one page and record the total for the X-Pagination header."""
    if pagination_parameters.page > MAX_PAGE:
        raise DomainError(
            "validation_error",
            422,
            _(MESSAGES[422]),
            {"page": [_("Must be less than or equal to %(max)s.", max=MAX_PAGE)]},
        )
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pagination_parameters.item_count = total or 0
    page = stmt.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    return list(session.execute(page).scalars())


def version_etag(entity_type: str, entity_id: Any, version: int) -> str:
    """Return the strong ETag of a versioned resource."""
    return f'"{entity_type}-{entity_id}-v{version}"'


def set_etag(etag: str) -> None:
    """Send `etag` (quoted) with this response."""
    g.response_etag = etag


# --------------------------------------------------------------------------- versioned views
#
# The one way every versioned resource (a row with a `version` column that each change
# increments) does optimistic concurrency; docs/concurrency.md states the rule:
#
#   1. the view is decorated with sends_etag(kind) (reads, creates) or takes_if_match(kind)
#      (updates and actions): the answer carries the returned entity's ETag, and OpenAPI
#      documents the ETag header, the If-Match parameter and the 409/412/428 answers;
#   2. the view resolves the caller and checks roles, then loads the row through the
#      service's locked load (app.db.for_update: SELECT … FOR UPDATE, populate_existing);
#   3. it calls check_if_match on that locked row's ETag, then the service that writes (a
#      service that locks the row by id itself, as apply_action does, takes check_if_match
#      as its `check_etag` and calls it right after the lock).
#
# Because the row is locked before its version is compared, a second writer holding the same
# ETag waits for the first to commit and then fails the check (412): no update is lost.


def _declared_if_match() -> bool | None:
    """Return how the matched view takes If-Match: required, optional (False) or undeclared."""
    versioned = getattr(_matched_view(), "_apidoc", {}).get("versioned") or {}
    return versioned.get("if_match")


def check_if_match(current: str, required: bool | None = None) -> None:
    """Refuse a stale update (412) or, when required, an update without If-Match (428).

    Call it with the ETag of the row as locked for the write (see app.db.for_update). When
    `required` is not given, the view's takes_if_match declaration decides (default: required).
    """
    if required is None:
        required = _declared_if_match() is not False
    header = request.headers.get("If-Match")
    if not header:
        if required:
            raise DomainError("precondition_required", 428, _(MESSAGES[428]))
        return
    candidates = [c.strip() for c in header.split(",")]
    if "*" in candidates or current in candidates or current.strip('"') in candidates:
        return
    raise DomainError("precondition_failed", 412, _(MESSAGES[412]), etag=current)


def _versioned_view(kind: str, if_match: bool | None) -> Callable[[Any], Any]:
    def decorator(view: Any) -> Any:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            answer = view(*args, **kwargs)
            # A view may answer (entity, status), e.g. 202 for work handed to the worker.
            entity = answer[0] if isinstance(answer, tuple) else answer
            if not isinstance(entity, Response):
                set_etag(version_etag(kind, entity.id, entity.version))
            return answer

        # flask-smorest's own decorators keep _apidoc this way; Blueprint reads "versioned".
        wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))  # type: ignore[attr-defined]
        wrapper._apidoc["versioned"] = {"kind": kind, "if_match": if_match}  # type: ignore[attr-defined]
        return wrapper

    return decorator


def sends_etag(kind: str) -> Callable[[Any], Any]:
    """Send the returned entity's version ETag (``"kind-id-vN"``) and document the header.

    For the reads and creates of a versioned resource; put it below ``@blp.response``.
    """
    return _versioned_view(kind, None)


def takes_if_match(kind: str, required: bool = True) -> Callable[[Any], Any]:
    """Mark an update or action of a versioned resource: If-Match, 409/412/428, the new ETag.

    The view still calls :func:`check_if_match` itself, on the row as locked for the write.
    `required=False` for the updates that accepted no If-Match before it was added: a stale
    one is refused (412), none at all is let through.
    """
    return _versioned_view(kind, required)


def sends_digest_etag(view: Any) -> Any:
    """Document the content-digest ETag a read of an immutable resource sets itself.

    With it OpenAPI shows the ETag header, the If-None-Match parameter and the 304 answer.
    """
    view._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    view._apidoc["digest_etag"] = True
    return view


IF_MATCH_DOC = "The ETag you last read; a stale one is refused (412) and nothing is changed."
ETAG_DOC = "The version tag of the returned entity; send it back as If-Match to change it."
DIGEST_ETAG_DOC = "The content digest; send it as If-None-Match to be answered 304 if unchanged."
IF_NONE_MATCH_DOC = "The ETag of the copy you hold; 304 (no body) when it is still current."


def if_none_match(etag: str) -> bool:
    """Tell whether the client already holds `etag` (answer 304)."""
    header = request.headers.get("If-None-Match", "")
    return (
        any(c.strip() in (etag, etag.strip('"'), "*") for c in header.split(","))
        if header
        else False
    )


class _ParsedBodyParser(FlaskParser):
    """Takes the JSON body as :func:`check_request_input` parsed it, rather than again."""

    def _raw_load_json(self, req: Any) -> Any:
        if "json_body" in g:
            return g.json_body
        return super()._raw_load_json(req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint: arguments from the strictly parsed body; versioned views;
    responses dumped as of the request's time (:func:`request_now`, in :data:`DumpContext`)."""

    ARGUMENTS_PARSER = _ParsedBodyParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_versioned_doc)

    def response(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """flask-smorest's ``response``, its view and dump run in a DumpContext of the request."""
        smorest_decorator = super().response(*args, **kwargs)

        def decorator(func: Any) -> Any:
            dumping = smorest_decorator(func)

            @functools.wraps(dumping)
            def wrapper(*a: Any, **kw: Any) -> Any:
                with DumpContext({"now": request_now()}):
                    return dumping(*a, **kw)

            return wrapper

        return decorator

    @staticmethod
    def _prepare_versioned_doc(
        doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        """Document what sends_etag/takes_if_match declared: ETag, If-Match, 409/412/428."""
        if doc_info.get("digest_etag"):
            for status in doc_info.get("success_status_codes", []):
                headers = doc["responses"][status].setdefault("headers", {})
                headers["ETag"] = {"description": DIGEST_ETAG_DOC, "schema": {"type": "string"}}
            doc.setdefault("parameters", []).append(
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": IF_NONE_MATCH_DOC,
                    "schema": {"type": "string"},
                }
            )
            doc["responses"].setdefault(304, {"description": "Not modified"})
        versioned = doc_info.get("versioned")
        if not versioned:
            return doc
        for status in doc_info.get("success_status_codes", []):
            headers = doc["responses"][status].setdefault("headers", {})
            headers["ETag"] = {"description": ETAG_DOC, "schema": {"type": "string"}}
        required = versioned["if_match"]
        if required is None:
            return doc
        doc.setdefault("parameters", []).append(
            {
                "name": "If-Match",
                "in": "header",
                "required": required,
                "description": IF_MATCH_DOC,
                "schema": {"type": "string"},
            }
        )
        responses = {409: "CONFLICT", 412: "PRECONDITION_FAILED"}
        if required:
            responses[428] = "PRECONDITION_REQUIRED"
        return deepupdate(doc, {"responses": responses})


def file_response(
    content: bytes, mimetype: str, filename: str, *, inline: bool = False, etag: str | None = None
) -> Response:
    """Answer a file (an XLSX export, a document's PDF): its name, never cached by proxies."""
    response = Response(content, mimetype=mimetype)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename={quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    if etag is not None:
        response.headers["ETag"] = f'"{etag}"'
    return response


def tus_response(status: int, upload: UploadSession | None = None, **headers: str) -> Response:
    """Answer a tus request: the protocol's version, the session's offset and length, extras."""
    response = Response(status=status)
    response.headers["Tus-Resumable"] = "1.0.0"
    if upload is not None:
        response.headers.update(session_headers(upload))
    response.headers.update(headers)
    return response
