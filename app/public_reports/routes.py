"""Routes: the anonymous intake of public reports (群众举报) and their triage by staff."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from app.auth.caller import current_user, public
from app.extensions import limiter
from app.hazards.schemas import HazardDetailSchema
from app.http import (
    Blueprint,
    check_if_match,
    paginate,
    request_now,
    sends_etag,
    takes_if_match,
)
from app.public_reports import services
from app.public_reports.schemas import (
    PublicReportCreateSchema,
    PublicReportQueryArgsSchema,
    PublicReportReceiptSchema,
    PublicReportRejectSchema,
    PublicReportSchema,
    PublicReportVerifySchema,
)

blp = Blueprint(
    "public_reports", __name__, description="Public reports (群众举报) and their verification"
)


def _report_limit() -> str:
    return current_app.config["PUBLIC_REPORT_RATE_LIMIT"]  # type: ignore[no-any-return]


@blp.route("/public/reports", methods=["POST"])
@public
@limiter.limit(_report_limit)
@blp.arguments(PublicReportCreateSchema)
@blp.response(201, PublicReportReceiptSchema)
def public_report(data: dict[str, Any]) -> Any:
    """Report a hazard anonymously (群众举报); staff verify it before it becomes a ticket."""
    return services.submit_public_report(data, now=request_now())


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
    return services.verify_public_report(
        user, report_id, data, check_etag=check_if_match, now=request_now()
    )


@blp.route("/public-reports/<uuid:report_id>/reject", methods=["POST"])
@blp.arguments(PublicReportRejectSchema)
@blp.response(200, PublicReportSchema)
@takes_if_match("public_report", required=False)
def reject_public_report(data: dict[str, Any], report_id: uuid.UUID) -> Any:
    """Reject a report that did not check out, with the reason (If-Match optional)."""
    user = current_user()
    return services.reject_public_report(
        user, report_id, data, check_etag=check_if_match, now=request_now()
    )
