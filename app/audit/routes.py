"""Routes: read the audit log (admins)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.audit import services
from app.audit.schemas import AuditEntrySchema, AuditQueryArgsSchema
from app.auth.caller import require_role
from app.http import Blueprint, paginate

blp = Blueprint("audit", __name__, description="The hash-chained audit log")


@blp.route("/audit")
class Audit(MethodView):
    @blp.arguments(AuditQueryArgsSchema, location="query")
    @blp.response(200, AuditEntrySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List audit entries, newest first, by entity, actor, action and time range (admins)."""
        require_role("admin")
        return paginate(services.list_entries(args), pagination_parameters)
