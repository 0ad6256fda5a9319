"""The sync protocol's mutations: names, typed arguments and their validation.

A push carries ``{"client_id", "mutations": [{"id", "name", "args"}]}``. The envelope is
validated as a whole (a malformed envelope is a 422 and nothing is applied); each
mutation's ``args`` are validated one by one, and a mutation whose name is unknown or
whose args are bad is *rejected* with a code and field messages while the push goes on.

Each mutation's fields are listed in :data:`MUTATIONS`; validation turns the JSON into
frozen dataclasses, so the apply loop works with typed values: UUIDs, timezone-aware UTC
datetimes, floats.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FINDING_GRADES",
    "FINDING_RESULTS",
    "MAX_MUTATIONS_PER_PUSH",
    "MUTATIONS",
    "CheckIn",
    "Field",
    "FindingDelete",
    "FindingPut",
    "HazardComment",
    "HazardRecheck",
    "InspectionCreate",
    "InspectionSubmit",
    "Invalid",
    "Location",
    "Mutation",
    "MutationArgs",
    "ProtocolError",
    "PushRequest",
    "RawMutation",
    "parse_args",
    "parse_object",
    "parse_push",
]

FINDING_RESULTS = ("pass", "fail", "na")
FINDING_GRADES = ("general", "major")
MAX_MUTATIONS_PER_PUSH = 1000
MAX_PHOTOS = 50
SHA256_HEX = r"[0-9a-f]{64}"


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


# --- validation ---------------------------------------------------------------------------
#
# The rules are written out here rather than declared with a schema library: a push carries
# hundreds of mutations and validating them is on the hottest path of the server (a
# marshmallow load per mutation cost a fifth of a push). Messages follow marshmallow's
# wording, which the rest of the API uses, and errors are flat: ``{"location.lat": [...]}``.

MISSING = "Missing data for required field."
NULL = "Field may not be null."
UNKNOWN = "Unknown field."

#: Characters no stored text may hold: NUL (PostgreSQL text cannot) and lone surrogates
#: (not encodable as UTF-8). Refused per mutation, so one bad note never blocks an outbox.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class Invalid(Exception):
    """A value a field refuses: one message for the field, or messages per sub-field."""

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None):
        super().__init__(message or "invalid")
        self.errors: dict[str, list[str]] = errors if errors is not None else {"": [message or ""]}


@dataclass(frozen=True)
class Field:
    """How one key of an object is read: its parser, and whether it must be there or be set."""

    parse: Callable[[Any], Any]
    required: bool = False
    nullable: bool = False


def parse_object(value: Any, spec: Mapping[str, Field]) -> dict[str, Any]:
    """Read a JSON object by ``spec``; return the parsed values of the keys present.

    Raises :class:`Invalid` with every field's messages: missing, null, unknown or refused.
    """
    if type(value) is not dict:
        raise Invalid("Not a valid mapping type.")
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key in value:
        if key not in spec:
            errors[_BAD_TEXT.sub("?", str(key))] = [UNKNOWN]
    for name, field_ in spec.items():
        if name not in value:
            if field_.required:
                errors[name] = [MISSING]
            continue
        raw = value[name]
        if raw is None:
            if field_.nullable:
                out[name] = None
            else:
                errors[name] = [NULL]
            continue
        try:
            out[name] = field_.parse(raw)
        except Invalid as exc:
            for sub, messages in exc.errors.items():
                errors[f"{name}.{sub}" if sub else name] = messages
    if errors:
        raise Invalid(errors=errors)
    return out


def uuid_value(value: Any) -> uuid.UUID:
    """A UUID in its string form."""
    if type(value) is str:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise Invalid("Not a valid UUID.")


def _string(value: Any) -> str:
    if type(value) is not str:
        raise Invalid("Not a valid string.")
    return value


def string(min_length: int = 0, max_length: int = 4000) -> Callable[[Any], str]:
    """A string of bounded length."""

    def parse(value: Any) -> str:
        value = _string(value)
        if len(value) < min_length:
            raise Invalid(f"Shorter than minimum length {min_length}.")
        if len(value) > max_length:
            raise Invalid(f"Longer than maximum length {max_length}.")
        return value

    return parse


def text(min_length: int = 0, max_length: int = 4000) -> Callable[[Any], str]:
    """Free text of bounded length, without NUL or invalid code points."""
    bounded = string(min_length, max_length)

    def parse(value: Any) -> str:
        value = bounded(value)
        if _BAD_TEXT.search(value):
            raise Invalid("Contains a NUL character or an invalid Unicode code point.")
        return value

    return parse


def matching(pattern: str, message: str) -> Callable[[Any], str]:
    """A string matching ``pattern`` (anchored)."""
    regex = re.compile(pattern)

    def parse(value: Any) -> str:
        if regex.fullmatch(_string(value)) is None:
            raise Invalid(message)
        return value

    return parse


def one_of(choices: tuple[str, ...], message: str | None = None) -> Callable[[Any], str]:
    """One of a few strings."""
    refusal = message or f"Must be one of: {', '.join(choices)}."

    def parse(value: Any) -> str:
        if type(value) is not str or value not in choices:
            raise Invalid(refusal)
        return value

    return parse


def number(low: float, high: float) -> Callable[[Any], float]:
    """A finite JSON number within [low, high]."""

    def parse(value: Any) -> float:
        if type(value) is not int and type(value) is not float:
            raise Invalid("Not a valid number.")
        if not math.isfinite(value):
            raise Invalid("Special numeric values (nan or infinity) are not permitted.")
        if not low <= value <= high:
            raise Invalid(
                f"Must be greater than or equal to {low} and less than or equal to {high}."
            )
        return float(value)

    return parse


def integer(low: int, high: int) -> Callable[[Any], int]:
    """A JSON integer within [low, high] (not a float, a string or a boolean)."""

    def parse(value: Any) -> int:
        if type(value) is not int:
            raise Invalid("Not a valid integer.")
        if not low <= value <= high:
            raise Invalid(
                f"Must be greater than or equal to {low} and less than or equal to {high}."
            )
        return value

    return parse


def utc_time(value: Any) -> datetime:
    """An ISO 8601 time with its offset, converted to UTC."""
    try:
        parsed = datetime.fromisoformat(_string(value))
    except ValueError:
        raise Invalid("Not a valid datetime.") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Invalid("Not a valid aware datetime.")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise Invalid("Out of range once converted to UTC.") from None


_SHA256 = re.compile(SHA256_HEX)


def photos(value: Any) -> tuple[str, ...]:
    """Up to MAX_PHOTOS SHA-256 digests (lower-case hex), duplicates dropped."""
    if type(value) is not list:
        raise Invalid("Not a valid list.")
    if len(value) > MAX_PHOTOS:
        raise Invalid(f"Longer than maximum length {MAX_PHOTOS}.")
    errors = {
        str(i): ["Not a lower-case SHA-256 hex."]
        for i, digest in enumerate(value)
        if type(digest) is not str or _SHA256.fullmatch(digest) is None
    }
    if errors:
        raise Invalid(errors=errors)
    return tuple(dict.fromkeys(value))


_LAT = Field(number(-90, 90), required=True)
_LON = Field(number(-180, 180), required=True)
_ACCURACY = number(0, 100_000)
LOCATION = {"lat": _LAT, "lon": _LON, "accuracy": Field(_ACCURACY, nullable=True)}
#: a check-in proves presence: its fix must say how accurate it is
CHECK_IN_LOCATION = {"lat": _LAT, "lon": _LON, "accuracy": Field(_ACCURACY, required=True)}


def location(spec: Mapping[str, Field]) -> Callable[[Any], Location]:
    """A GPS fix ``{"lat", "lon", "accuracy"}``."""

    def parse(value: Any) -> Location:
        data = parse_object(value, spec)
        return Location(data["lat"], data["lon"], data.get("accuracy"))

    return parse


ITEM_CODE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
INDUSTRY = r"[a-z][a-z0-9_]{0,39}"


@dataclass(frozen=True)
class Mutation:
    """A mutation's arguments: the fields it takes, and the typed value they build."""

    fields: dict[str, Field]
    build: Callable[[dict[str, Any]], MutationArgs]


def _finding_put(d: dict[str, Any]) -> FindingPut:
    return FindingPut(
        id=d["id"],
        inspection_id=d["inspection_id"],
        item_code=d["item_code"],
        result=d["result"],
        recorded_at=d["recorded_at"],
        note=d.get("note"),
        grade=d.get("grade"),
        photos=d.get("photos") or (),
        location=d.get("location"),
        base_version=d.get("base_version"),
        fields_set=frozenset(k for k in FINDING_PUT_FIELDS if k in d),
    )


def _hazard_recheck(d: dict[str, Any]) -> HazardRecheck:
    if d["result"] == "pass" and not d["photos"]:
        raise Invalid(errors={"photos": ["A passed re-inspection needs photo proof."]})
    return HazardRecheck(
        d["hazard_id"], d["result"], d["note"], d["photos"], d["at"], d.get("deadline")
    )


#: mutation name → the fields it takes and the typed value it becomes
MUTATIONS: dict[str, Mutation] = {
    "inspection.check_in": Mutation(
        {
            "inspection_id": Field(uuid_value, required=True),
            "at": Field(utc_time, required=True),
            "location": Field(location(CHECK_IN_LOCATION), required=True),
        },
        lambda d: CheckIn(d["inspection_id"], d["at"], d["location"]),
    ),
    "finding.put": Mutation(
        {
            "id": Field(uuid_value, required=True),
            "inspection_id": Field(uuid_value, required=True),
            "item_code": Field(matching(ITEM_CODE, "Not a checklist item code."), required=True),
            "result": Field(one_of(FINDING_RESULTS), required=True),
            "note": Field(text(max_length=4000), nullable=True),
            "grade": Field(one_of(FINDING_GRADES), nullable=True),
            "photos": Field(photos),
            "location": Field(location(LOCATION), nullable=True),
            "recorded_at": Field(utc_time, required=True),
            "base_version": Field(integer(0, 2**31 - 1), nullable=True),
        },
        _finding_put,
    ),
    "finding.delete": Mutation(
        {"id": Field(uuid_value, required=True)}, lambda d: FindingDelete(d["id"])
    ),
    "inspection.submit": Mutation(
        {
            "inspection_id": Field(uuid_value, required=True),
            "at": Field(utc_time, required=True),
        },
        lambda d: InspectionSubmit(d["inspection_id"], d["at"]),
    ),
    "inspection.create": Mutation(
        {
            "id": Field(uuid_value, required=True),
            "enterprise_id": Field(uuid_value, required=True),
            # Any industry slug; the server checks that a checklist is published for it.
            "industry": Field(matching(INDUSTRY, "Not an industry slug."), required=True),
            "type": Field(
                one_of(("routine",), "Devices may only start routine patrols."), required=True
            ),
        },
        lambda d: InspectionCreate(d["id"], d["enterprise_id"], d["industry"], d["type"]),
    ),
    "hazard.recheck": Mutation(
        {
            "hazard_id": Field(uuid_value, required=True),
            "result": Field(one_of(("pass", "fail")), required=True),
            "note": Field(text(min_length=1, max_length=4000), required=True),
            "photos": Field(photos, required=True),
            "at": Field(utc_time, required=True),
            #: optional new rectification deadline on a failed re-inspection
            "deadline": Field(utc_time, nullable=True),
        },
        _hazard_recheck,
    ),
    "hazard.comment": Mutation(
        {
            "hazard_id": Field(uuid_value, required=True),
            "note": Field(text(min_length=1, max_length=4000), required=True),
            "photos": Field(photos),
        },
        lambda d: HazardComment(d["hazard_id"], d["note"], d.get("photos") or ()),
    ),
}


def parse_args(name: str, args: Any) -> MutationArgs:
    """Validate one mutation's args and return them typed, or raise :class:`ProtocolError`."""
    mutation = MUTATIONS.get(name)
    if mutation is None:
        raise ProtocolError(
            "sync.unknown_mutation",
            f"Unknown mutation {name!r}; update the app or drop this change.",
        )
    if type(args) is not dict:
        raise ProtocolError(
            "validation_error", "Mutation args must be an object.", {"args": ["Not an object."]}
        )
    try:
        return mutation.build(parse_object(args, mutation.fields))
    except Invalid as exc:
        raise ProtocolError(
            "validation_error",
            "The change has invalid fields; correct them and record it again.",
            exc.errors,
        ) from exc


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


ENVELOPE = {
    "id": Field(integer(1, 2**62), required=True),
    # Any name: an unknown one (even with odd characters) rejects only its mutation.
    "name": Field(string(1, 64), required=True),
    "args": Field(lambda value: value, required=True),
}


def _mutations(value: Any) -> tuple[RawMutation, ...]:
    if type(value) is not list:
        raise Invalid("Not a valid list.")
    if len(value) > MAX_MUTATIONS_PER_PUSH:
        raise Invalid(f"Longer than maximum length {MAX_MUTATIONS_PER_PUSH}.")
    out: list[RawMutation] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(value):
        try:
            m = parse_object(item, ENVELOPE)
        except Invalid as exc:
            for sub, messages in exc.errors.items():
                errors[f"{index}.{sub}" if sub else str(index)] = messages
            continue
        out.append(RawMutation(m["id"], m["name"], m["args"]))
    if errors:
        raise Invalid(errors=errors)
    if any(b.id != a.id + 1 for a, b in zip(out, out[1:], strict=False)):
        raise Invalid("Mutation ids in a push must increase by 1.")
    return tuple(out)


PUSH = {
    "client_id": Field(uuid_value, required=True),
    "mutations": Field(_mutations, required=True),
}


def parse_push(body: Any) -> PushRequest:
    """Validate a push envelope, or raise :class:`ProtocolError` (422 validation_error)."""
    if type(body) is not dict:
        raise ProtocolError(
            "validation_error",
            "The push body must be a JSON object.",
            {"_schema": ["Not an object."]},
        )
    try:
        data = parse_object(body, PUSH)
    except Invalid as exc:
        raise ProtocolError("validation_error", "The push is malformed.", exc.errors) from exc
    return PushRequest(client_id=data["client_id"], mutations=data["mutations"])
