"""Routes: hazard tickets and their actions."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from app.auth.caller import current_user
from app.documents.services import attach_hazard_documents
from app.hazards import services
from app.hazards.schemas import (
    HazardActionSchema,
    HazardCreateSchema,
    HazardDetailSchema,
    HazardQueryArgsSchema,
    HazardSchema,
)
from app.http import (
    Blueprint,
    check_if_match,
    paginate,
    request_now,
    sends_etag,
    takes_if_match,
)

blp = Blueprint("hazards", __name__, description="Hazard tickets (隐患整改)")


@blp.route("/hazards")
class Hazards(MethodView):
    @blp.arguments(HazardQueryArgsSchema, location="query")
    @blp.response(200, HazardSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the tickets in your scope (an enterprise sees its own), by deadline."""
        items = paginate(
            services.list_hazards(current_user(), args, now=request_now()), pagination_parameters
        )
        return attach_hazard_documents(items)

    @blp.arguments(HazardCreateSchema)
    @blp.response(201, HazardDetailSchema)
    @sends_etag("hazard")
    def post(self, data: dict[str, Any]) -> Any:
        """Report a hazard: an enterprise for itself (self_report), or staff (supervision)."""
        return services.create_hazard(current_user(), data, now=request_now())


@blp.route("/hazards/<uuid:hazard_id>")
class HazardById(MethodView):
    @blp.response(200, HazardDetailSchema)
    @sends_etag("hazard")
    def get(self, hazard_id: uuid.UUID) -> Any:
        """Return a ticket with its timeline and documents; the ETag is for If-Match on actions."""
        hazard = services.get_hazard(current_user(), hazard_id, now=request_now())
        return attach_hazard_documents([hazard])[0]


@blp.route("/hazards/<uuid:hazard_id>/actions", methods=["POST"])
@blp.arguments(HazardActionSchema)
@blp.response(200, HazardDetailSchema)
@takes_if_match("hazard")
def hazard_action(data: dict[str, Any], hazard_id: uuid.UUID) -> Any:
    """Act on a ticket (needs If-Match); 409 hazard.invalid_transition when not allowed."""
    # apply_action locks the ticket, then calls check_if_match on it, then acts.
    return services.apply_action(
        current_user(), hazard_id, data, check_etag=check_if_match, now=request_now()
    )
