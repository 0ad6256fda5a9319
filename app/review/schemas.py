"""Schemas for the review queue and decisions on findings."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.checklists.schemas import JudgedItemSchema
from app.fields import DateTime
from app.inspections.schemas import FindingSchema
from app.review.models import DECISIONS
from app.review.services import FLAGS


class EvidenceGPSSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()
    alt = fields.Float(allow_none=True)


class PhotoEvidenceSchema(Schema):
    sha256 = fields.String()
    #: False while the photo has not been uploaded (the finding is media_pending).
    stored = fields.Boolean()
    thumbnails = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        allow_none=True,
        metadata={"description": "signed, short-lived URLs: original, small, large"},
    )
    taken_at = DateTime(allow_none=True)
    gps = fields.Nested(EvidenceGPSSchema, allow_none=True)
    distance_m = fields.Float(allow_none=True, metadata={"description": "EXIF GPS to the site"})
    flags = fields.List(fields.String(validate=validate.OneOf(FLAGS)))


class QueuePersonSchema(Schema):
    id = fields.UUID()
    name = fields.String(allow_none=True)


class QueueFindingSchema(Schema):
    id = fields.UUID()
    value = fields.Float(allow_none=True)
    measures = fields.List(fields.Dict())
    inspection_id = fields.UUID()
    item_code = fields.String()
    checklist_version = fields.Integer(allow_none=True)
    result = fields.String()
    note = fields.String()
    grade = fields.String()
    location = fields.Dict(allow_none=True)
    recorded_at = DateTime()
    review_status = fields.String()
    media_pending = fields.Boolean()
    version = fields.Integer()
    photos = fields.List(fields.Nested(PhotoEvidenceSchema))
    flags = fields.List(fields.String(validate=validate.OneOf(FLAGS)))
    flag_reasons = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "for time flags: what was seen, in words (flag → reason)"},
    )
    item = fields.Nested(JudgedItemSchema, allow_none=True)


class QueueLocationSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy = fields.Float(allow_none=True)


class QueueCheckInSchema(Schema):
    at = DateTime(allow_none=True)
    received_at = DateTime(allow_none=True)
    location = fields.Nested(QueueLocationSchema, allow_none=True)
    distance_m = fields.Float(allow_none=True)
    far = fields.Boolean()


class QueueEnterpriseSchema(Schema):
    id = fields.UUID()
    name = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    location = fields.Nested(QueueLocationSchema, allow_none=True)


class QueueInspectionSchema(Schema):
    id = fields.UUID()
    type = fields.String()
    status = fields.String()
    enterprise = fields.Nested(QueueEnterpriseSchema)
    jurisdiction = fields.String()
    industry = fields.String()
    inspector_ids = fields.List(fields.UUID())
    inspectors = fields.List(fields.Nested(QueuePersonSchema))
    check_in = fields.Nested(QueueCheckInSchema, allow_none=True)
    submitted_at = DateTime(allow_none=True)


class ReviewQueueItemSchema(Schema):
    inspection = fields.Nested(QueueInspectionSchema)
    flags = fields.List(fields.String(validate=validate.OneOf(FLAGS)))
    findings = fields.List(fields.Nested(QueueFindingSchema))


class ReviewRequestSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    comment = fields.String(load_default="", validate=validate.Length(max=4000))
    grade = fields.String(validate=validate.OneOf(("general", "major")))
    grade_reason = fields.String(validate=validate.Length(max=2000))


class ConfirmPassesSchema(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=4000))


class SkippedFindingSchema(Schema):
    id = fields.UUID()
    flags = fields.List(fields.String(validate=validate.OneOf(FLAGS)))


class ConfirmedPassesSchema(Schema):
    confirmed = fields.List(fields.UUID(), metadata={"description": "findings confirmed now"})
    skipped = fields.List(
        fields.Nested(SkippedFindingSchema),
        metadata={"description": "passes left for a decision of their own: they carry flags"},
    )
    status = fields.String(metadata={"description": "the inspection's status afterwards"})


class ReviewSchema(Schema):
    id = fields.UUID()
    decision = fields.String()
    comment = fields.String()
    grade_from = fields.String(allow_none=True)
    grade_to = fields.String(allow_none=True)
    grade_reason = fields.String(allow_none=True)
    reviewer_id = fields.UUID()
    at = DateTime()


class ReviewedFindingSchema(FindingSchema):
    """A finding as the review answers it: the finding, its ticket and the latest decision."""

    recorded_at = DateTime()
    received_at = DateTime()
    hazard_id = fields.UUID(allow_none=True)
    review = fields.Nested(ReviewSchema, allow_none=True)
