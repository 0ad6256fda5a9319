"""The sync protocol: the push envelope, and the helpers an application validates its
mutations' arguments with.

A push carries ``{"client_id", "mutations": [{"id", "name", "args"}]}``. The envelope is
validated as a whole by :func:`parse_push` (a malformed envelope is a 422 and nothing is
applied); each mutation's ``args`` are validated one by one, and a mutation whose name is
unknown or whose args are bad is *rejected* with a code and field messages while the push
goes on.

The application lists its mutations as ``{name: Mutation(fields, build)}``: ``fields`` says
how each key is read (:class:`Field` with the parsers below: :func:`uuid_value`,
:func:`utc_time`, :func:`text`, :func:`one_of`, …) and ``build`` turns the parsed values into
the typed value (a frozen dataclass, say) its handler receives. :func:`parse_args` applies
that table; ``sync.push.MutationSpec`` pairs each entry with its handler.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync.text import Text, _l

__all__ = [
    "MAX_MUTATIONS_PER_PUSH",
    "SHA256_HEX",
    "Field",
    "Invalid",
    "Mutation",
    "ProtocolError",
    "PushRequest",
    "RawMutation",
    "digests",
    "integer",
    "matching",
    "number",
    "one_of",
    "parse_args",
    "parse_object",
    "parse_push",
    "string",
    "text",
    "utc_time",
    "uuid_value",
]

MAX_MUTATIONS_PER_PUSH = 1000
SHA256_HEX = r"[0-9a-f]{64}"


class ProtocolError(Exception):
    """A push or a mutation that does not follow the protocol (its messages: ``sync.text``)."""

    def __init__(
        self, code: str, message: Text, errors: Mapping[str, list[Text]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors: dict[str, list[Text]] = dict(errors or {})


# --- validation ---------------------------------------------------------------------------
#
# The rules are written out here rather than declared with a schema library: a push carries
# hundreds of mutations and validating them is on the hottest path of the server (a
# marshmallow load per mutation cost a fifth of a push). Messages follow marshmallow's
# wording, which the rest of the API uses, and errors are flat: ``{"location.lat": [...]}``.
# Each message is a ``sync.text.Text``: English, with the template an application translates.

MISSING = _l("Missing data for required field.")
NULL = _l("Field may not be null.")
UNKNOWN = _l("Unknown field.")

#: Characters no stored text may hold: NUL (PostgreSQL text cannot) and lone surrogates
#: (not encodable as UTF-8). Refused per mutation, so one bad note never blocks an outbox.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class Invalid(Exception):
    """A value a field refuses: one message for the field, or messages per sub-field."""

    def __init__(self, message: Text | None = None, errors: dict[str, list[Text]] | None = None):
        super().__init__(message or "invalid")
        self.errors: dict[str, list[Text]] = (
            errors if errors is not None else {"": [message or Text("")]}
        )


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
        raise Invalid(_l("Not a valid mapping type."))
    out: dict[str, Any] = {}
    errors: dict[str, list[Text]] = {}
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
    raise Invalid(_l("Not a valid UUID."))


def _string(value: Any) -> str:
    if type(value) is not str:
        raise Invalid(_l("Not a valid string."))
    return value


def string(min_length: int = 0, max_length: int = 4000) -> Callable[[Any], str]:
    """A string of bounded length."""

    def parse(value: Any) -> str:
        value = _string(value)
        if len(value) < min_length:
            raise Invalid(_l("Shorter than minimum length %(min)s.", min=min_length))
        if len(value) > max_length:
            raise Invalid(_l("Longer than maximum length %(max)s.", max=max_length))
        return value

    return parse


def text(min_length: int = 0, max_length: int = 4000) -> Callable[[Any], str]:
    """Free text of bounded length, without NUL or invalid code points."""
    bounded = string(min_length, max_length)

    def parse(value: Any) -> str:
        value = bounded(value)
        if _BAD_TEXT.search(value):
            raise Invalid(_l("Contains a NUL character or an invalid Unicode code point."))
        return value

    return parse


def matching(pattern: str, message: Text) -> Callable[[Any], str]:
    """A string matching ``pattern`` (anchored)."""
    regex = re.compile(pattern)

    def parse(value: Any) -> str:
        if regex.fullmatch(_string(value)) is None:
            raise Invalid(message)
        return value

    return parse


def one_of(choices: tuple[str, ...], message: Text | None = None) -> Callable[[Any], str]:
    """One of a few strings."""
    refusal = message or _l("Must be one of: %(choices)s.", choices=", ".join(choices))

    def parse(value: Any) -> str:
        if type(value) is not str or value not in choices:
            raise Invalid(refusal)
        return value

    return parse


def number(low: float, high: float) -> Callable[[Any], float]:
    """A finite JSON number within [low, high]."""

    def parse(value: Any) -> float:
        if type(value) is not int and type(value) is not float:
            raise Invalid(_l("Not a valid number."))
        if not math.isfinite(value):
            raise Invalid(_l("Special numeric values (nan or infinity) are not permitted."))
        if not low <= value <= high:
            raise Invalid(_between(low, high))
        return float(value)

    return parse


def integer(low: int, high: int) -> Callable[[Any], int]:
    """A JSON integer within [low, high] (not a float, a string or a boolean)."""

    def parse(value: Any) -> int:
        if type(value) is not int:
            raise Invalid(_l("Not a valid integer."))
        if not low <= value <= high:
            raise Invalid(_between(low, high))
        return value

    return parse


def _between(low: float, high: float) -> Text:
    return _l(
        "Must be greater than or equal to %(min)s and less than or equal to %(max)s.",
        min=low,
        max=high,
    )


def utc_time(value: Any) -> datetime:
    """An ISO 8601 time with its offset, converted to UTC."""
    try:
        parsed = datetime.fromisoformat(_string(value))
    except ValueError:
        raise Invalid(_l("Not a valid datetime.")) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Invalid(_l("Not a valid aware datetime."))
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise Invalid(_l("Out of range once converted to UTC.")) from None


_SHA256 = re.compile(SHA256_HEX)


def digests(max_length: int) -> Callable[[Any], tuple[str, ...]]:
    """A list of up to ``max_length`` SHA-256 digests (lower-case hex), duplicates dropped."""

    def parse(value: Any) -> tuple[str, ...]:
        if type(value) is not list:
            raise Invalid(_l("Not a valid list."))
        if len(value) > max_length:
            raise Invalid(_l("Longer than maximum length %(max)s.", max=max_length))
        errors = {
            str(i): [_l("Not a lower-case SHA-256 hex.")]
            for i, digest in enumerate(value)
            if type(digest) is not str or _SHA256.fullmatch(digest) is None
        }
        if errors:
            raise Invalid(errors=errors)
        return tuple(dict.fromkeys(value))

    return parse


@dataclass(frozen=True)
class Mutation:
    """A mutation's arguments: the fields it takes, and the typed value they build.

    ``build`` gets the parsed values of the keys present and returns the value a handler
    receives; it may raise :class:`Invalid` for a rule across fields.
    """

    fields: Mapping[str, Field]
    build: Callable[[dict[str, Any]], Any]


def parse_args(name: str, args: Any, mutations: Mapping[str, Mutation]) -> Any:
    """Validate one mutation's args by ``mutations`` and return them typed.

    Raise :class:`ProtocolError` for an unknown name (``sync.unknown_mutation``) or bad args
    (``validation_error``, with the field messages).
    """
    mutation = mutations.get(name)
    if mutation is None:
        raise ProtocolError(
            "sync.unknown_mutation",
            _l("Unknown mutation %(name)r; update the app or drop this change.", name=name),
        )
    if type(args) is not dict:
        raise ProtocolError(
            "validation_error",
            _l("Mutation args must be an object."),
            {"args": [_l("Not an object.")]},
        )
    try:
        return mutation.build(parse_object(args, mutation.fields))
    except Invalid as exc:
        raise ProtocolError(
            "validation_error",
            _l("The change has invalid fields; correct them and record it again."),
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
        raise Invalid(_l("Not a valid list."))
    if len(value) > MAX_MUTATIONS_PER_PUSH:
        raise Invalid(_l("Longer than maximum length %(max)s.", max=MAX_MUTATIONS_PER_PUSH))
    out: list[RawMutation] = []
    errors: dict[str, list[Text]] = {}
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
        raise Invalid(_l("Mutation ids in a push must increase by 1."))
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
            _l("The push body must be a JSON object."),
            {"_schema": [_l("Not an object.")]},
        )
    try:
        data = parse_object(body, PUSH)
    except Invalid as exc:
        raise ProtocolError("validation_error", _l("The push is malformed."), exc.errors) from exc
    return PushRequest(client_id=data["client_id"], mutations=data["mutations"])
