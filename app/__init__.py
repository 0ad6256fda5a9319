"""Fieldsafe: the Flask application factory."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_cors import CORS
from flask_swagger_ui import get_swaggerui_blueprint
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.auth.caller import authenticate_request
from app.config import load_config
from app.db import Database, close_session, server_timing, session
from app.errors import DomainError, ErrorSchema, register_error_handlers
from app.extensions import api, limiter
from app.http import check_request_input
from app.i18n import _, init_i18n, settle_language
from app.migrate import is_at_head
from app.preflight import check_production
from app.settings import init_settings
from app.wiring import API_PREFIX, wire

#: Swagger UI's options for /docs. Its assets come from the flask-swagger-ui package, served by
#: this server: the page works on an intranet with no outside network. No validatorUrl: Swagger UI
#: would otherwise send the document to validator.swagger.io for its badge.
DOCS_UI_CONFIG = {
    "app_name": "Fieldsafe API",
    "validatorUrl": None,
    # Relative, so that it names this server behind a reverse proxy too.
    "oauth2RedirectUrl": "/docs/oauth2-redirect.html",
}


class BoundedIntegerConverter(IntegerConverter):
    """`<int:…>` that matches only numbers a 32-bit database integer holds (else the route 404s)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the app: config, database, extensions, blueprints, request boundary, CLI."""
    app = Flask(__name__, instance_relative_config=True)
    # Before any route is added: <int:…> path segments stay within the database's integers.
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config.update(load_config(app.instance_path, config))
    check_production(app.config)
    app.config.update(
        API_TITLE="Fieldsafe",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"],
        RATELIMIT_HEADERS_ENABLED=True,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    init_settings(app)
    init_i18n(app)
    if proxies := app.config["TRUSTED_PROXIES"]:
        # The client's address (rate limits, audit) as the trusted reverse proxies saw it.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    # Tests hand in a Database bound to their rolled-back connection through config["DATABASE"].
    app.extensions["db"] = app.config.pop("DATABASE", None) or Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)

    limiter.init_app(app)
    _limits_on_routes_only(app)
    api.ERROR_SCHEMA = ErrorSchema  # document the error body the handlers really send
    api.init_app(app)
    register_error_handlers(app)
    wire(app, api)
    _register_boundary(app)
    _register_cors(app)
    _register_health(app)
    return app


def _limits_on_routes_only(app: Flask) -> None:
    """Take out Flask-Limiter's check of every request before its view.

    Fieldsafe's rate limits are all on their routes (``limiter.limit``: ``app/auth/limits.py``,
    the public report forms), and each is checked by its own decorator when its view runs;
    the app-wide check is for default and application-wide limits, which Fieldsafe sets none
    of, and cost every request about 0.15 ms of CPU. Setting such limits refuses to start
    rather than have them ignored.
    """
    for key in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION"):
        if app.config.get(key):
            raise RuntimeError(f"{key} is not supported: put limits on their routes")
    hooks = app.before_request_funcs[None]
    checks = [hook for hook in hooks if getattr(hook, "__self__", None) is limiter]
    if len(checks) != 1:  # Flask-Limiter changed how it hooks in: look again
        raise RuntimeError(f"expected one before_request hook of the limiter, found {checks}")
    hooks.remove(checks[0])


def _is_public(view: Any) -> bool:
    if getattr(view, "_public", False):
        return True
    cls = getattr(view, "view_class", None)
    if cls is None:
        return False
    if getattr(cls, "_public", False):
        return True
    method = getattr(cls, request.method.lower(), None)
    return bool(getattr(method, "_public", False))


def _register_boundary(app: Flask) -> None:
    """Authenticate API calls, and commit each request once (only when it succeeded)."""

    @app.before_request
    def _authenticate() -> None:
        if request.method == "OPTIONS" or not request.path.startswith(API_PREFIX):
            return
        view = app.view_functions.get(request.endpoint or "")
        if view is None or _is_public(view) or request.endpoint == "api-docs.openapi_json":
            return
        authenticate_request()
        settle_language()  # the caller's own setting (users.locale), read once

    @app.before_request
    def _check_input() -> None:
        # Only for routes that exist (an unknown route answers 404/405 whatever its body).
        if request.url_rule is not None and request.path.startswith(API_PREFIX):
            check_request_input()

    @app.after_request
    def _commit(response: Response) -> Response:
        response = _committed(response)
        timing = server_timing()  # the statements of the commit's hooks included
        if timing:
            response.headers["Server-Timing"] = timing
        return response

    def _committed(response: Response) -> Response:
        etag = g.pop("response_etag", None)
        if etag and response.status_code < 300:
            response.headers["ETag"] = etag
        if "db_session" not in g:
            return response
        if response.status_code < 400 or g.get("commit_on_error"):
            try:
                session.commit()
            except Exception:  # noqa: BLE001 - a commit failure must become a clean 503
                session.rollback()
                app.logger.exception("commit failed")
                err = jsonify(
                    {
                        "code": "server.busy",
                        "status": 503,
                        "message": _("The server could not save this; retry shortly."),
                    }
                )
                err.status_code = 503
                err.headers["Retry-After"] = "1"
                return err
        else:
            session.rollback()
        return response


def _register_cors(app: Flask) -> None:
    origins = [o.strip() for o in app.config["CORS_ORIGINS"].split(",") if o.strip()]
    if not origins:
        return

    CORS(
        app,
        origins=origins,
        supports_credentials=False,
        expose_headers=[
            "ETag",
            "Location",
            "X-Pagination",
            "Retry-After",
            "Upload-Offset",
            "Upload-Length",
            "Upload-Expires",
            "Tus-Version",
            "Tus-Resumable",
            "Tus-Extension",
            "Tus-Max-Size",
            "Tus-Checksum-Algorithm",
            "Upload-Metadata",
        ],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Upload-Offset",
            "Upload-Length",
            "Upload-Metadata",
            "Upload-Checksum",
            "Tus-Resumable",
            "Upload-Defer-Length",
            "X-HTTP-Method-Override",
        ],
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    )


def _register_health(app: Flask) -> None:

    @app.get("/healthz")
    def healthz() -> Any:
        """Tell a load balancer the process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Any:
        """Tell a load balancer the database is reachable, migrated, and storage is writable."""
        checks: dict[str, str] = {}
        try:
            session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception:  # noqa: BLE001
            checks["database"] = "unreachable"
        if checks["database"] == "ok":
            checks["migrations"] = "ok" if is_at_head(session.connection()) else "pending"
        checks["storage"] = "ok" if _storage_writable(app) else "not writable"
        ok = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ok else "unavailable", "checks": checks}, (200 if ok else 503)

    docs_ui = get_swaggerui_blueprint("/docs", f"{API_PREFIX}/openapi.json", config=DOCS_UI_CONFIG)
    app.register_blueprint(docs_ui)
    # The blueprint answers /docs/ and its assets under /docs/…; /docs is the documented address.
    app.add_url_rule("/docs", endpoint="docs", view_func=app.view_functions["swagger_ui.show"])


def _storage_writable(app: Flask) -> bool:
    """Ask the media storage backend, or check the local media folder, whether we can write."""
    storage = app.extensions.get("storage")
    if storage is not None and hasattr(storage, "writable"):
        return bool(storage.writable())
    root = app.config["MEDIA_ROOT"]
    os.makedirs(root, exist_ok=True)
    return os.access(root, os.W_OK)


__all__ = ["create_app", "DomainError"]
