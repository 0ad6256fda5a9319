"""Schemas of the media API."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.fields import DateTime


class GPSSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()
    alt = fields.Float(allow_none=True)


class ExifSchema(Schema):
    taken_at = fields.String(allow_none=True, metadata={"description": "RFC 3339 UTC"})
    gps = fields.Nested(GPSSchema, allow_none=True)
    make = fields.String(allow_none=True)
    model = fields.String(allow_none=True)


class ThumbnailsSchema(Schema):
    small = fields.String(metadata={"description": "signed URL, about 320 px"})
    large = fields.String(metadata={"description": "signed URL, 1600 to 2080 px on the long side"})


class MediaSchema(Schema):
    sha256 = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    width = fields.Integer()
    height = fields.Integer()
    exif = fields.Nested(ExifSchema, allow_none=True)
    phash = fields.String()
    created_at = DateTime()
    original_url = fields.String(metadata={"description": "short-lived signed URL"})
    thumbnails = fields.Nested(ThumbnailsSchema)
    expires_in = fields.Integer(metadata={"description": "seconds the URLs stay valid"})


class SignedFileArgsSchema(Schema):
    expires = fields.Integer(required=True)
    signature = fields.String(required=True)
