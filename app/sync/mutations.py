"""Fieldsafe's sync mutations: their names, typed arguments and how the args are read.

Each mutation a device may push is listed in :data:`MUTATIONS` with the fields it takes
(read by ``sync.protocol``'s generic parsers) and the frozen dataclass they build, so the
handlers (``app.sync.handlers``, which pair each mutation with the code applying it) work
with typed values: UUIDs, timezone-aware UTC datetimes, floats. This module is pure: no
database, no Flask, so a device (``sync.client.SyncClient(mutations=MUTATIONS)``) can check
a change before it queues it. Its messages are therefore ``sync.text`` texts (``_l`` from
there), translated where the push is answered.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.documents.commands import MAX_SIGNATURE_BYTES, SIGNER_ROLES, DocumentSign
from app.inspections.commands import (
    FINDING_GRADES,
    FINDING_PUT_FIELDS,
    FINDING_RESULTS,
    MAX_MEASURES,
    MAX_PHOTOS,
    ONSITE_MEASURES,
    CheckIn,
    FindingDelete,
    FindingPut,
    InspectionCreate,
    InspectionSubmit,
    Location,
    Measure,
)
from sync.protocol import (
    Field,
    Invalid,
    Mutation,
    digests,
    integer,
    matching,
    number,
    one_of,
    parse_object,
    string,
    text,
    utc_time,
    uuid_value,
)
from sync.protocol import parse_args as parse_with
from sync.text import Text, _l

__all__ = [
    "FINDING_GRADES",
    "FINDING_RESULTS",
    "MUTATIONS",
    "CheckIn",
    "DocumentSign",
    "FindingDelete",
    "FindingPut",
    "HazardComment",
    "HazardRecheck",
    "InspectionCreate",
    "InspectionSubmit",
    "Location",
    "Measure",
    "MutationArgs",
    "ONSITE_MEASURES",
    "parse_args",
]


@dataclass(frozen=True)
class HazardRecheck:
    """``hazard.recheck``: the re-inspection of a rectified hazard.

    Made on a recheck inspection (``inspection_id``, checked in on site) or, where
    docs/sync.md allows it, by the ticket's assignee on their own with ``location``.
    """

    hazard_id: uuid.UUID
    result: str
    note: str
    photos: tuple[str, ...]
    at: datetime
    deadline: datetime | None = None
    inspection_id: uuid.UUID | None = None
    location: Location | None = None


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
    | DocumentSign
)


# --- how the args are read -----------------------------------------------------------------

#: a mutation's photos: up to MAX_PHOTOS SHA-256 digests
photos = digests(MAX_PHOTOS)
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


MEASURE = {
    "code": Field(one_of(ONSITE_MEASURES), required=True),
    "note": Field(text(max_length=500), nullable=True),
}


def measures(value: Any) -> tuple[Measure, ...]:
    """Up to MAX_MEASURES on-site measures ``[{"code", "note"}]``, each code once."""
    if type(value) is not list:
        raise Invalid(_l("Not a valid list."))
    if len(value) > MAX_MEASURES:
        raise Invalid(_l("Longer than maximum length %(max)s.", max=MAX_MEASURES))
    out: list[Measure] = []
    errors: dict[str, list[Text]] = {}
    for i, raw in enumerate(value):
        try:
            data = parse_object(raw, MEASURE)
        except Invalid as exc:
            errors.update({f"{i}.{sub}" if sub else str(i): m for sub, m in exc.errors.items()})
            continue
        if any(m.code == data["code"] for m in out):
            errors[f"{i}.code"] = [_l("Listed twice.")]
            continue
        out.append(Measure(data["code"], data.get("note") or ""))
    if errors:
        raise Invalid(errors=errors)
    return tuple(out)


def boolean(value: Any) -> bool:
    """A JSON true or false."""
    if type(value) is not bool:
        raise Invalid(_l("Not a valid boolean."))
    return value


def base64_image(value: Any) -> bytes:
    """A signature image as base64 text (at most MAX_SIGNATURE_BYTES once decoded)."""
    raw = string(1, MAX_SIGNATURE_BYTES * 4 // 3 + 4)(value)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(_l("Not valid base64.")) from exc


def _document_sign(d: dict[str, Any]) -> DocumentSign:
    refused = bool(d.get("refused"))
    if refused and not (d.get("witness_name") or "").strip():
        raise Invalid(errors={"witness_name": [_l("A refusal is recorded with its witness.")]})
    if not refused and d.get("image") is None:
        raise Invalid(errors={"image": [_l("Missing data for required field.")]})
    loc = d.get("location")
    return DocumentSign(
        document_id=d["document_id"],
        role=d["role"],
        signer_name=d["signer_name"],
        signed_at=d["signed_at"],
        image=None if refused else d.get("image"),
        signer_id=d.get("signer_id"),
        refused=refused,
        witness_name=d.get("witness_name") or "",
        place=d.get("place") or "",
        lat=loc.lat if loc else None,
        lon=loc.lon if loc else None,
        accuracy=loc.accuracy if loc else None,
    )


def _finding_put(d: dict[str, Any]) -> FindingPut:
    return FindingPut(
        id=d["id"],
        inspection_id=d["inspection_id"],
        item_code=d.get("item_code"),
        result=d.get("result"),
        recorded_at=d.get("recorded_at"),
        note=d.get("note"),
        grade=d.get("grade"),
        photos=d.get("photos") or (),
        location=d.get("location"),
        value=d.get("value"),
        measures=d.get("measures") or (),
        base_version=d.get("base_version"),
        fields_set=frozenset(k for k in FINDING_PUT_FIELDS if k in d),
    )


def _hazard_recheck(d: dict[str, Any]) -> HazardRecheck:
    if d["result"] == "pass" and not d["photos"]:
        raise Invalid(errors={"photos": [_l("A passed re-inspection needs photo proof.")]})
    return HazardRecheck(
        d["hazard_id"],
        d["result"],
        d["note"],
        d["photos"],
        d["at"],
        d.get("deadline"),
        d.get("inspection_id"),
        d.get("location"),
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
            # item_code, result and recorded_at: required for a new finding (the handler checks)
            "item_code": Field(matching(ITEM_CODE, _l("Not a checklist item code."))),
            "result": Field(one_of(FINDING_RESULTS)),
            "note": Field(text(max_length=4000), nullable=True),
            "grade": Field(one_of(FINDING_GRADES), nullable=True),
            "photos": Field(photos),
            "location": Field(location(LOCATION), nullable=True),
            "recorded_at": Field(utc_time),
            "value": Field(number(-1e12, 1e12), nullable=True),
            "measures": Field(measures),
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
            "industry": Field(matching(INDUSTRY, _l("Not an industry slug.")), required=True),
            "type": Field(
                one_of(("routine",), _l("Devices may only start routine patrols.")), required=True
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
            #: the recheck inspection this result belongs to (checked in on site)
            "inspection_id": Field(uuid_value, nullable=True),
            #: where the recheck was made (required without an inspection)
            "location": Field(location(LOCATION), nullable=True),
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
    "document.sign": Mutation(
        {
            "document_id": Field(uuid_value, required=True),
            "role": Field(one_of(SIGNER_ROLES), required=True),
            "signer_name": Field(text(min_length=1, max_length=100), required=True),
            #: the officer signing (role inspector); the pushing inspector when absent
            "signer_id": Field(uuid_value, nullable=True),
            "signed_at": Field(utc_time, required=True),
            #: the signature drawn on the device, PNG or JPEG, base64
            "image": Field(base64_image, nullable=True),
            "refused": Field(boolean),
            "witness_name": Field(text(max_length=100), nullable=True),
            "place": Field(text(max_length=200), nullable=True),
            "location": Field(location(LOCATION), nullable=True),
        },
        _document_sign,
    ),
}


def parse_args(name: str, args: Any) -> MutationArgs:
    """Validate one mutation's args by :data:`MUTATIONS`, or raise ``ProtocolError``."""
    result: MutationArgs = parse_with(name, args, MUTATIONS)
    return result
