"""Extensions created unbound here and bound to an app in create_app()."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api

api = Api()
limiter = Limiter(key_func=get_remote_address)


def username_key() -> str:
    """Rate-limit key for login attempts against one account, whatever the address."""
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return f"user:{name if isinstance(name, str) else ''}"
