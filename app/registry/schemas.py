"""Schemas for the enterprise registry (检查对象名录库)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from app.clock import isoformat
from app.fields import DateTime
from app.i18n import _
from app.registry.models import RISK_LEVELS
from app.registry.uscc import valid_uscc


class LocationSchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))


class PrincipalSchema(Schema):
    name = fields.String(allow_none=True, validate=validate.Length(max=100))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))


def _location(obj: Any) -> dict[str, float] | None:
    if obj.lat is None or obj.lon is None:
        return None
    return {"lat": obj.lat, "lon": obj.lon}


def _principal(obj: Any) -> dict[str, Any]:
    return {"name": obj.principal_name, "phone": obj.principal_phone}


class EnterpriseSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    uscc = fields.String()
    industry = fields.String()
    jurisdiction = fields.String(attribute="jurisdiction_code")
    address = fields.String()
    location = fields.Function(_location, allow_none=True)
    risk_level = fields.String()
    principal = fields.Function(_principal)
    last_inspected_at = DateTime(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()
    version = fields.Integer()


def dump_enterprise(e: Any) -> dict[str, Any]:
    """Return what :class:`EnterpriseSchema` dumps, written out (the sync feed's hot path).

    ``e`` is an :class:`~app.registry.models.Enterprise` or a row of its table's columns. A
    test holds this equal to the schema's dump, so the API's and the feed's shapes cannot drift.
    """
    return {
        "id": str(e.id),
        "name": e.name,
        "uscc": e.uscc,
        "industry": e.industry,
        "jurisdiction": e.jurisdiction_code,
        "address": e.address,
        "location": _location(e),
        "risk_level": e.risk_level,
        "principal": _principal(e),
        "last_inspected_at": isoformat(e.last_inspected_at),
        "created_at": isoformat(e.created_at),
        "updated_at": isoformat(e.updated_at),
        "version": e.version,
    }


class _EnterpriseWriteSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    uscc = fields.String(validate=validate.Length(equal=18))
    industry = fields.String(validate=validate.Length(min=1, max=40))
    jurisdiction = fields.String(validate=validate.Length(min=1, max=40))
    address = fields.String(validate=validate.Length(max=300))
    location = fields.Nested(LocationSchema, allow_none=True)
    risk_level = fields.String(validate=validate.OneOf(RISK_LEVELS))
    principal = fields.Nested(PrincipalSchema)

    @validates("uscc")
    def _check_uscc(self, value: str, **kwargs: Any) -> None:
        if not valid_uscc(value.upper()):
            raise ValidationError(
                _("Not a valid 统一社会信用代码: wrong length, character or check character.")
            )

    @post_load
    def _normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "uscc" in data:
            data["uscc"] = data["uscc"].upper()
        return data


class EnterpriseCreateSchema(_EnterpriseWriteSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    uscc = fields.String(required=True, validate=validate.Length(equal=18))
    industry = fields.String(required=True, validate=validate.Length(min=1, max=40))
    jurisdiction = fields.String(required=True, validate=validate.Length(min=1, max=40))
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))


class EnterpriseUpdateSchema(_EnterpriseWriteSchema):
    pass


class EnterpriseQueryArgsSchema(Schema):
    industry = fields.String()
    jurisdiction = fields.String()
    risk_level = fields.String(validate=validate.OneOf(RISK_LEVELS))
    q = fields.String(validate=validate.Length(min=1, max=100))


class ImportResultSchema(Schema):
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
