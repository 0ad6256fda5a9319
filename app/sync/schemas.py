"""Schemas of the sync endpoints.

The push is validated by ``sync.protocol`` (the protocol's one set of rules); the schemas
here describe it in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from sync.protocol import MAX_MUTATIONS_PER_PUSH, ProtocolError, PushRequest, parse_push

__all__ = ["PullQueryArgsSchema", "PullSchema", "PushResultSchema", "PushSchema"]


class MutationSchema(Schema):
    id = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=2**62),
        metadata={"description": "The device's mutation counter; consecutive within a push."},
    )
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "finding.put, inspection.check_in, … (docs/sync.md)"},
    )
    args = fields.Dict(
        required=True,
        metadata={"description": "The mutation's arguments; checked when it is applied."},
    )


class PushSchema(Schema):
    """The push envelope; loading it is ``sync.protocol.parse_push``."""

    client_id = fields.UUID(required=True)
    mutations = fields.List(
        fields.Nested(MutationSchema),
        required=True,
        validate=validate.Length(max=MAX_MUTATIONS_PER_PUSH),
    )

    def load(self, data: Any, **kwargs: Any) -> PushRequest:  # type: ignore[override]
        """Validate with the protocol's own rules (the fields above only document them)."""
        try:
            return parse_push(data)
        except ProtocolError as exc:
            raise ValidationError(exc.errors) from exc


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
    missing_media = fields.List(
        fields.String(),
        metadata={
            "description": "Photos your own findings cite that the server still waits for: "
            "upload them (docs/sync.md, Photos)."
        },
    )
