"""Routes: planners create and edit inspections; reads follow the confidentiality rule.

A recheck inspection's tickets are attached by ``app.hazards.rechecks`` (routes sit above every
service layer: this is the HTTP boundary, wired in ``app.wiring``).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from app.auth.caller import current_user, require_role
from app.documents.services import attach_documents
from app.errors import DomainError
from app.hazards import rechecks
from app.http import (
    Blueprint,
    check_if_match,
    paginate,
    request_now,
    sends_etag,
    takes_if_match,
    version_etag,
)
from app.i18n import _
from app.inspections import services
from app.inspections.schemas import (
    CancelSchema,
    FindingSchema,
    InspectionCreateSchema,
    InspectionQueryArgsSchema,
    InspectionSchema,
    InspectionUpdateSchema,
)
from app.inspections.visibility import log_confidential_reads

blp = Blueprint("inspections", __name__, description="Inspections (四不两直, 双随机) and findings")


def _attach(items: Any) -> Any:
    """Give each inspection its payload's covered tickets and documents."""
    return attach_documents(rechecks.attach_covered(items))


@blp.route("/inspections")
class Inspections(MethodView):
    @blp.arguments(InspectionQueryArgsSchema, location="query")
    @blp.response(200, InspectionSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the inspections you may see (before check-in: only their planner and team)."""
        user, now = current_user(), request_now()
        items = paginate(services.inspections_query(user, args, now=now), pagination_parameters)
        log_confidential_reads(user, items, "list", now)
        return _attach(items)

    @blp.arguments(InspectionCreateSchema)
    @blp.response(201, InspectionSchema)
    @sends_etag("inspection")
    def post(self, data: dict[str, Any]) -> Any:
        """Create an unannounced, routine, complaint or recheck inspection (planners).

        A recheck (复查) covers the tickets named in ``hazard_ids`` (docs/api.md, "Rechecks").
        """
        planner = require_role("planner")
        if "hazard_ids" in data and data["type"] != "recheck":
            raise DomainError(
                "validation_error",
                422,
                _("Only a recheck inspection names tickets."),
                {"hazard_ids": [_("Only with type 'recheck'.")]},
            )
        insp = services.create_inspection(planner, data, now=request_now())
        if insp.type == "recheck":
            rechecks.cover(insp, data.get("hazard_ids"))
        return _attach([insp])[0]


@blp.route("/inspections/<uuid:inspection_id>")
class InspectionById(MethodView):
    @blp.response(200, InspectionSchema)
    @sends_etag("inspection")
    def get(self, inspection_id: uuid.UUID) -> Any:
        """Return one inspection you may see."""
        insp = services.get_inspection(current_user(), inspection_id, now=request_now())
        return _attach([insp])[0]

    @blp.arguments(InspectionUpdateSchema)
    @blp.response(200, InspectionSchema)
    @takes_if_match("inspection")
    def patch(self, data: dict[str, Any], inspection_id: uuid.UUID) -> Any:
        """Change the team, window or dispatch time before check-in (its planner)."""
        user = require_role("planner")
        insp = services.get_own_planned(user, inspection_id)
        check_if_match(version_etag("inspection", insp.id, insp.version))
        insp = services.update_inspection(user, insp, data, now=request_now())
        return _attach([insp])[0]


@blp.route("/inspections/<uuid:inspection_id>/cancel", methods=["POST"])
@blp.arguments(CancelSchema)
@blp.response(200, InspectionSchema)
@takes_if_match("inspection")
def cancel(data: dict[str, Any], inspection_id: uuid.UUID) -> Any:
    """Cancel an inspection before check-in, with the reason (its planner); 409 once started."""
    user = require_role("planner")
    insp = services.get_own_planned(user, inspection_id)
    check_if_match(version_etag("inspection", insp.id, insp.version))
    insp = services.cancel_inspection(user, insp, data["reason"], now=request_now())
    return _attach([insp])[0]


@blp.route("/inspections/<uuid:inspection_id>/findings")
class InspectionFindings(MethodView):
    @blp.response(200, FindingSchema(many=True))
    def get(self, inspection_id: uuid.UUID) -> Any:
        """List an inspection's findings."""
        return services.list_findings(current_user(), inspection_id, now=request_now())
