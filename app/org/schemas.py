"""Schemas for users, jurisdictions and departments."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.i18n import LANGUAGES
from app.org.models import ROLES, STAFF_ROLES

LOCALE_DOC = (
    "The language you read the API's messages in: zh (Chinese) or en (English); "
    "null follows your browser's Accept-Language (Chinese when it names neither)."
)


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    username = fields.String()
    name = fields.String()
    role = fields.String()
    jurisdiction = fields.String(attribute="jurisdiction_code")
    department = fields.String(attribute="department_code", allow_none=True)
    enterprise_id = fields.UUID(allow_none=True)
    phone = fields.String(allow_none=True)
    certificate_no = fields.String(allow_none=True)
    certificate_expires = fields.Date(allow_none=True)
    conflicts = fields.List(fields.String())
    active = fields.Boolean()


class MeSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    name = fields.String()
    role = fields.String()
    jurisdiction = fields.String(attribute="jurisdiction_code")
    department = fields.String(attribute="department_code", allow_none=True)
    enterprise_id = fields.UUID(allow_none=True)
    locale = fields.String(
        allow_none=True, metadata={"description": LOCALE_DOC, "enum": [*LANGUAGES, None]}
    )


class MeUpdateSchema(Schema):
    """What a user may change of their own account."""

    locale = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": LOCALE_DOC},
    )


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{3,80}$"))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=200)
    )
    name = fields.String(validate=validate.Length(max=100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    jurisdiction = fields.String(required=True)
    department = fields.String(allow_none=True)
    enterprise_id = fields.UUID(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    certificate_no = fields.String(allow_none=True, validate=validate.Length(max=60))
    certificate_expires = fields.Date(allow_none=True)
    conflicts = fields.List(fields.UUID(), load_default=list)


class UserUpdateSchema(Schema):
    password = fields.String(load_only=True, validate=validate.Length(min=10, max=200))
    name = fields.String(validate=validate.Length(max=100))
    role = fields.String(validate=validate.OneOf(ROLES))
    jurisdiction = fields.String()
    department = fields.String(allow_none=True)
    enterprise_id = fields.UUID(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    certificate_no = fields.String(allow_none=True, validate=validate.Length(max=60))
    certificate_expires = fields.Date(allow_none=True)
    conflicts = fields.List(fields.UUID())
    active = fields.Boolean()


class StaffSchema(Schema):
    """A colleague as the staff directory shows them: no username, password or registry data."""

    id = fields.UUID()
    name = fields.String()
    role = fields.String()
    department = fields.String(attribute="department_code", allow_none=True)
    jurisdiction = fields.String(attribute="jurisdiction_code")
    certificate_no = fields.String(allow_none=True, metadata={"description": "执法证号"})
    phone = fields.String(
        allow_none=True, metadata={"description": "only for coordinators and admins; else null"}
    )


class StaffQueryArgsSchema(Schema):
    role = fields.String(validate=validate.OneOf(STAFF_ROLES))
    department = fields.String(validate=validate.Length(max=40))
    jurisdiction = fields.String(validate=validate.Length(max=40))
    q = fields.String(validate=validate.Length(min=1, max=50))


class UserQueryArgsSchema(Schema):
    role = fields.String(validate=validate.OneOf(ROLES))
    jurisdiction = fields.String()
    department = fields.String()


class JurisdictionSchema(Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    parent = fields.String(attribute="parent_code", allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)


class DepartmentSchema(Schema):
    code = fields.String()
    name = fields.String()
    jurisdiction = fields.String(attribute="jurisdiction_code")
