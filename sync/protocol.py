"""The sync protocol's mutations: names, typed arguments and their validation.

A push carries ``{"client_id", "mutations": [{"id", "name", "args"}]}``. The envelope is
validated as a whole (a malformed envelope is a 422 and nothing is applied); each
mutation's ``args`` are validated one by one, and a mutation whose name is unknown or
whose args are bad is *rejected* with a code and field messages while the push goes on.

Marshmallow 4 schemas (no Flask) turn the JSON into frozen dataclasses, so the apply
loop works with typed values: UUIDs, timezone-aware UTC datetimes, floats.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

__all__ = [
    "FINDING_GRADES",
    "FINDING_RESULTS",
    "MAX_MUTATIONS_PER_PUSH",
    "MUTATIONS",
    "CheckIn",
    "FindingDelete",
    "FindingPut",
    "HazardComment",
    "HazardRecheck",
    "InspectionCreate",
    "InspectionSubmit",
    "Location",
    "MutationArgs",
    "ProtocolError",
    "PushRequest",
    "RawMutation",
    "parse_args",
    "parse_push",
]

FINDING_RESULTS = ("pass", "fail", "na")
FINDING_GRADES = ("general", "major")
MAX_MUTATIONS_PER_PUSH = 1000
MAX_PHOTOS = 50
SHA256_HEX = r"^[0-9a-f]{64}$"


class ProtocolError(Exception):
    """A push or a mutation that does not follow the protocol."""

    def __init__(
        self, code: str, message: str, errors: Mapping[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors: dict[str, list[str]] = dict(errors or {})


# --- typed values -------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """A GPS fix; ``accuracy`` in metres."""

    lat: float
    lon: float
    accuracy: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """Return the JSON form."""
        return {"lat": self.lat, "lon": self.lon, "accuracy": self.accuracy}


@dataclass(frozen=True)
class CheckIn:
    """``inspection.check_in``: the inspector is on site."""

    inspection_id: uuid.UUID
    at: datetime
    location: Location


#: finding fields a ``finding.put`` may carry besides its identity; ``fields_set`` names
#: the ones the device actually sent, so an absent field is not mistaken for a cleared one
FINDING_PUT_FIELDS = ("result", "note", "grade", "photos", "location", "recorded_at")


@dataclass(frozen=True)
class FindingPut:
    """``finding.put``: create a finding or update the fields sent."""

    id: uuid.UUID
    inspection_id: uuid.UUID
    item_code: str
    result: str
    recorded_at: datetime
    note: str | None = None
    grade: str | None = None
    photos: tuple[str, ...] = ()
    location: Location | None = None
    base_version: int | None = None
    fields_set: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class FindingDelete:
    """``finding.delete``: remove a finding (a delete beats any edit)."""

    id: uuid.UUID


@dataclass(frozen=True)
class InspectionSubmit:
    """``inspection.submit``: lock the inspection's findings and send it for review."""

    inspection_id: uuid.UUID
    at: datetime


@dataclass(frozen=True)
class InspectionCreate:
    """``inspection.create``: a routine patrol started on the device."""

    id: uuid.UUID
    enterprise_id: uuid.UUID
    industry: str
    type: str = "routine"


@dataclass(frozen=True)
class HazardRecheck:
    """``hazard.recheck``: the re-inspection of a rectified hazard."""

    hazard_id: uuid.UUID
    result: str
    note: str
    photos: tuple[str, ...]
    at: datetime
    deadline: datetime | None = None


@dataclass(frozen=True)
class HazardComment:
    """``hazard.comment``: a note (and photos) on a hazard's timeline."""

    hazard_id: uuid.UUID
    note: str
    photos: tuple[str, ...] = ()


MutationArgs = (
    CheckIn
    | FindingPut
    | FindingDelete
    | InspectionSubmit
    | InspectionCreate
    | HazardRecheck
    | HazardComment
)


# --- schemas ------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: Characters no stored text may hold: NUL (PostgreSQL text cannot) and lone surrogates
#: (not encodable as UTF-8). Refused per mutation, so one bad note never blocks an outbox.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class Text(fields.String):
    """A string without NUL or invalid code points."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _BAD_TEXT.search(text):
            raise ValidationError("Contains a NUL character or an invalid Unicode code point.")
        return text


class UTCTime(fields.AwareDateTime):
    """A time with its offset, converted to UTC; refused when UTC cannot express it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Out of range once converted to UTC.") from exc


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _photos(required: bool) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Regexp(SHA256_HEX, error="Not a lower-case SHA-256 hex.")),
        required=required,
        validate=validate.Length(max=MAX_PHOTOS),
    )


def _time(required: bool = True) -> fields.AwareDateTime:
    return UTCTime(format="iso", required=required)


class LocationSchema(_Strict):
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    accuracy = fields.Float(allow_nan=False, allow_none=True, validate=validate.Range(0, 100_000))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Location:
        return Location(**data)


class CheckInLocationSchema(LocationSchema):
    accuracy = fields.Float(required=True, allow_nan=False, validate=validate.Range(0, 100_000))


class CheckInSchema(_Strict):
    inspection_id = fields.UUID(required=True)
    at = _time()
    location = fields.Nested(CheckInLocationSchema, required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> CheckIn:
        return CheckIn(data["inspection_id"], _utc(data["at"]), data["location"])


class FindingPutSchema(_Strict):
    id = fields.UUID(required=True)
    inspection_id = fields.UUID(required=True)
    item_code = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", error="Not a checklist item code."
        ),
    )
    result = fields.String(required=True, validate=validate.OneOf(FINDING_RESULTS))
    note = Text(allow_none=True, validate=validate.Length(max=4000))
    grade = fields.String(allow_none=True, validate=validate.OneOf(FINDING_GRADES))
    photos = _photos(required=False)
    location = fields.Nested(LocationSchema, allow_none=True)
    recorded_at = _time()
    base_version = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=0, max=2**31 - 1)
    )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> FindingPut:
        photos = tuple(dict.fromkeys(data.get("photos") or ()))
        return FindingPut(
            id=data["id"],
            inspection_id=data["inspection_id"],
            item_code=data["item_code"],
            result=data["result"],
            recorded_at=_utc(data["recorded_at"]),
            note=data.get("note"),
            grade=data.get("grade"),
            photos=photos,
            location=data.get("location"),
            base_version=data.get("base_version"),
            fields_set=frozenset(k for k in FINDING_PUT_FIELDS if k in data),
        )


class FindingDeleteSchema(_Strict):
    id = fields.UUID(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> FindingDelete:
        return FindingDelete(data["id"])


class InspectionSubmitSchema(_Strict):
    inspection_id = fields.UUID(required=True)
    at = _time()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> InspectionSubmit:
        return InspectionSubmit(data["inspection_id"], _utc(data["at"]))


class InspectionCreateSchema(_Strict):
    id = fields.UUID(required=True)
    enterprise_id = fields.UUID(required=True)
    # Any industry slug; the server checks that a checklist is published for it.
    industry = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$", error="Not an industry slug."),
    )
    type = fields.String(
        required=True,
        validate=validate.OneOf(("routine",), error="Devices may only start routine patrols."),
    )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> InspectionCreate:
        return InspectionCreate(data["id"], data["enterprise_id"], data["industry"], data["type"])


class HazardRecheckSchema(_Strict):
    hazard_id = fields.UUID(required=True)
    result = fields.String(required=True, validate=validate.OneOf(("pass", "fail")))
    note = Text(required=True, validate=validate.Length(min=1, max=4000))
    photos = _photos(required=True)
    at = _time()
    #: optional new rectification deadline on a failed re-inspection
    deadline = fields.AwareDateTime(format="iso", allow_none=True)

    @validates_schema
    def pass_needs_photo(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("result") == "pass" and not data.get("photos"):
            raise ValidationError("A passed re-inspection needs photo proof.", "photos")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> HazardRecheck:
        deadline = data.get("deadline")
        return HazardRecheck(
            hazard_id=data["hazard_id"],
            result=data["result"],
            note=data["note"],
            photos=tuple(dict.fromkeys(data["photos"])),
            at=_utc(data["at"]),
            deadline=_utc(deadline) if deadline else None,
        )


class HazardCommentSchema(_Strict):
    hazard_id = fields.UUID(required=True)
    note = Text(required=True, validate=validate.Length(min=1, max=4000))
    photos = _photos(required=False)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> HazardComment:
        return HazardComment(
            data["hazard_id"], data["note"], tuple(dict.fromkeys(data.get("photos") or ()))
        )


#: mutation name → schema that validates and types its args
MUTATIONS: dict[str, type[Schema]] = {
    "inspection.check_in": CheckInSchema,
    "finding.put": FindingPutSchema,
    "finding.delete": FindingDeleteSchema,
    "inspection.submit": InspectionSubmitSchema,
    "inspection.create": InspectionCreateSchema,
    "hazard.recheck": HazardRecheckSchema,
    "hazard.comment": HazardCommentSchema,
}


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"location.lat": ["…"]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "_schema" if key == "_schema" and not prefix else f"{prefix}{key}"
            out.update(flatten_errors(value, name + "."))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix.rstrip(".") or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.update(flatten_errors(value, f"{prefix}{index}."))
    else:
        out[prefix.rstrip(".") or "_schema"] = [str(messages)]
    return out


_SCHEMAS: dict[str, Schema] = {}


def _schema(name: str) -> Schema:
    """Return a shared schema instance (schemas keep no state between loads)."""
    schema = _SCHEMAS.get(name)
    if schema is None:
        schema = _SCHEMAS[name] = MUTATIONS[name]()
    return schema


def parse_args(name: str, args: Any) -> MutationArgs:
    """Validate one mutation's args and return them typed, or raise :class:`ProtocolError`."""
    schema_cls = MUTATIONS.get(name)
    if schema_cls is None:
        raise ProtocolError(
            "sync.unknown_mutation",
            f"Unknown mutation {name!r}; update the app or drop this change.",
        )
    if not isinstance(args, Mapping):
        raise ProtocolError(
            "validation_error", "Mutation args must be an object.", {"args": ["Not an object."]}
        )
    try:
        result: MutationArgs = _schema(name).load(args)
    except ValidationError as exc:
        raise ProtocolError(
            "validation_error",
            "The change has invalid fields; correct them and record it again.",
            flatten_errors(exc.messages),
        ) from exc
    return result


# --- the push envelope --------------------------------------------------------------------


@dataclass(frozen=True)
class RawMutation:
    """A mutation as pushed: its args are validated only when it is applied."""

    id: int
    name: str
    args: Any


@dataclass(frozen=True)
class PushRequest:
    """A validated push envelope."""

    client_id: uuid.UUID
    mutations: tuple[RawMutation, ...]


class _MutationEnvelopeSchema(_Strict):
    id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**62))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    args = fields.Raw(required=True)


class PushSchema(_Strict):
    client_id = fields.UUID(required=True)
    mutations = fields.List(
        fields.Nested(_MutationEnvelopeSchema),
        required=True,
        validate=validate.Length(max=MAX_MUTATIONS_PER_PUSH),
    )

    @validates_schema
    def consecutive_ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        ids = [m["id"] for m in data.get("mutations") or ()]
        if any(b != a + 1 for a, b in zip(ids, ids[1:], strict=False)):
            raise ValidationError("Mutation ids in a push must increase by 1.", "mutations")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> PushRequest:
        return PushRequest(
            client_id=data["client_id"],
            mutations=tuple(RawMutation(m["id"], m["name"], m["args"]) for m in data["mutations"]),
        )


def parse_push(body: Any) -> PushRequest:
    """Validate a push envelope, or raise :class:`ProtocolError` (422 validation_error)."""
    if not isinstance(body, Mapping):
        raise ProtocolError(
            "validation_error",
            "The push body must be a JSON object.",
            {"_schema": ["Not an object."]},
        )
    try:
        result: PushRequest = PushSchema().load(body)
    except ValidationError as exc:
        raise ProtocolError(
            "validation_error", "The push is malformed.", flatten_errors(exc.messages)
        ) from exc
    return result
