"""Schemas for hazard tickets, their actions and timeline, and public reports."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.clock import isoformat
from app.hazards.models import (
    ESCALATION_LEVELS,
    HAZARD_ACTIONS,
    HAZARD_GRADES,
    HAZARD_SOURCES,
    HAZARD_STATES,
    PUBLIC_REPORT_STATES,
)

SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="Must be a lower-case hex SHA-256.")


class UTCDateTime(fields.DateTime):
    """RFC 3339 in UTC with a trailing Z."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return isoformat(value)


def _photos_field(**kw: Any) -> fields.List:
    return fields.List(fields.String(validate=SHA256), validate=validate.Length(max=50), **kw)


def _overdue(obj: Any) -> bool:
    from app.hazards.services import is_overdue

    return is_overdue(obj)


def _enterprise(obj: Any) -> Any:
    from app.hazards.services import enterprise_brief

    return enterprise_brief(obj)


def _timeline(obj: Any) -> list[dict[str, Any]]:
    from app.hazards.services import timeline_of

    return HazardEventSchema(many=True).dump(timeline_of(obj))


class HazardActorSchema(Schema):
    id = fields.UUID(attribute="actor_id", allow_none=True)
    username = fields.String(attribute="actor_name")
    role = fields.String(attribute="actor_role", allow_none=True)


class HazardEventSchema(Schema):
    seq = fields.Integer()
    action = fields.String()
    actor = fields.Function(lambda e: HazardActorSchema().dump(e))
    at = UTCDateTime()
    device_at = UTCDateTime(allow_none=True)
    note = fields.String()
    photos = fields.List(fields.String())
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    data = fields.Dict()


class HazardSchema(Schema):
    id = fields.UUID()
    number = fields.String()
    source = fields.String()
    finding_id = fields.UUID(allow_none=True)
    inspection_id = fields.UUID(allow_none=True)
    public_report_id = fields.UUID(allow_none=True)
    grade = fields.String()
    enterprise_id = fields.UUID()
    enterprise = fields.Function(_enterprise)
    jurisdiction = fields.String(attribute="jurisdiction_code")
    industry = fields.String()
    item_code = fields.String(allow_none=True)
    basis = fields.Dict(allow_none=True)
    description = fields.String()
    photos = fields.List(fields.String())
    found_at = UTCDateTime()
    deadline = UTCDateTime()
    overdue = fields.Function(_overdue)
    assignee_id = fields.UUID(allow_none=True)
    status = fields.String()
    escalation_level = fields.Integer()
    escalation = fields.Function(lambda h: ESCALATION_LEVELS.get(h.escalation_level))
    escalated_at = UTCDateTime(allow_none=True)
    listed = fields.Boolean()
    plan = fields.Dict(allow_none=True)
    extension_request = fields.Dict(allow_none=True)
    created_by = fields.UUID(allow_none=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    closed_at = UTCDateTime(allow_none=True)
    version = fields.Integer()


class HazardDetailSchema(HazardSchema):
    timeline = fields.Function(_timeline)


class HazardQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(HAZARD_STATES))
    grade = fields.String(validate=validate.OneOf(HAZARD_GRADES))
    jurisdiction = fields.String()
    industry = fields.String()
    source = fields.String(validate=validate.OneOf(HAZARD_SOURCES))
    enterprise_id = fields.UUID()
    overdue = fields.Boolean()
    listed = fields.Boolean()
    escalation_level = fields.Integer(
        validate=validate.Range(0, 4), metadata={"description": "at least this level"}
    )
    assignee = fields.String(metadata={"description": "a user id, or 'me'"})

    @validates_schema
    def _assignee(self, data: dict[str, Any], **_: Any) -> None:
        value = data.get("assignee")
        if value and value != "me":
            import uuid

            try:
                data["assignee"] = uuid.UUID(value)
            except ValueError as exc:
                raise ValidationError("A user id, or 'me'.", "assignee") from exc


class HazardBasisSchema(Schema):
    document = fields.String(validate=validate.Length(max=300))
    number = fields.String(allow_none=True, validate=validate.Length(max=100))
    article = fields.String(allow_none=True, validate=validate.Length(max=100))
    text = fields.String(allow_none=True, validate=validate.Length(max=4000))


class HazardCreateSchema(Schema):
    source = fields.String(validate=validate.OneOf(("self_report", "supervision")))
    enterprise_id = fields.UUID()
    grade = fields.String(required=True, validate=validate.OneOf(HAZARD_GRADES))
    description = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    item_code = fields.String(validate=validate.Length(max=20))
    basis = fields.Nested(HazardBasisSchema)
    photos = _photos_field(load_default=list)
    found_at = fields.AwareDateTime()
    deadline = fields.AwareDateTime()
    note = fields.String(validate=validate.Length(max=4000))


class HazardPlanSchema(Schema):
    """治理方案 of a major hazard (安监总局16号令 第十五条)."""

    goals = fields.String(validate=validate.Length(max=4000))
    measures = fields.String(validate=validate.Length(max=4000))
    funds_and_materials = fields.String(validate=validate.Length(max=4000))
    people_and_duties = fields.String(validate=validate.Length(max=4000))
    deadline = fields.AwareDateTime()
    safety_measures = fields.String(validate=validate.Length(max=4000))
    emergency_plan = fields.String(validate=validate.Length(max=4000))
    attachments = _photos_field()


#: action → (required fields, optional fields); anything else in the body is refused.
ACTION_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "assign": (("assignee_id",), ("deadline",)),
    "start": ((), ("plan",)),
    "submit_rectification": (("note", "photos"), ()),
    "recheck": (("result", "note", "photos"), ("deadline",)),
    "close": (("note",), ()),
    "escalate": (("note",), ()),
    "request_extension": (("until", "reason"), ()),
    "decide_extension": (("approve", "note"), ()),
    "comment": (("note",), ("photos",)),
}


class HazardActionSchema(Schema):
    """{action, …} — the fields each action takes are listed in docs/hazards.md."""

    action = fields.String(required=True, validate=validate.OneOf(HAZARD_ACTIONS))
    assignee_id = fields.UUID()
    deadline = fields.AwareDateTime()
    plan = fields.Nested(HazardPlanSchema)
    note = fields.String(validate=validate.Length(max=4000))
    photos = _photos_field()
    result = fields.String(validate=validate.OneOf(("pass", "fail")))
    until = fields.AwareDateTime()
    reason = fields.String(validate=validate.Length(min=1, max=4000))
    approve = fields.Boolean()

    @validates_schema
    def _per_action(self, data: dict[str, Any], **_: Any) -> None:
        action = data.get("action")
        if action not in ACTION_FIELDS:
            return
        required, optional = ACTION_FIELDS[action]
        errors: dict[str, list[str]] = {}
        for name in required:
            if data.get(name) in (None, ""):  # an empty photo list is judged by the rules
                errors[name] = [f"Required for '{action}'."]
        for name in data:
            if name != "action" and name not in required and name not in optional:
                errors[name] = [f"Not a field of '{action}'."]
        if errors:
            raise ValidationError(errors)


class HazardIssuedSchema(Schema):
    """The ticket number and id, for callers that only need to know what was issued."""

    id = fields.UUID()
    number = fields.String()


# --------------------------------------------------------------------------- public reports


class InlinePhotoField(fields.Field):
    """A small photo sent inline as base64 (anonymous reporters cannot use the upload API)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str) or not value:
            raise ValidationError("Send the photo as a base64 string.")
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        if len(value) > 4 * 1024 * 1024:
            raise ValidationError("The photo is too large; send a smaller one.")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("Not valid base64.") from exc


class StrictFloat(fields.Float):
    """A JSON number only: a string such as "31.2" is refused, as sync refuses it."""

    def _validated(self, value: Any) -> float:
        if type(value) not in (int, float):
            raise self.make_error("invalid")
        return super()._validated(value)


class PublicLocationSchema(Schema):
    lat = StrictFloat(required=True, validate=validate.Range(-90, 90))
    lon = StrictFloat(required=True, validate=validate.Range(-180, 180))


class PublicReportCreateSchema(Schema):
    description = fields.String(required=True, validate=validate.Length(min=5, max=4000))
    address = fields.String(validate=validate.Length(max=300))
    location = fields.Nested(PublicLocationSchema)
    jurisdiction = fields.String(validate=validate.Length(max=40))
    enterprise_name = fields.String(validate=validate.Length(max=200))
    contact = fields.String(validate=validate.Length(max=100))
    photo = InlinePhotoField(metadata={"description": "base64 JPEG/PNG/WebP/HEIC, small"})


class PublicReportReceiptSchema(Schema):
    id = fields.UUID()
    status = fields.String()
    received_at = UTCDateTime()


def _location(obj: Any) -> dict[str, float] | None:
    if obj.lat is None or obj.lon is None:
        return None
    return {"lat": obj.lat, "lon": obj.lon}


def _report_hazard(obj: Any) -> Any:
    from sqlalchemy import select

    from app.db import session
    from app.hazards.models import Hazard

    hid = session.scalar(select(Hazard.id).where(Hazard.public_report_id == obj.id))
    return str(hid) if hid else None


class PublicReportSchema(Schema):
    id = fields.UUID()
    description = fields.String()
    address = fields.String()
    location = fields.Function(_location)
    jurisdiction = fields.String(attribute="jurisdiction_code", allow_none=True)
    enterprise_name = fields.String()
    contact = fields.String(allow_none=True)
    photo = fields.String(attribute="photo_sha256", allow_none=True)
    status = fields.String()
    received_at = UTCDateTime()
    decided_by = fields.UUID(allow_none=True)
    decided_at = UTCDateTime(allow_none=True)
    decision_note = fields.String()
    hazard_id = fields.Function(_report_hazard)


class PublicReportQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(PUBLIC_REPORT_STATES))


class PublicReportVerifySchema(Schema):
    enterprise_id = fields.UUID(required=True)
    grade = fields.String(required=True, validate=validate.OneOf(HAZARD_GRADES))
    description = fields.String(validate=validate.Length(min=1, max=4000))
    item_code = fields.String(validate=validate.Length(max=20))
    deadline = fields.AwareDateTime()
    note = fields.String(validate=validate.Length(max=2000))


class PublicReportRejectSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))
