"""No text without its Chinese: every marked text is translated (placeholders and all), no message
reaches an error unmarked, and every message marshmallow can give is recognised (docs/i18n.md)."""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import marshmallow
import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from flask import Flask
from marshmallow import ValidationError, fields, validate
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from app.errors import NOUNS
from app.i18n import FOREIGN, TRANSLATIONS, either, language_of, localize, localize_errors

ROOT = Path(__file__).resolve().parents[1]
CATALOG = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
#: Where texts live: what babel.cfg extracts from, and what the scans below read.
PACKAGES = ("app", "sync", "media")

#: The error constructors, with the positions and keywords of their message arguments.
MESSAGE_ARGUMENTS: dict[str, tuple[set[int], set[str]]] = {
    "DomainError": ({2, 3}, {"message", "errors"}),  # app.errors
    "ValidationError": ({0}, {"message"}),  # marshmallow, in schemas and fields
    "RequestHeaderFieldsTooLarge": ({0}, {"description"}),  # werkzeug, app.errors
    "limit": (set(), {"error_message"}),  # Flask-Limiter's limiter.limit(...)
    "MutationRejected": ({1, 2}, {"message", "errors"}),  # sync.push
    "rejected": ({2, 3}, {"message", "errors"}),  # sync.push
    "ProtocolError": ({1, 2}, {"message", "errors"}),  # sync.protocol
    "Invalid": ({0, 1}, {"message", "errors"}),  # sync.protocol
    "matching": ({1}, {"message"}),  # sync.protocol
    "one_of": ({1}, {"message"}),  # sync.protocol
    "CursorError": ({1}, {"message"}),  # sync.cursor
    "MediaError": ({1}, {"message"}),  # media.errors
    "_bad": ({1}, {"message"}),  # media.tus's MediaError maker
}
MARKERS = {"_", "_l", "N_", "gettext", "lazy_gettext", "ngettext"}


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _unmarked(node: ast.AST) -> Iterator[ast.AST]:
    """The text literals in a message argument that no marker wraps (dict keys are field names)."""
    if isinstance(node, ast.Call) and _name(node.func) in MARKERS:
        return
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        or isinstance(node, ast.JoinedStr)
    ):
        yield node
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _unmarked(value)
    elif isinstance(node, ast.DictComp):  # the keys and the conditions are not messages
        yield from _unmarked(node.value)
    elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        yield from _unmarked(node.elt)
    elif isinstance(node, ast.Call):  # ", ".join(names): the separator is not a message
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            yield from _unmarked(arg)
    elif not isinstance(node, ast.Subscript | ast.Attribute):
        for child in ast.iter_child_nodes(node):
            yield from _unmarked(child)


def _assigned(scope: ast.AST) -> dict[str, list[ast.expr]]:
    """What each plain name is assigned in ``scope`` (``message = f"…"`` before the raise)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
    return found


def _unmarked_messages(tree: ast.Module) -> Iterator[tuple[int, str]]:
    assigned: dict[int, dict[str, list[ast.expr]]] = {}
    for scope in ast.walk(tree):
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            names = _assigned(scope)
            assigned.update((id(node), names) for node in ast.walk(scope))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in MESSAGE_ARGUMENTS:
            positions, keywords = MESSAGE_ARGUMENTS[_name(node.func) or ""]
            args = [a for i, a in enumerate(node.args) if i in positions]
            args += [k.value for k in node.keywords if k.arg in keywords]
            for arg in list(args):  # a message named first, then given: follow the name
                if isinstance(arg, ast.Name):
                    args += assigned.get(id(node), {}).get(arg.id, [])
            for arg in args:
                for literal in _unmarked(arg):
                    yield literal.lineno, ast.unparse(literal)
        # errors["field"] = ["…"]: the per-field messages a refusal is built from
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Subscript)
            and isinstance(t.value, ast.Name)
            and "errors" in t.value.id
            for t in node.targets
        ):
            for literal in _unmarked(node.value):
                yield literal.lineno, ast.unparse(literal)


def test_every_message_given_to_an_error_is_marked_for_translation() -> None:
    unmarked = [
        f"{path}:{line}: {text[:70]}"
        for path, tree in _sources()
        for line, text in _unmarked_messages(tree)
    ]
    assert unmarked == [], "wrap these in _() or _l() (docs/i18n.md):\n" + "\n".join(unmarked)


def test_texts_are_literals_with_named_placeholders() -> None:
    """_("%(code)s takes no value.", code=code): never an f-string, a concatenation or a % after."""
    bad = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in MARKERS and node.args:
                text = node.args[0]
                if not isinstance(text, ast.Constant | ast.Name | ast.Subscript | ast.Attribute):
                    bad.append(f"{path}:{node.lineno}: {ast.unparse(node)[:70]}")
                elif isinstance(text, ast.Constant) and re.search(r"%[sdrfi]|\{\w*\}", text.value):
                    bad.append(f"{path}:{node.lineno}: positional or brace placeholder")
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mod)
                and isinstance(node.left, ast.Call)
                and _name(node.left.func) in MARKERS
            ) or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and isinstance(node.func.value, ast.Call)
                and _name(node.func.value.func) in MARKERS
            ):
                bad.append(f"{path}:{node.lineno}: values go in as keywords of the marker")
    assert bad == []


def _binds_underscore(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and node.id == "_"
            and isinstance(node.ctx, ast.Store)
            or isinstance(node, ast.arg)
            and node.arg == "_"
            or isinstance(node, ast.ExceptHandler)
            and node.name == "_"
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_that_translates_uses_underscore_as_a_name() -> None:
    """`_` is gettext wherever a module imports it: `for _ in …` or `a, _ = …` would hide it."""
    clashes = []
    for path, tree in _sources():
        imports_marker = any(
            isinstance(node, ast.ImportFrom) and any(a.name == "_" for a in node.names)
            for node in ast.walk(tree)
        )
        if imports_marker:
            clashes += [f"{path}:{line}" for line in _binds_underscore(tree)]
    assert clashes == []


def test_every_not_found_names_a_noun_the_catalog_has() -> None:
    missing = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) == "not_found" and node.args:
                what = node.args[0]
                if isinstance(what, ast.Constant) and what.value not in NOUNS:
                    missing.append(f"{path}:{node.lineno}: {what.value}")
    assert missing == [], "add these to app.errors.NOUNS"


# --------------------------------------------------------------------------- the catalog

_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?([#0 +-]*\d*(?:\.\d+)?[sdrifxXeEgGc%])")


def _placeholders(text: str) -> list[tuple[str, str]]:
    return sorted(
        (name or "", conversion[-1])
        for name, conversion in _PLACEHOLDER.findall(text)
        if conversion != "%"
    )


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What `pybabel extract -F babel.cfg .` finds, run from the repository root."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(ROOT)
    try:
        CommandLineInterface().run(
            ["pybabel", "-q", "extract", "-F", "babel.cfg", "-o", str(pot), "."]
        )
    finally:
        monkeypatch.undo()
    with pot.open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def chinese() -> Any:
    with CATALOG.open("rb") as f:
        return read_po(f, locale="zh")


def test_every_text_has_its_chinese(extracted: Any, chinese: Any) -> None:
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        entry = chinese.get(message.id)
        if entry is None or not entry.string or entry.fuzzy:
            untranslated.append(message.id)
    assert untranslated == [], (
        "no Chinese for these texts: run `make messages`, translate them in "
        f"{CATALOG.relative_to(ROOT)} (docs/i18n.md):\n" + "\n".join(untranslated)
    )


def test_each_chinese_text_keeps_the_placeholders_of_its_source(chinese: Any) -> None:
    differ = [
        (m.id, m.string)
        for m in chinese
        if m.id and m.string and _placeholders(m.id) != _placeholders(m.string)
    ]
    assert differ == []


def test_the_catalog_holds_only_texts_the_code_has(extracted: Any, chinese: Any) -> None:
    stale = [m.id for m in chinese if m.id and m.id not in extracted]
    assert stale == [], "texts no longer in the code: run `make messages`"


def test_chinese_texts_use_full_width_punctuation(chinese: Any) -> None:
    """A sentence ends in 。 and clauses part with ，；： — not the ASCII marks (docs/i18n.md)."""
    hanzi = re.compile(r"[\u4e00-\u9fff]")
    ascii_after_hanzi = re.compile(r"[\u4e00-\u9fff）][,;:.?!](?!\w)")
    wrong = [
        m.string
        for m in chinese
        if m.id and hanzi.search(m.string or "") and ascii_after_hanzi.search(m.string)
    ]
    assert wrong == []


# --------------------------------------------------------------------------- marshmallow's words

SAMPLE = {
    "input": "x",
    "choices": "a, b",
    "choices_text": "a, b",
    "values": "a, b",
    "min": 1,
    "max": 9,
    "equal": 3,
    "other": "x",
}


def _marshmallow_messages() -> Iterator[str]:
    """Every message marshmallow's fields and validators can answer a load with, as it words it."""
    for cls in vars(fields).values():
        if not (inspect.isclass(cls) and issubclass(cls, fields.Field)):
            continue
        messages: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            messages.update(getattr(klass, "default_error_messages", {}))
        for key, template in messages.items():
            if key == "format":  # raised when dumping a value, never on a request
                continue
            if key == "invalid_awareness":  # only these two check a datetime's offset
                if issubclass(cls, fields.AwareDateTime):
                    yield template.format(awareness="aware", obj_type="datetime")
                if issubclass(cls, fields.NaiveDateTime):
                    yield template.format(awareness="naive", obj_type="datetime")
                continue
            yield template.format(**SAMPLE, obj_type=getattr(cls, "OBJ_TYPE", "datetime"))
    yield from marshmallow.Schema._default_error_messages.values()
    validators: list[tuple[Any, Any]] = [
        (validate.Length(min=2), "a"),
        (validate.Length(max=2), "abc"),
        (validate.Length(min=2, max=3), "a"),
        (validate.Length(equal=2), "a"),
        (validate.OneOf(["a", "b"]), "c"),
        (validate.Equal("x"), "y"),
        (validate.Regexp("^a$"), "b"),
        (validate.Email(), "x"),
        (validate.URL(), "x"),
        (validate.NoneOf(["a"]), "a"),
        (validate.ContainsOnly(["a"]), ["b"]),
        (validate.ContainsNoneOf(["a"]), ["a"]),
        (validate.Predicate("isdigit"), "a"),
    ]
    for low, high in ((1, None), (None, 9), (1, 9)):
        for min_inclusive in (True, False):
            for max_inclusive in (True, False):
                rule = validate.Range(
                    low, high, min_inclusive=min_inclusive, max_inclusive=max_inclusive
                )
                validators.append((rule, 100 if low is None else -100))
    for validator, value in validators:
        with pytest.raises(ValidationError) as refused:
            validator(value)
        yield from refused.value.messages


def test_every_message_marshmallow_gives_is_translated(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        untranslated = sorted({m for m in _marshmallow_messages() if localize(m) == m})
    assert untranslated == [], "add these to app.i18n.FOREIGN and translate them"


def test_marshmallow_messages_keep_their_values(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        assert localize("Longer than maximum length 80.") == "长度不能超过80。"
        assert (
            localize("Must be greater than or equal to 1 and less than or equal to 2000.")
            == "须不小于1且不大于2000。"
        )
        assert localize("Must be greater than or equal to 1.") == "不能小于1。"
        assert localize("Must be one of: pass, fail, na.") == "须为以下之一：pass, fail, na。"
        assert localize("已经是中文。") == "已经是中文。"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert localize("Longer than maximum length 80.") == "Longer than maximum length 80."


def test_foreign_texts_are_marshmallow_wordings() -> None:
    """FOREIGN holds marshmallow's words with our placeholders: each must word a message
    marshmallow really gives (or webargs's one), so that none of them is a guess."""
    given = set(_marshmallow_messages()) | {"Invalid JSON body."}

    def words(template: str, message: str) -> bool:
        parts = re.split(r"%\(\w+\)s", template)
        return re.fullmatch(".+?".join(re.escape(p) for p in parts), message) is not None

    unknown = [t for t in FOREIGN if not any(words(t, message) for message in given)]
    assert unknown == []


# --------------------------------------------------------------------------- the machinery


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "zh"),
        ("", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB, zh;q=0.5", "en"),  # Werkzeug's best_match alone would answer zh
        ("fr-FR, en;q=0.3", "en"),
        ("fr", "zh"),
        ("*", "zh"),
        ("en;q=0", "zh"),
        ("zh-Hant-TW", "zh"),
        ("EN", "en"),
    ],
)
def test_the_language_is_the_best_one_fieldsafe_speaks(header: str | None, language: str) -> None:
    assert language_of(parse_accept_header(header, LanguageAccept)) == language


def test_library_texts_are_translated_with_their_values(app: Flask) -> None:
    from app.sync.mutations import MUTATIONS
    from media.sniff import sniff
    from sync.protocol import ProtocolError, parse_args
    from sync.text import Text

    with pytest.raises(ProtocolError) as refused:
        parse_args("inspection.delete", {}, MUTATIONS)
    message = refused.value.message
    assert isinstance(message, Text) and message.startswith("Unknown mutation 'inspection.delete'")
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        assert (
            localize(message) == "无法识别的变更类型'inspection.delete'，请更新应用或放弃此条变更。"
        )
        try:
            sniff(b"PK\x03\x04 rest of a zip")
        except Exception as exc:  # noqa: BLE001 - the MediaError
            # A value that is itself a Text (what the file looks like) is translated too.
            assert localize(exc.message) == (  # type: ignore[attr-defined]
                "该文件不是可接受的照片（ZIP压缩包），请上传JPEG、PNG、WebP或HEIC格式的照片。"
            )
        assert localize_errors({"a": {"0": ["Unknown field."]}}) == {
            "a": {"0": ["无法识别的字段。"]}
        }
        assert either(["GET", "POST"]) == "GET或POST"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert localize(message) == str(message)
        assert either(["GET", "POST"]) == "GET or POST"


def test_texts_outside_a_request_are_english_and_carry_their_template() -> None:
    from sync.text import _l

    text = _l("Longer than maximum length %(max)s.", max=5)
    assert text == "Longer than maximum length 5."
    assert (text.template, dict(text.params)) == ("Longer than maximum length %(max)s.", {"max": 5})
    assert _l("100% sure") == "100% sure"  # no values: nothing is formatted


def test_values_of_other_types_pass_through(app: Flask) -> None:
    with app.test_request_context():
        for value in (None, 3, 2.5, decimal.Decimal("1"), uuid.uuid4(), dt.date(2026, 1, 1)):
            assert localize(value) == value


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.GB18030"}, "zh"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
    ],
)
def test_a_command_speaks_its_terminals_language(environ: dict[str, str], language: str) -> None:
    from app.i18n import terminal_language

    assert terminal_language(environ) == language


def test_a_command_on_a_chinese_terminal_answers_in_chinese(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["checklists", "diff", "gas_catering", "1", "9"]  # nothing is loaded: no version 1
    assert "There is no version 1" in app.test_cli_runner().invoke(args=args).output
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "没有第1版" in app.test_cli_runner().invoke(args=args).output
