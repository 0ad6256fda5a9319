"""Routes: the supervisors' review queue and decisions on findings."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request

from app.auth.caller import current_user, require_role
from app.http import Blueprint, paginate, request_now
from app.review import services
from app.review.schemas import (
    ConfirmedPassesSchema,
    ConfirmPassesSchema,
    ReviewedFindingSchema,
    ReviewQueueItemSchema,
    ReviewRequestSchema,
    ReviewSchema,
)

blp = Blueprint("review", __name__, description="Review of findings and their photo evidence")


@blp.route("/review/queue", methods=["GET"])
@blp.response(200, ReviewQueueItemSchema(many=True))
@blp.paginate()
def review_queue(pagination_parameters: Any) -> Any:
    """List submitted inspections with pending findings, with photo evidence and flags."""
    user = require_role("supervisor")
    return services.queue_items(
        paginate(services.queue_query(user), pagination_parameters), base_url=request.host_url
    )


@blp.route("/findings/<uuid:finding_id>/review", methods=["POST"])
@blp.arguments(ReviewRequestSchema)
@blp.response(200, ReviewedFindingSchema)
def review_finding(data: dict[str, Any], finding_id: uuid.UUID) -> Any:
    """Confirm, reject or send back (needs_info) a finding; confirming a failure issues a ticket."""
    return services.review_finding(require_role("supervisor"), finding_id, data, now=request_now())


@blp.route("/review/inspections/<uuid:inspection_id>/confirm-passes", methods=["POST"])
@blp.arguments(ConfirmPassesSchema)
@blp.response(200, ConfirmedPassesSchema)
def confirm_passes(data: dict[str, Any], inspection_id: uuid.UUID) -> Any:
    """Confirm at once the unflagged passes and n/a answers of a submitted inspection."""
    return services.confirm_passes(
        require_role("supervisor"), inspection_id, data["comment"], now=request_now()
    )


@blp.route("/findings/<uuid:finding_id>/reviews", methods=["GET"])
@blp.response(200, ReviewSchema(many=True))
def finding_reviews(finding_id: uuid.UUID) -> Any:
    """List every decision taken on a finding, oldest first (staff)."""
    return services.reviews_of(current_user(), finding_id)
