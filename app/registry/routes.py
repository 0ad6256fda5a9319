"""Routes: the enterprise registry (检查对象名录库)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView

from app.auth.caller import current_user, require_role
from app.errors import DomainError
from app.http import (
    Blueprint,
    check_if_match,
    paginate,
    sends_etag,
    takes_if_match,
    version_etag,
)
from app.i18n import _
from app.registry import services
from app.registry.schemas import (
    EnterpriseCreateSchema,
    EnterpriseQueryArgsSchema,
    EnterpriseSchema,
    EnterpriseUpdateSchema,
    ImportResultSchema,
)

blp = Blueprint("registry", __name__, description="The enterprise registry (检查对象名录库)")

EDITORS = ("planner", "admin")


@blp.route("/enterprises")
class Enterprises(MethodView):
    @blp.arguments(EnterpriseQueryArgsSchema, location="query")
    @blp.response(200, EnterpriseSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the enterprises in your scope (filters: industry, jurisdiction, risk_level, q)."""
        return paginate(services.list_enterprises(current_user(), args), pagination_parameters)

    @blp.arguments(EnterpriseCreateSchema)
    @blp.response(201, EnterpriseSchema)
    @sends_etag("enterprise")
    def post(self, data: dict[str, Any]) -> Any:
        """Register an enterprise (planners, admins)."""
        return services.create_enterprise(require_role(*EDITORS), data)


@blp.route("/enterprises/<uuid:enterprise_id>")
class EnterpriseById(MethodView):
    @blp.response(200, EnterpriseSchema)
    @sends_etag("enterprise")
    def get(self, enterprise_id: uuid.UUID) -> Any:
        """Return one enterprise in your scope."""
        return services.get_enterprise(current_user(), enterprise_id)

    @blp.arguments(EnterpriseUpdateSchema)
    @blp.response(200, EnterpriseSchema)
    @takes_if_match("enterprise")
    def patch(self, data: dict[str, Any], enterprise_id: uuid.UUID) -> Any:
        """Change an enterprise (planners, admins); send If-Match with the ETag you read."""
        user = require_role(*EDITORS)
        ent = services.get_enterprise(user, enterprise_id, lock=True)
        check_if_match(version_etag("enterprise", ent.id, ent.version))
        return services.update_enterprise(user, ent, data)


@blp.route("/enterprises/import")
class EnterpriseImport(MethodView):
    @blp.response(200, ImportResultSchema)
    @blp.doc(
        requestBody={
            "description": "A CSV (UTF-8 or GB18030) or XLSX file, as the multipart field "
            "`file` or as the raw body. Columns: 企业名称, 统一社会信用代码, 行业, 街道, 地址, "
            "风险等级, 经度, 纬度, 负责人, 联系电话.",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        }
    )
    def post(self) -> Any:
        """Import enterprises from CSV or XLSX: every row validated first, all or nothing."""
        user = require_role(*EDITORS)
        upload = request.files.get("file")
        data = upload.read() if upload is not None else request.get_data()
        if not data:
            raise DomainError(
                "registry.import_empty",
                422,
                _("Send the file as the multipart field 'file' or as the body."),
            )
        return services.import_enterprises(user, data)
