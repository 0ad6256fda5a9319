"""Routes: the checklist library (latest and any published version), cache-friendly."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.checklists import services
from app.checklists.models import ChecklistVersion
from app.checklists.schemas import ChecklistSchema, ChecklistSummarySchema
from app.http import Blueprint, if_none_match, sends_digest_etag, set_etag

blp = Blueprint("checklists", __name__, description="Per-industry inspection checklists")


def _conditional(cv: ChecklistVersion) -> Any:
    etag = services.etag_of(cv)
    if if_none_match(etag):
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "private, no-cache"})
    set_etag(etag)
    return services.serialize(cv)


@blp.route("/checklists", methods=["GET"])
@blp.response(200, ChecklistSummarySchema(many=True))
def list_checklists() -> Any:
    """List the latest version of each industry's checklist."""
    return services.list_latest()


@blp.route("/checklists/<string:industry>", methods=["GET"])
@blp.response(200, ChecklistSchema)
@blp.alt_response(304, description="Not modified: the client's copy (If-None-Match) is current")
@sends_digest_etag
def latest_checklist(industry: str) -> Any:
    """Return the latest checklist of an industry; the ETag is its digest."""
    return _conditional(services.get_checklist(industry))


@blp.route("/checklists/<string:industry>/versions/<int:version>", methods=["GET"])
@blp.response(200, ChecklistSchema)
@blp.alt_response(304, description="Not modified: the client's copy (If-None-Match) is current")
@sends_digest_etag
def checklist_version(industry: str, version: int) -> Any:
    """Return a published checklist version; versions never change once published."""
    return _conditional(services.get_checklist(industry, version))
