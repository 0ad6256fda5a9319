"""Schemas for tokens and devices."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.fields import DateTime
from app.org.schemas import MeSchema


class TokenRequestSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200))
    device_name = fields.String(allow_none=True, validate=validate.Length(max=120))


class RefreshRequestSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TokenSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    user = fields.Nested(MeSchema)


class DeviceSchema(Schema):
    id = fields.UUID()
    user_id = fields.UUID()
    name = fields.String()
    created_at = DateTime()
    last_seen_at = DateTime(allow_none=True)
    revoked_at = DateTime(allow_none=True)


class DeviceQueryArgsSchema(Schema):
    user_id = fields.UUID()
