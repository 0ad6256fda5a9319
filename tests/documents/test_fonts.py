"""The documents' font: AR PL UMing as one CID-keyed font a document (app.documents.fonts)."""

from __future__ import annotations

import io
import struct
from typing import Any

import pdfplumber
import pytest
from pdfminer.pdftypes import resolve1
from reportlab.lib.pagesizes import A4

from app.documents.fonts import get_font, register_font
from app.documents.layout import Style, measure, text_object
from app.documents.objects import Canvas

SIZE = 12.0


@pytest.fixture(scope="module")
def font() -> str:
    return register_font()


def _pdf(font: str, *lines: str) -> bytes:
    """A page with ``lines`` in one text object, as the documents draw their text."""
    canvas = Canvas(io.BytesIO(), pagesize=A4, invariant=1)
    text_object(canvas, list(lines), Style(font, SIZE, 20), 50, 800, 500, True)
    canvas.showPage()
    return canvas.getpdfdata()  # type: ignore[no-any-return]


def _lines(data: bytes) -> list[list[dict[str, Any]]]:
    """The characters pdfplumber reads, a list a line, left to right."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        chars = pdf.pages[0].chars
    lines: dict[float, list[dict[str, Any]]] = {}
    for c in chars:
        lines.setdefault(round(c["top"], 1), []).append(c)
    return [sorted(line, key=lambda c: c["x0"]) for _top, line in sorted(lines.items())]


def _embedded(data: bytes) -> list[dict[str, Any]]:
    """The Type 0 fonts of ``data``, each with its descendant font resolved."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        found = []
        for xref in pdf.doc.xrefs:
            for objid in xref.get_objids():
                obj = resolve1(pdf.doc.getobj(objid))
                if isinstance(obj, dict) and getattr(obj.get("Subtype"), "name", "") == "Type0":
                    [descendant] = resolve1(obj["DescendantFonts"])
                    descendant = resolve1(descendant)
                    descriptor = resolve1(descendant["FontDescriptor"])
                    program = resolve1(descriptor["FontFile2"]).get_data()
                    found.append({"font": obj, "descendant": descendant, "program": program})
    return found


def _glyph_count(program: bytes) -> int:
    """The number of glyphs of a TrueType font program (its ``maxp`` table)."""
    (tables,) = struct.unpack(">H", program[4:6])
    for n in range(tables):
        tag, _sum, offset, _length = struct.unpack(">4sLLL", program[12 + 16 * n : 28 + 16 * n])
        if tag == b"maxp":
            return struct.unpack(">H", program[offset + 4 : offset + 6])[0]  # type: ignore[no-any-return]
    raise AssertionError("no maxp table")


def test_text_reads_back_at_the_widths_it_was_measured_with(font: str) -> None:
    lines = ["判定依据：《城镇燃气设计规范》GB 50028-2006", "（2020年版）10.8.1 检查员 Li Ming"]
    read = _lines(_pdf(font, *lines))
    assert ["".join(c["text"] for c in line) for line in read] == lines
    for line, chars in zip(lines, read, strict=True):
        x = 50.0
        for c, width in zip(chars, measure(line, font, SIZE), strict=True):
            assert c["x0"] == pytest.approx(x, abs=0.01), c["text"]
            assert c["x1"] - c["x0"] == pytest.approx(width, abs=0.01), c["text"]
            x += width


def test_a_document_embeds_one_subset_of_the_characters_it_uses(font: str) -> None:
    text = "现场检查记录：燃气报警器未安装，责令限期整改。" * 3
    [embedded] = _embedded(_pdf(font, text, "二〇二六年三月二日"))
    assert embedded["font"]["Encoding"].name == "Identity-H"
    assert embedded["descendant"]["Subtype"].name == "CIDFontType2"
    assert embedded["program"][:4] == b"\x00\x01\x00\x00"  # TrueType
    distinct = set(text + "二〇二六年三月二日")
    # .notdef and a glyph per character used, of the font's tens of thousands
    assert _glyph_count(embedded["program"]) == len(distinct) + 1


def test_the_same_text_gives_the_same_bytes_and_other_text_another_subset(font: str) -> None:
    first = _pdf(font, "执法人员出示执法证件")
    assert first == _pdf(font, "执法人员出示执法证件")
    [ours], [other] = _embedded(first), _embedded(_pdf(font, "被检查单位负责人签名"))
    tag = ours["descendant"]["BaseFont"].name.split("+")[0]
    assert len(tag) == 6 and tag.isupper()
    assert tag != other["descendant"]["BaseFont"].name.split("+")[0]


def test_characters_beyond_the_basic_plane_read_back_as_themselves(font: str) -> None:
    # 𠮷 (U+20BB7) in a name, an emoji in a note: each takes its own code for the document
    lines = ["𠮷野家餐饮店（负责人：𠮷田）", "现场😀照片", "𠮷"]
    read = _lines(_pdf(font, *lines))
    assert ["".join(c["text"] for c in line) for line in read] == lines
    text = get_font(font).text(Canvas(io.BytesIO())._doc)
    assert text.encode("𠮷") == "d800" and text.encode("😀𠮷") == "d801d800"


def test_a_lone_surrogate_is_drawn_and_read_as_a_missing_character(font: str) -> None:
    read = _lines(_pdf(font, "单位\ud800名称"))
    assert "".join(c["text"] for c in read[0]) == "单位\ufffd名称"
