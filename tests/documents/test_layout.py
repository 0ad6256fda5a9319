"""The documents' text layout: CJK line breaking, 禁则 and page flow (app.documents.layout)."""

from __future__ import annotations

import io

import pdfplumber
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.platypus import SimpleDocTemplate

from app.documents.layout import NO_LINE_END, NO_LINE_START, Style, Text, break_lines, measure
from app.documents.pdf import register_font
from tests.documents.conftest import squeeze

SIZE = 12.0


@pytest.fixture(scope="module")
def font() -> str:
    return register_font()


def _width(font: str, chars: int) -> float:
    """The width of ``chars`` full-width characters (a CJK glyph is one em wide)."""
    return sum(measure("一" * chars, font, SIZE))


def test_cjk_text_breaks_between_any_two_characters_within_the_width(font: str) -> None:
    text = "执法人员出示执法证件说明检查目的对照检查表逐项检查了该单位的安全生产情况" * 3
    width = _width(font, 10)
    lines = break_lines(text, font, SIZE, width)
    assert "".join(lines) == text
    assert [len(line) for line in lines[:-1]] == [10] * (len(lines) - 1)
    assert all(sum(measure(line, font, SIZE)) <= width + 1e-6 for line in lines)


def test_the_first_line_has_its_own_width(font: str) -> None:
    lines = break_lines("一" * 30, font, SIZE, _width(font, 10), _width(font, 8))
    assert [len(line) for line in lines] == [8, 10, 10, 2]


def test_punctuation_that_may_not_start_a_line_takes_the_last_character_with_it(
    font: str,
) -> None:
    for mark in "、。，；：）」":
        text = "一" * 10 + mark + "二" * 5
        lines = break_lines(text, font, SIZE, _width(font, 10))
        assert lines == ["一" * 9, "一" + mark + "二" * 5], mark


def test_an_opening_bracket_does_not_end_a_line(font: str) -> None:
    for mark in "（「":
        text = "一" * 9 + mark + "二三" + "四" * 5
        lines = break_lines(text, font, SIZE, _width(font, 10))
        assert lines[0] == "一" * 9 and lines[1].startswith(mark), mark


def test_no_line_starts_or_ends_with_a_forbidden_mark_in_real_text(font: str) -> None:
    text = (
        "判定依据：《城镇燃气设计规范》（GB 50028-2006（2020年版））10.8.1：在下列场所应设置燃气"
        "浓度检测报警器：1 建筑物内专用的封闭式燃气调压、计量间；2 地下室、半地下室和地上密闭的"
        "用气房间；3 燃气管道竖井；4 地下室、半地下室引入管穿墙处；5 有燃气管道的管道层。"
    ) * 2
    for chars in range(8, 30):
        lines = break_lines(text, font, SIZE, _width(font, chars))
        assert all(line[0] not in NO_LINE_START for line in lines[1:]), chars
        assert all(line[-1] not in NO_LINE_END for line in lines[:-1]), chars
        assert squeeze("".join(lines)) == squeeze(text)


def test_a_number_is_not_split_and_spaces_are_dropped_at_a_break(font: str) -> None:
    text = "执法人员 王芳 证号：31010520230002 检查员二"
    for chars in range(8, 20):  # the number fits on a line from 8 characters wide
        lines = break_lines(text, font, SIZE, _width(font, chars))
        assert any("31010520230002" in line for line in lines), chars
        assert all(line == line.strip(" ") for line in lines), chars
        assert squeeze("".join(lines)) == squeeze(text), chars


def test_a_line_without_a_legal_break_is_cut_where_it_is_full(font: str) -> None:
    lines = break_lines("A" * 200, font, SIZE, _width(font, 10))
    assert "".join(lines) == "A" * 200 and len(lines) > 1


def test_a_paragraph_splits_between_lines_but_never_leaves_its_first_line_alone(
    font: str,
) -> None:
    style = Style(font, SIZE, 20, first_indent=24)
    para = Text("一" * 100, style)
    _w, height = para.wrap(_width(font, 10), 10_000)
    assert height == 11 * 20  # 8 on the first (indented) line, then 10 a line
    assert para.split(_width(font, 10), 20) == []  # the first line alone: all to the next page
    head, tail = para.split(_width(font, 10), 65)
    assert head.wrap(_width(font, 10), 65)[1] == 60 and head.lines == ["一" * 8, *["一" * 10] * 2]
    assert tail.wrap(_width(font, 10), 10_000)[1] == 8 * 20 and tail.getSpaceBefore() == 0


def test_long_text_flows_onto_further_pages_without_being_cut(font: str) -> None:
    text = "灶具周边堆放杂物，未保持安全距离；" * 400 + "结尾标记。"
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, invariant=1).build(
        [Text(text, Style(font, SIZE, 20, first_indent=24)), Text("下一段。", Style(font, 12, 20))]
    )
    with pdfplumber.open(io.BytesIO(out.getvalue())) as pdf:
        pages = [squeeze(page.extract_text() or "") for page in pdf.pages]
    assert len(pages) >= 4
    assert "".join(pages) == squeeze(text) + "下一段。"
