"""Schemas for the audit log."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields

from app.fields import DateTime


class AuditEntrySchema(Schema):
    seq = fields.Integer()
    chain = fields.Integer()
    chain_seq = fields.Integer()
    at = DateTime()
    actor_id = fields.UUID(allow_none=True)
    actor = fields.String(allow_none=True)
    action = fields.String()
    entity_type = fields.String(allow_none=True)
    entity_id = fields.String(allow_none=True)
    data = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class AuditQueryArgsSchema(Schema):
    entity_type = fields.String()
    entity_id = fields.String()
    action = fields.String()
    actor = fields.String()
    since = DateTime(default_timezone=UTC)
    until = DateTime(default_timezone=UTC)
