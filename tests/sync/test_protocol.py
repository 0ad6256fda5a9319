"""Mutation argument validation: typed values out, field messages for bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.sync.mutations import (
    MUTATIONS,
    CheckIn,
    DocumentSign,
    FindingDelete,
    FindingPut,
    HazardComment,
    HazardRecheck,
    InspectionCreate,
    InspectionSubmit,
    Location,
    parse_args,
)
from sync.protocol import ProtocolError, parse_push

ID = str(uuid.uuid4())
SHA = "a" * 64
VALID = {
    "inspection.check_in": {
        "inspection_id": ID,
        "at": "2026-03-01T10:00:00+08:00",
        "location": {"lat": 31.22, "lon": 121.42, "accuracy": 8},
    },
    "finding.put": {
        "id": ID,
        "inspection_id": ID,
        "item_code": "GAS-07",
        "result": "fail",
        "note": "阀门锈蚀",
        "grade": "major",
        "photos": [SHA, SHA],
        "location": {"lat": 31.22, "lon": 121.42},
        "recorded_at": "2026-03-01T02:00:00Z",
        "base_version": 2,
    },
    "finding.delete": {"id": ID},
    "inspection.submit": {"inspection_id": ID, "at": "2026-03-01T03:00:00Z"},
    "inspection.create": {
        "id": ID,
        "enterprise_id": ID,
        "industry": "gas_catering",
        "type": "routine",
    },
    "hazard.recheck": {
        "hazard_id": ID,
        "result": "pass",
        "note": "已整改",
        "photos": [SHA],
        "at": "2026-03-01T03:00:00Z",
    },
    "hazard.comment": {"hazard_id": ID, "note": "复查时间另约"},
    "document.sign": {
        "document_id": ID,
        "role": "representative",
        "signer_name": "张国强",
        "signed_at": "2026-03-01T03:10:00Z",
        "image": "iVBORw0KGgo=",
    },
}
TYPES = {
    "inspection.check_in": CheckIn,
    "finding.put": FindingPut,
    "finding.delete": FindingDelete,
    "inspection.submit": InspectionSubmit,
    "inspection.create": InspectionCreate,
    "hazard.recheck": HazardRecheck,
    "hazard.comment": HazardComment,
    "document.sign": DocumentSign,
}


def errors_of(name: str, args: object) -> dict[str, list[str]]:
    with pytest.raises(ProtocolError) as exc:
        parse_args(name, args)
    assert exc.value.code == "validation_error"
    return exc.value.errors


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_parses_to_its_type(name: str) -> None:
    assert isinstance(parse_args(name, VALID[name]), TYPES[name])


def test_times_are_utc_and_photos_deduplicated() -> None:
    check_in = parse_args("inspection.check_in", VALID["inspection.check_in"])
    assert isinstance(check_in, CheckIn)
    assert check_in.at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert check_in.location == Location(31.22, 121.42, 8.0)
    put = parse_args("finding.put", VALID["finding.put"])
    assert isinstance(put, FindingPut)
    assert put.photos == (SHA,)


def test_finding_put_remembers_which_fields_were_sent() -> None:
    minimal = {k: VALID["finding.put"][k] for k in ("id", "inspection_id", "item_code", "result")}
    put = parse_args("finding.put", {**minimal, "recorded_at": "2026-03-01T02:00:00Z"})
    assert isinstance(put, FindingPut)
    assert put.fields_set == {"item_code", "result", "recorded_at"}


def test_unknown_mutation_has_its_own_code() -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_args("inspection.delete", {"id": ID})
    assert exc.value.code == "sync.unknown_mutation"


def test_bad_fields_get_field_messages() -> None:
    bad = {
        **VALID["finding.put"],
        "result": "maybe",
        "photos": ["not-a-hash"],
        "location": {"lat": 91, "lon": 0},
        "recorded_at": "2026-03-01T02:00:00",
        "extra": 1,
    }
    errors = errors_of("finding.put", bad)
    assert set(errors) == {"result", "photos.0", "location.lat", "recorded_at", "extra"}


def test_check_in_needs_accuracy() -> None:
    args = {**VALID["inspection.check_in"], "location": {"lat": 31.2, "lon": 121.4}}
    assert errors_of("inspection.check_in", args) == {
        "location.accuracy": ["Missing data for required field."]
    }


def test_devices_only_create_routine_patrols() -> None:
    args = {**VALID["inspection.create"], "type": "unannounced"}
    assert set(errors_of("inspection.create", args)) == {"type"}


def test_passed_recheck_needs_a_photo() -> None:
    args = {**VALID["hazard.recheck"], "photos": []}
    assert set(errors_of("hazard.recheck", args)) == {"photos"}


def test_args_must_be_an_object() -> None:
    assert errors_of("finding.delete", ["x"]) == {"args": ["Not an object."]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.sampled_from(sorted(MUTATIONS)),
    st.dictionaries(
        st.sampled_from(
            ["id", "inspection_id", "at", "location", "result", "note", "photos", "item_code"]
        ),
        json_values,
    ),
)
def test_any_json_is_either_typed_or_a_protocol_error(name: str, args: dict[str, object]) -> None:
    try:
        parse_args(name, args)
    except ProtocolError as exc:
        assert exc.errors


def test_push_envelope_requires_consecutive_ids() -> None:
    body = {
        "client_id": ID,
        "mutations": [
            {"id": 4, "name": "finding.delete", "args": {"id": ID}},
            {"id": 6, "name": "finding.delete", "args": {"id": ID}},
        ],
    }
    with pytest.raises(ProtocolError) as exc:
        parse_push(body)
    assert exc.value.errors == {"mutations": ["Mutation ids in a push must increase by 1."]}


def test_push_envelope_keeps_args_raw() -> None:
    push = parse_push({"client_id": ID, "mutations": [{"id": 1, "name": "nope", "args": {"x": 1}}]})
    assert push.mutations[0].args == {"x": 1}
    assert str(push.client_id) == ID


@given(json_values)
def test_any_push_body_is_parsed_or_refused(body: object) -> None:
    try:
        parse_push(body)
    except ProtocolError as exc:
        assert exc.code == "validation_error"


def test_messages_name_each_problem() -> None:
    errors = errors_of(
        "finding.put",
        {
            "id": "x",
            "inspection_id": None,
            "result": "pass",
            "note": "a" * 4001,
            "base_version": True,
            "location": {"lat": "31.2", "lon": 121.4},
            "recorded_at": "yesterday",
        },
    )
    assert errors == {
        "id": ["Not a valid UUID."],
        "inspection_id": ["Field may not be null."],
        "note": ["Longer than maximum length 4000."],
        "base_version": ["Not a valid integer."],
        "location.lat": ["Not a valid number."],
        "recorded_at": ["Not a valid datetime."],
    }


def test_an_update_may_name_only_what_it_changes() -> None:
    """item_code, result and recorded_at are checked by the server for new findings only."""
    put = parse_args("finding.put", {"id": str(uuid.uuid4()), "inspection_id": str(uuid.uuid4())})
    assert isinstance(put, FindingPut)
    assert (put.item_code, put.result, put.recorded_at, put.fields_set) == (
        None,
        None,
        None,
        frozenset(),
    )


def test_nullable_fields_take_null_and_count_as_sent() -> None:
    args = {**VALID["finding.put"], "note": None, "grade": None, "location": None}
    put = parse_args("finding.put", args)
    assert isinstance(put, FindingPut)
    assert (put.note, put.grade, put.location) == (None, None, None)
    assert {"note", "grade", "location"} <= put.fields_set


def test_a_time_that_leaves_the_calendar_in_utc_is_refused() -> None:
    args = {**VALID["inspection.submit"], "at": "0001-01-01T00:00:00+08:00"}
    assert errors_of("inspection.submit", args) == {"at": ["Out of range once converted to UTC."]}


def test_push_envelope_errors_name_the_mutation() -> None:
    body = {
        "client_id": ID,
        "mutations": [
            {"id": 1, "name": "finding.delete", "args": {"id": ID}},
            {"id": "2", "name": "", "args": None, "extra": 1},
        ],
    }
    with pytest.raises(ProtocolError) as exc:
        parse_push(body)
    assert exc.value.errors == {
        "mutations.1.id": ["Not a valid integer."],
        "mutations.1.name": ["Shorter than minimum length 1."],
        "mutations.1.args": ["Field may not be null."],
        "mutations.1.extra": ["Unknown field."],
    }
