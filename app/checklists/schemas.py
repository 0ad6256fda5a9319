"""Schemas for checklists."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.fields import DateTime


class BasisSchema(Schema):
    document = fields.String()
    number = fields.String()
    article = fields.String()
    text = fields.String()


class SourceSchema(Schema):
    title = fields.String()
    number = fields.String()
    edition = fields.String()
    effective = fields.String(allow_none=True)
    in_force = fields.Boolean(allow_none=True)
    superseded_by = fields.String()
    read_from = fields.String()
    note = fields.String()


class ChecklistItemSchema(Schema):
    code = fields.String()
    text = fields.String()
    category = fields.String()
    grade = fields.String()
    #: false when the clause text could not be checked against a copy of its source.
    verified = fields.Boolean()
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
    #: First China date inspections pin this version (ISO date), null: since publication.
    effective_from = fields.String(allow_none=True)
    description = fields.String()
    standards = fields.List(fields.String())
    sources = fields.List(fields.Nested(SourceSchema))
    items = fields.List(fields.Nested(ChecklistItemSchema))


class JudgedBasisSchema(Schema):
    """A finding's basis as the checklist version it was judged under cites it (edition)."""

    document = fields.String()
    number = fields.String(allow_none=True)
    article = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    edition = fields.String(allow_none=True)
    effective = fields.String(allow_none=True)
    in_force = fields.Boolean(allow_none=True)


class JudgedItemSchema(Schema):
    """The checklist item a finding answers, as the version it was judged under words it."""

    code = fields.String()
    text = fields.String()
    category = fields.String(allow_none=True)
    grade = fields.String()
    requires_photo = fields.Boolean()
    checklist_version = fields.Integer()
    basis = fields.Nested(JudgedBasisSchema)
