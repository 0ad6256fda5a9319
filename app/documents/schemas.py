"""Schemas for the enforcement documents, their signatures and their verification."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from app.documents.commands import MAX_SIGNATURE_BYTES, SIGNER_ROLES
from app.documents.models import DOCUMENT_KINDS
from app.fields import DateTime
from app.i18n import _
from app.inspections.schemas import DocumentRefSchema


class Base64Image(fields.String):
    """A signature image as base64 text, loaded as bytes."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_SIGNATURE_BYTES * 4 // 3 + 4:
            raise ValidationError(_("Not a PNG or JPEG image of at most %(kb)s KB.", kb=256))
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(_("Not valid base64.")) from exc


class DocumentSchema(DocumentRefSchema):
    """One version of a document, with what it says."""

    inspection_id = fields.UUID()
    enterprise_id = fields.UUID()
    department = fields.String(attribute="department_code")
    current = fields.Boolean(metadata={"description": "false once a later version replaced it"})
    hazard_ids = fields.List(fields.UUID())
    size = fields.Integer()
    content = fields.Dict(metadata={"description": "what the PDF says (app/documents/content.py)"})


class DocumentCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))


class DocumentQueryArgsSchema(Schema):
    all_versions = fields.Boolean(
        load_default=False, metadata={"description": "every version, not only the current ones"}
    )


class SignatureLocationSchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    accuracy = fields.Float(allow_none=True, validate=validate.Range(0, 100_000))


class SignatureCreateSchema(Schema):
    """A signature captured on the device (or a refusal), as the upload sends it."""

    role = fields.String(required=True, validate=validate.OneOf(SIGNER_ROLES))
    signer_name = fields.String(required=True, validate=validate.Length(1, 100))
    signer_id = fields.UUID(allow_none=True)
    signed_at = DateTime(required=True)
    image = Base64Image(allow_none=True, metadata={"description": "PNG or JPEG, base64"})
    refused = fields.Boolean(load_default=False)
    witness_name = fields.String(load_default="", validate=validate.Length(max=100))
    place = fields.String(load_default="", validate=validate.Length(max=200))
    location = fields.Nested(SignatureLocationSchema, allow_none=True)


class PublicDocumentSchema(Schema):
    """What the verification page confirms about a document."""

    number = fields.String()
    kind = fields.String()
    title = fields.Function(lambda d: d.content.get("title"))
    department = fields.Function(lambda d: d.content.get("department"))
    date = fields.Function(lambda d: d.content.get("date"))
    enterprise = fields.Function(lambda d: d.enterprise.name if d.enterprise else None)
    issued_at = DateTime()
    version = fields.Integer()
    current = fields.Boolean()
    sha256 = fields.String()


class VerificationSchema(Schema):
    genuine = fields.Boolean(metadata={"description": "the bytes are the PDF the code names"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the bytes sent"})
    expected_sha256 = fields.String(
        allow_none=True, metadata={"description": "SHA-256 the audit chain recorded at issue"}
    )
    document = fields.Nested(PublicDocumentSchema)
