"""Routes: log in, refresh, log out; devices."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from app.auth import services
from app.auth.caller import current_token, current_user, public, require_role
from app.auth.limits import login_limits, refresh_limits
from app.auth.schemas import (
    DeviceQueryArgsSchema,
    DeviceSchema,
    RefreshRequestSchema,
    TokenRequestSchema,
    TokenSchema,
)
from app.http import Blueprint, paginate, request_now

blp = Blueprint("auth", __name__, description="Tokens and devices")


@blp.route("/auth/token", methods=["POST"])
@public
@login_limits
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
def token(args: dict[str, Any]) -> Any:
    """Log in with username and password; returns an access and a refresh token."""
    return services.login(
        args["username"], args["password"], args.get("device_name"), now=request_now()
    )


@blp.route("/auth/refresh", methods=["POST"])
@public
@refresh_limits
@blp.arguments(RefreshRequestSchema)
@blp.response(200, TokenSchema)
def refresh(args: dict[str, Any]) -> Any:
    """Exchange a refresh token for a new pair (the old one stops working)."""
    return services.refresh(args["refresh_token"], now=request_now())


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
def logout() -> None:
    """Revoke the tokens of this login."""
    token = current_token()
    services.logout(current_user(), token.family_id, token.device_id, now=request_now())


@blp.route("/devices")
class Devices(MethodView):
    @blp.arguments(DeviceQueryArgsSchema, location="query")
    @blp.response(200, DeviceSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List devices (admins)."""
        require_role("admin")
        return paginate(services.list_devices(args.get("user_id")), pagination_parameters)


@blp.route("/devices/<uuid:device_id>/revoke", methods=["POST"])
@blp.response(200, DeviceSchema)
def revoke_device(device_id: uuid.UUID) -> Any:
    """Revoke a lost device: its tokens stop working at once (admins)."""
    actor = require_role("admin")
    return services.revoke_device(actor, device_id, now=request_now())
