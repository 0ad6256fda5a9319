"""The checklist library files in checklists/ are valid against checklists/schema.json.

Pure tests: no app, no database. They read the YAML files the loader publishes.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

LIBRARY = Path(__file__).resolve().parents[2] / "checklists"
SCHEMA_PATH = LIBRARY / "schema.json"

#: The industries the Changning action plan names; each must have a checklist.
REQUIRED_INDUSTRIES = {
    "commercial_complex",
    "medical_elderly_care",
    "hazardous_chemicals",
    "gas_catering",
    "factory_warehouse",
    "confined_space",
    "high_rise",
    "ebike_charging",
    "construction_decoration",
    "hot_work",
}
MIN_ITEMS = 12
CODE_PREFIX = re.compile(r"^([A-Z]{2,5})-\d{2,3}$")

LIBRARY_FILES = sorted(LIBRARY.glob("*.yaml"))


def load_schema() -> dict[str, Any]:
    """Return the parsed checklist JSON Schema."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def make_validator() -> jsonschema.Draft202012Validator:
    """Return a validator for one checklist file."""
    return jsonschema.Draft202012Validator(load_schema())


def load_file(path: Path) -> dict[str, Any]:
    """Parse one checklist YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: top level must be a mapping"
    return data


def error_messages(data: dict[str, Any]) -> list[str]:
    """Return every schema error for `data`, with its path, as text."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in make_validator().iter_errors(data)
    ]


def minimal_item(**overrides: Any) -> dict[str, Any]:
    """Return a valid major item, with `overrides` applied."""
    item: dict[str, Any] = {
        "code": "TST-01",
        "text": "检查内容",
        "category": "类别",
        "grade": "major",
        "basis": {
            "document": "工贸企业重大事故隐患判定标准",
            "number": "应急管理部令第10号",
            "article": "第三条第（一）项",
            "text": "未对承包单位、承租单位的安全生产工作统一协调、管理，或者未定期进行安全检查的",
        },
        "requires_photo": False,
        "answer": "pass_fail",
    }
    item.update(overrides)
    return item


def minimal_file(*items: dict[str, Any]) -> dict[str, Any]:
    """Return a valid checklist file holding `items` (one valid item by default)."""
    return {
        "industry": "test_industry",
        "name": "测试",
        "description": "测试用清单",
        "items": list(items) or [minimal_item()],
    }


# --- the schema itself ------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_minimal_file_is_valid() -> None:
    assert error_messages(minimal_file()) == []


# --- the library files --------------------------------------------------------


def test_every_required_industry_has_a_file() -> None:
    stems = {p.stem for p in LIBRARY_FILES}
    assert not REQUIRED_INDUSTRIES - stems, f"missing: {sorted(REQUIRED_INDUSTRIES - stems)}"


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_file_validates_against_schema(path: Path) -> None:
    assert error_messages(load_file(path)) == []


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_industry_equals_file_stem(path: Path) -> None:
    assert load_file(path)["industry"] == path.stem


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_codes_are_unique_and_share_one_prefix(path: Path) -> None:
    codes = [item["code"] for item in load_file(path)["items"]]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    assert duplicates == []
    prefixes = {CODE_PREFIX.match(c).group(1) for c in codes}  # type: ignore[union-attr]
    assert len(prefixes) == 1, f"one code prefix per industry, found {sorted(prefixes)}"


def test_code_prefixes_differ_between_industries() -> None:
    owner: dict[str, str] = {}
    for path in LIBRARY_FILES:
        for item in load_file(path)["items"]:
            prefix = CODE_PREFIX.match(item["code"]).group(1)  # type: ignore[union-attr]
            assert owner.setdefault(prefix, path.stem) == path.stem, (
                f"prefix {prefix} used by {owner[prefix]} and {path.stem}"
            )


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_file_has_enough_items(path: Path) -> None:
    assert len(load_file(path)["items"]) >= MIN_ITEMS


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_every_major_item_has_a_full_basis(path: Path) -> None:
    for item in load_file(path)["items"]:
        if item["grade"] != "major":
            continue
        basis = item["basis"]
        for field in ("document", "number", "article", "text"):
            assert basis[field].strip(), f"{item['code']}: basis.{field} is empty"


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_number_ranges_are_ordered(path: Path) -> None:
    # JSON Schema cannot compare two fields, so min <= max is checked here.
    for item in load_file(path)["items"]:
        if "min" in item and "max" in item:
            assert item["min"] <= item["max"], item["code"]


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_texts_are_unique_within_a_file(path: Path) -> None:
    texts = [item["text"] for item in load_file(path)["items"]]
    assert len(texts) == len(set(texts))


# --- the schema rejects bad input ---------------------------------------------


def test_schema_rejects_major_item_without_basis_text() -> None:
    item = minimal_item()
    del item["basis"]["text"]
    assert error_messages(minimal_file(item))


@pytest.mark.parametrize("field", ["document", "number", "article", "text"])
def test_schema_rejects_major_item_with_an_empty_basis_field(field: str) -> None:
    item = minimal_item()
    item["basis"][field] = ""
    assert error_messages(minimal_file(item))


def test_schema_allows_general_item_with_empty_number_and_article() -> None:
    item = minimal_item(grade="general")
    item["basis"].update(number="", article="")
    assert error_messages(minimal_file(item)) == []


def test_schema_rejects_general_item_without_basis_text() -> None:
    item = minimal_item(grade="general")
    item["basis"]["text"] = ""
    assert error_messages(minimal_file(item))


def test_schema_rejects_item_without_basis() -> None:
    item = minimal_item(grade="general")
    del item["basis"]
    assert error_messages(minimal_file(item))


def test_schema_rejects_bad_grade() -> None:
    assert error_messages(minimal_file(minimal_item(grade="critical")))


def test_schema_rejects_bad_answer() -> None:
    assert error_messages(minimal_file(minimal_item(answer="yes_no")))


def test_schema_rejects_unknown_item_field() -> None:
    assert error_messages(minimal_file(minimal_item(severity="high")))


def test_schema_rejects_unknown_basis_field() -> None:
    item = minimal_item()
    item["basis"]["url"] = "https://example.org"
    assert error_messages(minimal_file(item))


def test_schema_rejects_unknown_top_level_field() -> None:
    data = minimal_file()
    data["version"] = 3
    assert error_messages(data)


@pytest.mark.parametrize("code", ["gas-01", "GAS01", "GAS-1", "G-01", "GASSES-01", "GAS-0001"])
def test_schema_rejects_bad_code(code: str) -> None:
    assert error_messages(minimal_file(minimal_item(code=code)))


@pytest.mark.parametrize("industry", ["Gas", "1gas", "gas-catering", ""])
def test_schema_rejects_bad_industry_slug(industry: str) -> None:
    data = minimal_file()
    data["industry"] = industry
    assert error_messages(data)


def test_schema_requires_unit_on_number_answers() -> None:
    assert error_messages(minimal_file(minimal_item(answer="number", max=8)))
    assert error_messages(minimal_file(minimal_item(answer="number", unit="m", max=8))) == []


def test_schema_rejects_range_on_non_number_answers() -> None:
    assert error_messages(minimal_file(minimal_item(unit="m")))
    assert error_messages(minimal_file(minimal_item(min=1)))


def test_schema_rejects_file_without_items() -> None:
    data = minimal_file()
    data["items"] = []
    assert error_messages(data)


def test_library_files_are_not_mutated_by_validation() -> None:
    # Guard for the loader: validating must not inject defaults into the data.
    for path in LIBRARY_FILES:
        data = load_file(path)
        before = copy.deepcopy(data)
        make_validator().validate(data)
        assert data == before
