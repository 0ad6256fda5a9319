"""The documents' text layout: CJK line breaking, 禁则 and page flow (app.documents.layout)."""

from __future__ import annotations

import io

import pdfplumber
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from app.documents.fonts import register_font
from app.documents.layout import (
    NO_LINE_END,
    NO_LINE_START,
    Flow,
    Style,
    break_lines,
    lines_of,
    measure,
)
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


def _flow(font: str, width: float, height: float) -> tuple[Flow, io.BytesIO, list[int]]:
    """A flow into a frame ``width`` × ``height`` at the foot of A4 pages; the pages begun."""
    out, pages = io.BytesIO(), []
    canvas = Canvas(out, pagesize=A4, invariant=1)
    return Flow(canvas, (0, 0, width, height), lambda _c, page: pages.append(page)), out, pages


def _page_texts(flow: Flow, out: io.BytesIO) -> list[str]:
    flow.finish()
    flow.canvas.save()
    with pdfplumber.open(io.BytesIO(out.getvalue())) as pdf:
        return [squeeze(page.extract_text() or "") for page in pdf.pages]


def test_a_paragraph_splits_between_lines_but_never_leaves_its_first_line_alone(
    font: str,
) -> None:
    style = Style(font, SIZE, 20, first_indent=24)
    lines = lines_of("一" * 100, style, _width(font, 10))
    assert [len(line) for line in lines] == [8, *[10] * 9, 2]  # the first line indented
    flow, out, pages = _flow(font, _width(font, 10), 65)  # three lines a page
    flow.paragraph("二" * 20, Style(font, SIZE, 20))  # one line left on the first page:
    flow.paragraph("一" * 100, style)  # the paragraph begins on the second
    assert pages == [1, 2, 3, 4, 5]
    assert flow.y == 65 - 2 * 20  # three lines a page on pages 2 to 4, the last two on page 5
    texts = _page_texts(flow, out)
    assert texts[0] == "二" * 20 and [len(t) for t in texts[1:]] == [28, 30, 30, 12]


def test_space_before_a_paragraph_is_dropped_at_the_top_of_a_page(font: str) -> None:
    style = Style(font, SIZE, 20, space_before=10)
    flow, out, pages = _flow(font, _width(font, 10), 100)
    flow.paragraph("一", style)
    assert flow.y == 80
    flow.paragraph("二", style)
    assert flow.y == 50
    flow.paragraph("三", style)
    assert flow.y == 20
    flow.paragraph("四" * 30, style)  # no line fits after its space: at the top of the next
    assert pages == [1, 2] and flow.y == 100 - 3 * 20
    assert _page_texts(flow, out) == ["一二三", "四" * 30]


def test_a_block_that_does_not_fit_starts_the_next_page(font: str) -> None:
    flow, _out, pages = _flow(font, 100, 100)
    placed: list[tuple[float, float, int]] = []
    for _n in range(3):
        flow.block(40, lambda x, y: placed.append((x, y, flow.page)))
    assert placed == [(0, 60, 1), (0, 20, 1), (0, 60, 2)]


def test_long_text_flows_onto_further_pages_without_being_cut(font: str) -> None:
    text = "灶具周边堆放杂物，未保持安全距离；" * 400 + "结尾标记。"
    flow, out, _pages = _flow(font, A4[0] - 144, A4[1] - 144)
    flow.paragraph(text, Style(font, SIZE, 20, first_indent=24))
    flow.paragraph("下一段。", Style(font, 12, 20))
    pages = _page_texts(flow, out)
    assert len(pages) >= 4
    assert "".join(pages) == squeeze(text) + "下一段。"
