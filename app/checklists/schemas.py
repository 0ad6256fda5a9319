"""Schemas for checklists."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.fields import DateTime


class BasisSchema(Schema):
    document = fields.String()
    number = fields.String()
    article = fields.String()
    text = fields.String()


class ChecklistItemSchema(Schema):
    code = fields.String()
    text = fields.String()
    category = fields.String()
    grade = fields.String()
    basis = fields.Nested(BasisSchema)
    requires_photo = fields.Boolean()
    answer = fields.String()
    unit = fields.String()
    min = fields.Float()
    max = fields.Float()


class ChecklistSummarySchema(Schema):
    industry = fields.String()
    version = fields.Integer()
    name = fields.String()
    digest = fields.String()
    published_at = DateTime()
    item_count = fields.Function(lambda cv: len(cv.content["items"]))


class ChecklistSchema(Schema):
    industry = fields.String()
    version = fields.Integer()
    name = fields.String()
    digest = fields.String()
    published_at = DateTime()
    description = fields.String()
    standards = fields.List(fields.String())
    items = fields.List(fields.Nested(ChecklistItemSchema))
