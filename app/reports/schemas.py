"""Schemas for the statistics reports: query arguments and the report bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.fields import DateTime
from app.i18n import _, _l
from app.registry.services import INDUSTRY_NAMES
from app.reports.services import HAZARD_GROUPS, INSPECTION_GROUPS

#: Dates outside this range are refused (and keep date arithmetic far from year 1 and 9999).
DATE_RANGE = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31))


class MonthField(fields.String):
    """A calendar month written YYYY-MM, loaded as its first day."""

    default_error_messages = {"invalid_month": _l("Not a valid month; write YYYY-MM.")}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(text) != 7:
                raise ValueError(text)
            return datetime.strptime(text, "%Y-%m").date()
        except ValueError as exc:
            raise self.make_error("invalid_month") from exc


class PeriodArgsSchema(Schema):
    from_ = fields.Date(
        data_key="from",
        validate=DATE_RANGE,
        metadata={"description": "First day (inclusive, China date); default: this month's 1st."},
    )
    to = fields.Date(
        validate=DATE_RANGE,
        metadata={"description": "Last day (inclusive, China date); default: this month's last."},
    )
    month = MonthField(
        validate=DATE_RANGE,
        metadata={
            "description": "A whole month, YYYY-MM (instead of from/to).",
            "pattern": r"^\d{4}-\d{2}$",
        },
    )

    @validates_schema
    def _month_alone(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("month") and (data.get("from_") or data.get("to")):
            raise ValidationError(_("Give either month or from/to, not both."), "month")


class HazardsReportQueryArgsSchema(PeriodArgsSchema):
    by = fields.String(load_default="jurisdiction", validate=validate.OneOf(HAZARD_GROUPS))


class InspectionsReportQueryArgsSchema(PeriodArgsSchema):
    by = fields.String(load_default="jurisdiction", validate=validate.OneOf(INSPECTION_GROUPS))


class MajorHazardsReportQueryArgsSchema(Schema):
    jurisdiction = fields.String(validate=validate.Length(max=40))
    industry = fields.String(validate=validate.OneOf(tuple(INDUSTRY_NAMES)))


class PeriodSchema(Schema):
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    timezone = fields.String()
    start = fields.String(metadata={"description": "The period's first instant, UTC."})
    end = fields.String(metadata={"description": "The instant after the period, UTC."})


class ScopeSchema(Schema):
    jurisdiction = fields.String()
    jurisdiction_name = fields.String(allow_none=True)
    district_level = fields.Boolean()


def _levels() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Count per escalation level: 1 函告, 2 通报, 3 约谈, 4 曝光."},
    )


class HazardStatsSchema(Schema):
    found = fields.Integer(metadata={"description": "发现隐患数: found_at in the period."})
    closed = fields.Integer(metadata={"description": "Of those found, closed (销号) by now."})
    open = fields.Integer(metadata={"description": "Of those found, not yet closed."})
    overdue = fields.Integer(
        metadata={"description": "Of those found, open or rectifying past the deadline now."}
    )
    major_found = fields.Integer()
    major_closed = fields.Integer()
    major_open = fields.Integer()
    rectification_rate = fields.Float(
        allow_none=True, metadata={"description": "整改率 = closed / found (null when 0 found)."}
    )
    major_rectification_rate = fields.Float(allow_none=True)
    escalated = fields.Integer(metadata={"description": "Of those found, escalated at least once."})
    escalation_levels = _levels()
    listed = fields.Integer(metadata={"description": "Of those found, 挂牌督办."})
    closed_in_period = fields.Integer(
        metadata={"description": "Closed (销号) within the period, whenever found."}
    )


class HazardReportRowSchema(HazardStatsSchema):
    key = fields.String()
    name = fields.String()


class GroupedReportSchema(Schema):
    """What every grouped report answers besides its rows and totals."""

    report = fields.String()
    by = fields.String()
    period = fields.Nested(PeriodSchema)
    as_of = DateTime()
    scope = fields.Nested(ScopeSchema)


class HazardsReportSchema(GroupedReportSchema):
    rows = fields.List(fields.Nested(HazardReportRowSchema))
    totals = fields.Nested(HazardStatsSchema)


class InspectionStatsSchema(Schema):
    inspections = fields.Integer(
        metadata={"description": "执法检查家次: inspections checked in during the period."}
    )
    enterprises = fields.Integer(metadata={"description": "Distinct enterprises inspected."})
    planned = fields.Integer(metadata={"description": "unannounced, routine and double_random."})
    triggered = fields.Integer(metadata={"description": "complaint and recheck."})
    by_type = fields.Dict(keys=fields.String(), values=fields.Integer())
    findings_failed = fields.Integer(metadata={"description": "发现问题项次: failed items."})
    findings_confirmed = fields.Integer()
    findings_pending_review = fields.Integer()
    hazards_issued = fields.Integer(metadata={"description": "Tickets issued from the visits."})
    major_hazards_issued = fields.Integer()
    inspected_no_hazards = fields.Boolean(
        metadata={"description": "Inspections but no ticket issued (只检查不处罚 signal)."}
    )


class InspectionReportRowSchema(InspectionStatsSchema):
    key = fields.String()
    name = fields.String()


class InspectionsReportSchema(GroupedReportSchema):
    rows = fields.List(fields.Nested(InspectionReportRowSchema))
    totals = fields.Nested(InspectionStatsSchema)


class EnterpriseBriefSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    uscc = fields.String()


class MajorHazardRowSchema(Schema):
    hazard_id = fields.UUID()
    number = fields.String()
    enterprise = fields.Nested(EnterpriseBriefSchema)
    jurisdiction = fields.String()
    jurisdiction_name = fields.String()
    industry = fields.String()
    industry_name = fields.String()
    source = fields.String()
    status = fields.String()
    description = fields.String()
    found_at = DateTime()
    days_open = fields.Integer()
    deadline = DateTime()
    overdue = fields.Boolean()
    days_overdue = fields.Integer()
    escalation_level = fields.Integer()
    escalation = fields.String(allow_none=True)
    listed = fields.Boolean()
    has_plan = fields.Boolean(metadata={"description": "治理方案 given."})
    assignee_id = fields.UUID(allow_none=True)


class MajorHazardTotalsSchema(Schema):
    open = fields.Integer()
    overdue = fields.Integer()
    listed = fields.Integer()
    without_plan = fields.Integer()
    escalation_levels = _levels()


class MajorHazardsReportSchema(Schema):
    report = fields.String()
    as_of = DateTime()
    scope = fields.Nested(ScopeSchema)
    rows = fields.List(fields.Nested(MajorHazardRowSchema))
    totals = fields.Nested(MajorHazardTotalsSchema)
