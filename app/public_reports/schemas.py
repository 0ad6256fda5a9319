"""Schemas for public reports (群众举报): the anonymous intake, the receipt, staff triage."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from app.fields import DateTime
from app.hazards.models import HAZARD_GRADES
from app.i18n import _
from app.public_reports.models import PUBLIC_REPORT_STATES


class InlinePhotoField(fields.Field):
    """A small photo sent inline as base64 (anonymous reporters cannot use the upload API)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str) or not value:
            raise ValidationError(_("Send the photo as a base64 string."))
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        if len(value) > 4 * 1024 * 1024:
            raise ValidationError(_("The photo is too large; send a smaller one."))
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(_("Not valid base64.")) from exc


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
    received_at = DateTime()


def _location(obj: Any) -> dict[str, float] | None:
    if obj.lat is None or obj.lon is None:
        return None
    return {"lat": obj.lat, "lon": obj.lon}


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
    received_at = DateTime()
    decided_by = fields.UUID(allow_none=True)
    decided_at = DateTime(allow_none=True)
    decision_note = fields.String()
    hazard_id = fields.Function(lambda r: str(r.hazard.id) if r.hazard is not None else None)


class PublicReportQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(PUBLIC_REPORT_STATES))


class PublicReportVerifySchema(Schema):
    enterprise_id = fields.UUID(required=True)
    grade = fields.String(required=True, validate=validate.OneOf(HAZARD_GRADES))
    description = fields.String(validate=validate.Length(min=1, max=4000))
    item_code = fields.String(validate=validate.Length(max=20))
    deadline = DateTime()
    note = fields.String(validate=validate.Length(max=2000))


class PublicReportRejectSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))
