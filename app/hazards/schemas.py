"""Schemas for hazard tickets, their actions and timeline (they format; they never query)."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.fields import SHA256, DateTime, dump_now
from app.hazards.models import (
    ESCALATION_LEVELS,
    HAZARD_ACTIONS,
    HAZARD_GRADES,
    HAZARD_SOURCES,
    HAZARD_STATES,
)
from app.i18n import _
from app.inspections.schemas import DocumentRefSchema


def _photos_field(**kw: Any) -> fields.List:
    return fields.List(fields.String(validate=SHA256), validate=validate.Length(max=50), **kw)


#: The fields of its enterprise a ticket shows (``HazardEnterpriseSchema``): an edit of any of
#: them puts the enterprise's tickets back into the devices' feed (``services.republish_for``).
ENTERPRISE_FIELDS = frozenset({"name", "address"})


class HazardEnterpriseSchema(Schema):
    """{id, name, address} of the ticket's enterprise (loaded with the ticket)."""

    id = fields.UUID()
    name = fields.String()
    address = fields.String()


class HazardActorSchema(Schema):
    id = fields.UUID(attribute="actor_id", allow_none=True)
    username = fields.String(attribute="actor_name")
    role = fields.String(attribute="actor_role", allow_none=True)


class HazardEventSchema(Schema):
    seq = fields.Integer()
    action = fields.String()
    actor = fields.Function(lambda e: HazardActorSchema().dump(e))
    at = DateTime()
    device_at = DateTime(allow_none=True)
    note = fields.String()
    photos = fields.List(fields.String())
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    data = fields.Dict()


class HazardPersonSchema(Schema):
    id = fields.UUID()
    name = fields.String()


class HazardSchema(Schema):
    id = fields.UUID()
    number = fields.String()
    source = fields.String()
    finding_id = fields.UUID(allow_none=True)
    inspection_id = fields.UUID(allow_none=True)
    public_report_id = fields.UUID(allow_none=True)
    grade = fields.String()
    enterprise_id = fields.UUID()
    enterprise = fields.Nested(HazardEnterpriseSchema, allow_none=True)
    jurisdiction = fields.String(attribute="jurisdiction_code")
    industry = fields.String()
    item_code = fields.String(allow_none=True)
    basis = fields.Dict(allow_none=True)
    description = fields.String()
    photos = fields.List(fields.String())
    found_at = DateTime()
    deadline = DateTime()
    overdue = fields.Function(lambda h: h.is_overdue(dump_now()))
    assignee_id = fields.UUID(allow_none=True)
    assignee = fields.Nested(HazardPersonSchema, allow_none=True)
    status = fields.String()
    escalation_level = fields.Integer()
    escalation = fields.Function(lambda h: ESCALATION_LEVELS.get(h.escalation_level))
    escalated_at = DateTime(allow_none=True)
    listed = fields.Boolean()
    plan = fields.Dict(allow_none=True)
    extension_request = fields.Dict(allow_none=True)
    created_by = fields.UUID(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()
    closed_at = DateTime(allow_none=True)
    version = fields.Integer()
    documents = fields.List(
        fields.Nested(DocumentRefSchema),
        metadata={"description": "the documents naming the ticket (docs/documents.md)"},
    )


class HazardDetailSchema(HazardSchema):
    timeline = fields.List(fields.Nested(HazardEventSchema), attribute="events")


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
    def _assignee(self, data: dict[str, Any], **kwargs: Any) -> None:
        value = data.get("assignee")
        if value and value != "me":
            try:
                data["assignee"] = uuid.UUID(value)
            except ValueError as exc:
                raise ValidationError(_("A user id, or 'me'."), "assignee") from exc


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
    found_at = DateTime()
    deadline = DateTime()
    note = fields.String(validate=validate.Length(max=4000))


class HazardPlanSchema(Schema):
    """治理方案 of a major hazard (安监总局16号令 第十五条)."""

    goals = fields.String(validate=validate.Length(max=4000))
    measures = fields.String(validate=validate.Length(max=4000))
    funds_and_materials = fields.String(validate=validate.Length(max=4000))
    people_and_duties = fields.String(validate=validate.Length(max=4000))
    deadline = DateTime()
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
    deadline = DateTime()
    plan = fields.Nested(HazardPlanSchema)
    note = fields.String(validate=validate.Length(max=4000))
    photos = _photos_field()
    result = fields.String(validate=validate.OneOf(("pass", "fail")))
    until = DateTime()
    reason = fields.String(validate=validate.Length(min=1, max=4000))
    approve = fields.Boolean()

    @validates_schema
    def _per_action(self, data: dict[str, Any], **kwargs: Any) -> None:
        action = data.get("action")
        if action not in ACTION_FIELDS:
            return
        required, optional = ACTION_FIELDS[action]
        errors: dict[str, list[str]] = {}
        for name in required:
            if data.get(name) in (None, ""):  # an empty photo list is judged by the rules
                errors[name] = [_("Required for '%(action)s'.", action=action)]
        for name in data:
            if name != "action" and name not in required and name not in optional:
                errors[name] = [_("Not a field of '%(action)s'.", action=action)]
        if errors:
            raise ValidationError(errors)
