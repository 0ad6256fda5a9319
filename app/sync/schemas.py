"""Schemas of the sync endpoints (the push envelope itself is ``sync.protocol.PushSchema``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from sync.protocol import PushSchema

__all__ = ["PullQueryArgsSchema", "PullSchema", "PushResultSchema", "PushSchema"]


class EntityRefSchema(Schema):
    type = fields.String()
    id = fields.String()
    version = fields.Integer(allow_none=True)


class MutationResultSchema(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "applied | rejected"})
    code = fields.String()
    message = fields.String()
    errors = fields.Dict()
    entity = fields.Nested(EntityRefSchema)


class PushResultSchema(Schema):
    last_mutation_id = fields.Integer()
    results = fields.List(fields.Nested(MutationResultSchema))
    missing_media = fields.List(fields.String())


class PullQueryArgsSchema(Schema):
    client_id = fields.UUID(
        required=True, metadata={"description": "The install's client_id, as in push."}
    )
    cursor = fields.String(
        validate=validate.Length(max=1024),
        metadata={"description": "The cursor of the previous page; omit for a full download."},
    )
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=2000))


class ChangeSchema(Schema):
    type = fields.String()
    id = fields.String()
    op = fields.String(metadata={"description": "put | delete"})
    version = fields.Integer()
    data = fields.Raw()


class PullSchema(Schema):
    cursor = fields.String()
    has_more = fields.Boolean()
    last_mutation_id = fields.Integer()
    changes = fields.List(fields.Nested(ChangeSchema))
