"""One error vocabulary: DomainError, and the one handler that shapes every error response."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, g, jsonify
from flask_limiter.errors import RateLimitExceeded
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, StatementError
from werkzeug.exceptions import HTTPException

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
    """The one error body, as documented in the OpenAPI document (DESIGN.md section 4)."""

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
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    431: "request_header_too_large",
}


def _body(code: str, status: int, message: str, errors: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": status, "message": message}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _seconds_to_wait() -> int:
    # The breached limit with the latest reset: the limiter evaluates every limit of a request.
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else 60


def register_error_handlers(app: Flask) -> None:
    """Shape DomainError, HTTP errors and anything unexpected into the one JSON error body."""

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
