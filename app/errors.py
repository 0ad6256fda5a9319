"""One error vocabulary: DomainError, and the one handler that shapes every error response.

Every message leaves through the handlers here, in the request's language (``app.i18n``): a
DomainError's ``message`` and ``errors`` may be worded already (``_``), worded when shown
(``_l``), or a library's ``Text``; :func:`app.i18n.localize` makes each the request's words.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from werkzeug.exceptions import HTTPException, RequestHeaderFieldsTooLarge
from werkzeug.serving import WSGIRequestHandler

from app.extensions import limiter
from app.i18n import (
    N_,
    Message,
    _,
    _l,
    either,
    localize,
    localize_errors,
    translate_outside_request,
)


class DomainError(Exception):
    """A refusal with a stable dotted code, an HTTP status and a message that says what to do."""

    def __init__(
        self,
        code: str,
        status: int,
        message: Message,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        persist: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        #: Commit what the request wrote before refusing (e.g. revoking a token family on reuse).
        self.persist = persist
        self.code = code
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class ErrorSchema(Schema):
    """The one error body, as the OpenAPI document describes it (docs/api.md, "API conventions")."""

    code = fields.String(
        required=True, metadata={"description": "stable machine code, e.g. hazard.not_found"}
    )
    status = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    message = fields.String(required=True, metadata={"description": "what to do about it"})
    errors = fields.Dict(metadata={"description": "per-field messages"})
    retry_after = fields.Integer(
        metadata={"description": "on 429: seconds to wait, as in the Retry-After header"}
    )


#: What a 404 names, by the ``what`` of :func:`not_found` (the first part of its code). Each
#: ``what`` a caller passes must be here: tests/test_i18n.py checks every call in app/.
NOUNS = {
    "resource": _l("resource"),
    "device": _l("device"),
    "user": _l("user"),
    "enterprise": _l("enterprise"),
    "inspection": _l("inspection"),
    "finding": _l("finding"),
    "hazard": _l("hazard"),
    "public_report": _l("public report"),
    "sampling_plan": _l("sampling plan"),
    "sampling_draw": _l("sampling draw"),
    "document": _l("document"),
}


def not_found(what: str = "resource") -> DomainError:
    """Return the 404 used for anything missing or outside the caller's scope."""
    return DomainError(
        f"{what}.not_found",
        404,
        # i18n: %(what)s is a noun of app.errors.NOUNS (hazard, enterprise, user …).
        _l("No such %(what)s, or it is outside your scope.", what=NOUNS[what]),
    )


HTTP_CODES = {
    400: "bad_request",
    401: "auth.required",
    403: "auth.forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "request_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    431: "request_header_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}

#: Our words for the refusals that Werkzeug (routing, body size) and the servers word
#: generically, as msgids: translated where shown, in a request or before one (a server's own).
MESSAGES = {
    400: N_("The server could not understand the request."),
    401: N_("Log in first: send 'Authorization: Bearer <access_token>'."),
    403: N_("You may not do this."),
    404: N_(
        "Nothing here: check the address and any id in it (ids are UUIDs); /docs lists the API."
    ),
    406: N_("The server answers in JSON only; accept application/json."),
    409: N_("The request conflicts with the current state; fetch it again and retry."),
    412: N_("The resource changed since you read it; fetch it again and retry."),
    413: N_("The request body is too large; send a smaller one."),
    414: N_("The address is too long; send a shorter one."),
    415: N_("Send the request body as JSON, with Content-Type: application/json."),
    422: N_("The request has invalid fields; see errors."),
    428: N_("Send If-Match with the ETag you last read, so that no one's change is overwritten."),
    429: N_("Too many requests; retry later."),
    431: N_("A request header is too large; send shorter headers."),
    500: N_("Something went wrong on the server; retry later."),
    501: N_("The server does not support this request method."),
    505: N_("The server supports HTTP/1.0 and HTTP/1.1 only."),
}
#: For a status none of the above words.
REFUSED = N_("The server refused the request.")


def _body(code: str, status: int, message: str, errors: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": status, "message": message}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _own_message(err: HTTPException) -> str:
    if err.code == 405:
        allowed = sorted(set(getattr(err, "valid_methods", None) or ()) - {"HEAD", "OPTIONS"})
        if not allowed:
            return _("%(method)s is not allowed here.", method=request.method)
        return _(
            "%(method)s is not allowed here; use %(allowed)s.",
            method=request.method,
            allowed=either(allowed),
        )
    message = MESSAGES.get(err.code or 500, REFUSED)
    return _(message)


def refuse_oversized_headers() -> None:
    """Refuse any request header longer than MAX_HEADER_BYTES with 431 (a before_request hook).

    Servers refuse their own larger sizes with a page of their own; the app refuses first.
    """
    limit = current_app.config["MAX_HEADER_BYTES"]
    if any(len(name) + len(value) > limit for name, value in request.headers.items()):
        raise RequestHeaderFieldsTooLarge(
            _("A request header is larger than %(limit)s bytes; send shorter headers.", limit=limit)
        )


class JSONErrorRequestHandler(WSGIRequestHandler):
    """The development server's handler: what the server refuses before the app sees it (a
    header line over 64 KiB, too many headers, a bad request line) gets the JSON error body,
    not http.server's HTML page, in the language of its Accept-Language header when the server
    read the headers (Chinese when it could not)."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request refused before the app saw it, in the one error shape."""
        self.log_error("code %d, message %s", code, message)
        headers = getattr(self, "headers", None)
        accept = headers.get("Accept-Language") if headers is not None else None
        text = translate_outside_request(accept, MESSAGES.get(code, REFUSED))
        body = json.dumps(
            _body(HTTP_CODES.get(code, "http_error"), code, text), ensure_ascii=False
        ).encode()
        self.send_response(code, message)
        self.send_header("Connection", "close")
        if code >= 200 and code not in (204, 205, 304):
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        else:
            self.end_headers()


def _seconds_to_wait() -> int:
    # The breached limit with the latest reset: the limiter evaluates every limit of a request.
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else 60


def register_error_handlers(app: Flask) -> None:
    """Shape DomainError, HTTP errors and anything unexpected into the one JSON error body."""
    app.before_request(refuse_oversized_headers)

    @app.errorhandler(DomainError)
    def _domain(err: DomainError) -> Any:
        if err.persist:
            g.commit_on_error = True
        message, errors = localize(err.message), localize_errors(err.errors)
        resp = jsonify(_body(err.code, err.status, message, errors, **err.extra))
        resp.status_code = err.status
        resp.headers.update(err.headers)
        return resp

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        status = err.code or 500
        errors = None
        code = HTTP_CODES.get(status, "http_error")
        message = err.description or err.name
        if message == type(err).description:  # Werkzeug's generic words: say it our way
            message = _own_message(err)
        data = getattr(err, "data", None)  # flask-smorest/webargs attach parsing messages here
        if isinstance(data, dict) and "messages" in data:
            messages = data["messages"]
            # webargs nests messages by location ("json", "query"); flatten one location.
            if isinstance(messages, dict) and len(messages) == 1:
                errors = next(iter(messages.values()))
            else:
                errors = messages
            message = _("The request has invalid fields; see errors.")
        if status == 400 and errors is None and "JSON" in str(message):
            message = _("The request body is not valid JSON.")
        if status == 422:
            code = "validation_error"
        extra: dict[str, Any] = {}
        if isinstance(err, RateLimitExceeded):
            extra["retry_after"] = _seconds_to_wait()
            # A limit without its own error_message says only "5 per 1 hour".
            reason = err.description if err.limit.error_message else _("Too many requests")
            message = _(
                # i18n: %(reason)s is one of the rate limits' messages (app/auth/limits.py …).
                "%(reason)s; retry in %(seconds)s seconds.",
                reason=localize(reason),
                seconds=extra["retry_after"],
            )
        resp = jsonify(_body(code, status, localize(message), localize_errors(errors), **extra))
        resp.status_code = status
        if extra:
            resp.headers["Retry-After"] = str(extra["retry_after"])
        if status == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        retry_after = getattr(err, "retry_after", None)
        if retry_after:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    @app.errorhandler(StatementError)
    def _statement(err: StatementError) -> Any:
        # A bind processor (e.g. UTCDateTime) refused a value with a DomainError; SQLAlchemy
        # wraps whatever a bind processor raises, so unwrap it here.
        if isinstance(err.orig, DomainError):
            return _domain(err.orig)
        if isinstance(err, DataError) or isinstance(err.orig, OverflowError):
            return _unstorable(err)
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return _database_lost(err)
        return _unexpected(err)

    def _database_lost(err: DBAPIError) -> Any:
        # The database dropped the connection (a restart, a failover): the pool connects anew
        # and nothing of the request was kept, so the client retries, as after a lost answer.
        app.logger.warning("database connection lost: %s", err.orig)
        resp = jsonify(
            _body(
                "server.unavailable",
                503,
                _("The database is briefly unavailable; retry this request shortly."),
            )
        )
        resp.status_code = 503
        resp.headers["Retry-After"] = "1"
        return resp

    @app.errorhandler(OverflowError)
    def _unstorable(err: Exception) -> Any:
        # The database refused a value (a number beyond its integer range, a NUL character in
        # text, a time it cannot represent): input that validation should have caught. Answer
        # 422 rather than 500, and log it so that the missing validation gets added.
        app.logger.warning("value refused by the database: %s", err, exc_info=err)
        resp = jsonify(
            _body(
                "validation_error",
                422,
                _("A value in the request is out of the range the server can store."),
            )
        )
        resp.status_code = 422
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        app.logger.exception("unhandled error")
        resp = jsonify(_body("server_error", 500, _(MESSAGES[500])))
        resp.status_code = 500
        return resp
