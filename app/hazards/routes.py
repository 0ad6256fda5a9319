"""Routes: hazard tickets, their actions, and public reports (群众举报)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from app.auth.services import current_user, public
from app.extensions import limiter
from app.hazards import services
from app.hazards.schemas import (
    HazardActionSchema,
    HazardCreateSchema,
    HazardDetailSchema,
    HazardQueryArgsSchema,
    HazardSchema,
    PublicReportCreateSchema,
    PublicReportQueryArgsSchema,
    PublicReportReceiptSchema,
    PublicReportRejectSchema,
    PublicReportSchema,
    PublicReportVerifySchema,
)
from app.http import Blueprint, check_if_match, paginate, sends_etag, takes_if_match

blp = Blueprint("hazards", __name__, description="Hazard tickets (隐患整改) and public reports")


@blp.route("/hazards")
class Hazards(MethodView):
    @blp.arguments(HazardQueryArgsSchema, location="query")
    @blp.response(200, HazardSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the tickets in your scope (an enterprise sees its own), by deadline."""
        return paginate(services.list_hazards(current_user(), args), pagination_parameters)

    @blp.arguments(HazardCreateSchema)
    @blp.response(201, HazardDetailSchema)
    @sends_etag("hazard")
    def post(self, data: dict[str, Any]) -> Any:
        """Report a hazard: an enterprise for itself (self_report), or staff (supervision)."""
        return services.create_hazard(current_user(), data)


@blp.route("/hazards/<uuid:hazard_id>")
class HazardById(MethodView):
    @blp.response(200, HazardDetailSchema)
    @sends_etag("hazard")
    def get(self, hazard_id: uuid.UUID) -> Any:
        """Return a ticket with its timeline; the ETag is for If-Match on actions."""
        return services.get_hazard(current_user(), hazard_id)


@blp.route("/hazards/<uuid:hazard_id>/actions", methods=["POST"])
@blp.arguments(HazardActionSchema)
@blp.response(200, HazardDetailSchema)
@takes_if_match("hazard")
def hazard_action(data: dict[str, Any], hazard_id: uuid.UUID) -> Any:
    """Act on a ticket (needs If-Match); 409 hazard.invalid_transition when not allowed."""
    # apply_action locks the ticket, then calls check_if_match on it, then acts.
    return services.apply_action(current_user(), hazard_id, data, check_etag=check_if_match)


def _report_limit() -> str:
    return current_app.config["PUBLIC_REPORT_RATE_LIMIT"]


@blp.route("/public/reports", methods=["POST"])
@public
@limiter.limit(_report_limit)
@blp.arguments(PublicReportCreateSchema)
@blp.response(201, PublicReportReceiptSchema)
def public_report(data: dict[str, Any]) -> Any:
    """Report a hazard anonymously (群众举报); staff verify it before it becomes a ticket."""
    return services.submit_public_report(data)


@blp.route("/public-reports")
class PublicReports(MethodView):
    @blp.arguments(PublicReportQueryArgsSchema, location="query")
    @blp.response(200, PublicReportSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List public reports in your scope, newest first (coordinators, supervisors)."""
        stmt = services.list_public_reports(current_user(), args)
        return paginate(stmt, pagination_parameters)


@blp.route("/public-reports/<uuid:report_id>")
class PublicReportById(MethodView):
    @blp.response(200, PublicReportSchema)
    @sends_etag("public_report")
    def get(self, report_id: uuid.UUID) -> Any:
        """Return one public report (coordinators, supervisors)."""
        return services.get_public_report(current_user(), report_id)


@blp.route("/public-reports/<uuid:report_id>/verify", methods=["POST"])
@blp.arguments(PublicReportVerifySchema)
@blp.response(201, HazardDetailSchema)
@takes_if_match("hazard", required=False)
def verify_public_report(data: dict[str, Any], report_id: uuid.UUID) -> Any:
    """Verify a report (查实): issues its public_report ticket against the enterprise named.

    If-Match (optional) is the report's ETag; the answer's ETag is the new ticket's.
    """
    user = current_user()
    return services.verify_public_report(user, report_id, data, check_etag=check_if_match)


@blp.route("/public-reports/<uuid:report_id>/reject", methods=["POST"])
@blp.arguments(PublicReportRejectSchema)
@blp.response(200, PublicReportSchema)
@takes_if_match("public_report", required=False)
def reject_public_report(data: dict[str, Any], report_id: uuid.UUID) -> Any:
    """Reject a report that did not check out, with the reason (If-Match optional)."""
    user = current_user()
    return services.reject_public_report(user, report_id, data, check_etag=check_if_match)


def _register_media_visibility() -> None:
    """Let users who may see a ticket or report also fetch the photos it references."""
    from app.media.services import register_visibility_check

    register_visibility_check(services.photo_visible)


_register_media_visibility()
