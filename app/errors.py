"""One error vocabulary: DomainError, and the one handler that shapes every error response."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, StatementError
from werkzeug.exceptions import HTTPException, RequestHeaderFieldsTooLarge
from werkzeug.serving import WSGIRequestHandler

from app.extensions import limiter


class DomainError(Exception):
    """A refusal with a stable dotted code, an HTTP status and a message that says what to do."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
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


def not_found(what: str = "resource") -> DomainError:
    """Return the 404 used for anything missing or outside the caller's scope."""
    return DomainError(f"{what}.not_found", 404, f"No such {what}, or it is outside your scope.")


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

#: Our words for the refusals that Werkzeug (routing, body size) and the servers word generically.
MESSAGES = {
    400: "The server could not understand the request.",
    404: "Nothing here: check the address and any id in it (ids are UUIDs); /docs lists the API.",
    413: "The request body is too large; send a smaller one.",
    414: "The address is too long; send a shorter one.",
    431: "A request header is too large; send shorter headers.",
    501: "The server does not support this request method.",
    505: "The server supports HTTP/1.0 and HTTP/1.1 only.",
}


def _body(code: str, status: int, message: str, errors: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": status, "message": message}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _own_message(err: HTTPException) -> str:
    if err.code == 405:
        allowed = sorted(set(getattr(err, "valid_methods", None) or ()) - {"HEAD", "OPTIONS"})
        return f"{request.method} is not allowed here; use {' or '.join(allowed) or 'another'}."
    return MESSAGES.get(err.code or 500, str(err.description or err.name))


def refuse_oversized_headers() -> None:
    """Refuse any request header longer than MAX_HEADER_BYTES with 431 (a before_request hook).

    Servers refuse their own larger sizes with a page of their own; the app refuses first.
    """
    limit = current_app.config["MAX_HEADER_BYTES"]
    if any(len(name) + len(value) > limit for name, value in request.headers.items()):
        raise RequestHeaderFieldsTooLarge(
            f"A request header is larger than {limit} bytes; send shorter headers."
        )


class JSONErrorRequestHandler(WSGIRequestHandler):
    """The development server's handler: what the server refuses before the app sees it (a
    header line over 64 KiB, too many headers, a bad request line) gets the JSON error body,
    not http.server's HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request refused before the app saw it, in the one error shape."""
        self.log_error("code %d, message %s", code, message)
        text = MESSAGES.get(code) or message or "The server refused the request."
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
        resp = jsonify(_body(err.code, err.status, err.message, err.errors, **err.extra))
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
            message = "The request has invalid fields; see errors."
        if status == 400 and errors is None:
            message = "The request body is not valid JSON." if "JSON" in str(message) else message
        if status == 422:
            code = "validation_error"
        extra: dict[str, Any] = {}
        if isinstance(err, RateLimitExceeded):
            extra["retry_after"] = _seconds_to_wait()
            message = f"{err.description}; retry in {extra['retry_after']} seconds."
        resp = jsonify(_body(code, status, message, errors, **extra))
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
        return _unexpected(err)

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
                "A value in the request is out of the range the server can store.",
            )
        )
        resp.status_code = 422
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        app.logger.exception("unhandled error")
        resp = jsonify(
            _body("server_error", 500, "Something went wrong on the server; retry later.")
        )
        resp.status_code = 500
        return resp
