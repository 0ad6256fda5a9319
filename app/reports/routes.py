"""Routes: read-only statistics (分区域、分行业统计分析) and their XLSX exports.

Each report has a JSON route and an ``/export`` route taking the same query arguments and
answering the same figures as an XLSX workbook with Chinese headers.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from app.auth.caller import current_user
from app.http import Blueprint, file_response, request_now
from app.reports import services
from app.reports.export import XLSX_MIMETYPE, export_report
from app.reports.schemas import (
    HazardsReportQueryArgsSchema,
    HazardsReportSchema,
    InspectionsReportQueryArgsSchema,
    InspectionsReportSchema,
    MajorHazardsReportQueryArgsSchema,
    MajorHazardsReportSchema,
)

blp = Blueprint(
    "reports",
    __name__,
    description="Statistics (分区域、分行业统计分析) and XLSX exports for district/street staff",
)

XLSX_DOC = {"type": "string", "format": "binary"}


def _xlsx(content: bytes, filename: str) -> Response:
    return file_response(content, XLSX_MIMETYPE, filename)


@blp.route("/reports/hazards", methods=["GET"])
@blp.arguments(HazardsReportQueryArgsSchema, location="query")
@blp.response(200, HazardsReportSchema)
def hazards_report(args: dict[str, Any]) -> Any:
    """Report the hazard ledger of a period (default: this month, China time), grouped."""
    return services.hazards_report(current_user(), args, now=request_now())


@blp.route("/reports/hazards/export", methods=["GET"])
@blp.arguments(HazardsReportQueryArgsSchema, location="query")
@blp.response(200, XLSX_DOC, content_type=XLSX_MIMETYPE)
def hazards_report_export(args: dict[str, Any]) -> Any:
    """Download the hazard ledger report as XLSX (same arguments)."""
    return _xlsx(*export_report(current_user(), "hazards", args, now=request_now()))


@blp.route("/reports/inspections", methods=["GET"])
@blp.arguments(InspectionsReportQueryArgsSchema, location="query")
@blp.response(200, InspectionsReportSchema)
def inspections_report(args: dict[str, Any]) -> Any:
    """Report 执法检查家次 (checked-in inspections only) and their outcomes, grouped."""
    return services.inspections_report(current_user(), args, now=request_now())


@blp.route("/reports/inspections/export", methods=["GET"])
@blp.arguments(InspectionsReportQueryArgsSchema, location="query")
@blp.response(200, XLSX_DOC, content_type=XLSX_MIMETYPE)
def inspections_report_export(args: dict[str, Any]) -> Any:
    """Download the inspection report as XLSX (same arguments)."""
    return _xlsx(*export_report(current_user(), "inspections", args, now=request_now()))


@blp.route("/reports/major-hazards", methods=["GET"])
@blp.arguments(MajorHazardsReportQueryArgsSchema, location="query")
@blp.response(200, MajorHazardsReportSchema)
def major_hazards_report(args: dict[str, Any]) -> Any:
    """List every open major hazard in scope, most overdue first (重大事故隐患动态清零)."""
    return services.major_hazards_report(current_user(), args, now=request_now())


@blp.route("/reports/major-hazards/export", methods=["GET"])
@blp.arguments(MajorHazardsReportQueryArgsSchema, location="query")
@blp.response(200, XLSX_DOC, content_type=XLSX_MIMETYPE)
def major_hazards_report_export(args: dict[str, Any]) -> Any:
    """Download the open major hazards list as XLSX."""
    return _xlsx(*export_report(current_user(), "major_hazards", args, now=request_now()))
