"""The documents' text layout: CJK line breaking with 禁则, measured in the embedded font.

ReportLab's ``Paragraph`` parses markup, splits the text into words, re-measures every
fragment and lays out each line through several layers of Python; the documents need none of
that (plain text, one font, one size per paragraph). Here a paragraph is broken into lines once,
from the font's own advance widths (cached per font and size), and drawn with one text object:

- a line may break between any two characters, except (禁则) before the punctuation that may
  not start a line (、。，；：？！）」…) or after that which may not end one (（「…), and inside
  a run of ASCII letters and digits (a certificate number, a clause like GB50016); a line that
  has no legal break is cut where it is full;
- spaces are collapsed to single spaces, as a Paragraph collapses them, and dropped at a break;
- :class:`Text` is a platypus flowable: a paragraph taller than what is left of the page splits
  between lines (never leaving its first line alone at the foot of a page), so long findings
  flow onto further pages; it also fills the cells of the documents' tables.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from itertools import accumulate

from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus.flowables import Flowable

#: Characters that may not start a line (行首禁则).
NO_LINE_START = frozenset("、。，．；：？！）」』】〕》〉”’…·—%,.;:?!)]}")
#: Characters that may not end a line (行尾禁则).
NO_LINE_END = frozenset("（「『【〔《〈“‘([{")
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
#: Slack for rounding when a line is exactly full (points).
_EPSILON = 1e-6

_widths: dict[tuple[str, float], dict[str, float]] = {}


def char_widths(font: str, size: float) -> dict[str, float]:
    """The advance widths (points) of the characters of ``font`` at ``size``, filled as met."""
    key = (font, size)
    if key not in _widths:
        _widths[key] = {}
    return _widths[key]


def measure(text: str, font: str, size: float) -> list[float]:
    """Each character's advance width in ``font`` at ``size`` (a missing glyph: the default)."""
    cache = char_widths(font, size)
    try:
        return list(map(cache.__getitem__, text))
    except KeyError:  # characters met for the first time in this font and size
        face = pdfmetrics.getFont(font).face
        scale = size / 1000
        for ch in set(text) - cache.keys():
            cache[ch] = face.charWidths.get(ord(ch), face.defaultWidth) * scale
        return list(map(cache.__getitem__, text))


def collapse(text: str) -> str:
    """Whitespace runs as single spaces, none at the ends (as a Paragraph reads its text)."""
    return " ".join(text.split())


def _may_break(text: str, at: int) -> bool:
    """Whether a line may end before ``text[at]``."""
    before, after = text[at - 1], text[at]
    if after in NO_LINE_START or before in NO_LINE_END:
        return False
    return not (before in _ASCII_WORD and after in _ASCII_WORD)


def break_lines(
    text: str, font: str, size: float, width: float, first_width: float | None = None
) -> list[str]:
    """Break ``text`` into lines at most ``width`` wide (the first ``first_width``)."""
    if not text:
        return []
    cum = [0.0, *accumulate(measure(text, font, size))]
    n, lines, start = len(text), [], 0
    room = width if first_width is None else first_width
    while start < n:
        end = bisect_right(cum, cum[start] + room + _EPSILON) - 1
        if end >= n:
            lines.append(text[start:])
            break
        end = max(end, start + 1)  # a character wider than the line still takes one
        cut = end
        while cut > start + 1 and not _may_break(text, cut):
            cut -= 1
        if cut == start + 1 and not _may_break(text, cut):
            cut = end  # no legal break on this line: cut where it is full
        lines.append(text[start:cut].rstrip(" "))
        start = cut
        while start < n and text[start] == " ":
            start += 1
        room = width
    return lines


@dataclass(frozen=True)
class Style:
    """How a paragraph is set: its font and size, leading, indents, space before, alignment."""

    font: str
    size: float
    leading: float
    first_indent: float = 0
    left_indent: float = 0
    space_before: float = 0
    align: str = "left"  # left, centre or right


class Text(Flowable):
    """A paragraph of plain text: broken into lines on ``wrap``, split between pages."""

    def __init__(self, text: str, style: Style, lines: list[str] | None = None) -> None:
        super().__init__()
        self.text, self.style = collapse(text), style
        #: set for the later part of a split paragraph: its lines, already broken
        self.lines = lines
        self._broken: tuple[float, list[str]] | None = None
        self._first = lines is None

    def _lines(self, available_width: float) -> list[str]:
        if self.lines is not None:
            return self.lines
        if self._broken is None or self._broken[0] != available_width:
            s = self.style
            width = available_width - s.left_indent
            self._broken = (
                available_width,
                break_lines(self.text, s.font, s.size, width, width - s.first_indent),
            )
        return self._broken[1]

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        self.height = len(self._lines(available_width)) * self.style.leading
        return self.width, self.height

    def getSpaceBefore(self) -> float:  # noqa: N802 (platypus's name)
        return self.style.space_before if self._first else 0

    def split(self, available_width: float, available_height: float) -> list[Flowable]:
        lines = self._lines(available_width)
        fit = int((available_height + _EPSILON) // self.style.leading)
        if fit >= len(lines):
            return [self]
        if fit < 2 and self._first:  # never the first line alone at the foot of a page
            return []
        if fit < 1:
            return []
        head = Text(self.text, self.style, lines[:fit])
        head._first = self._first
        tail = Text(self.text, replace(self.style, first_indent=0), lines[fit:])
        return [head, tail]

    def draw(self) -> None:
        """Draw the lines as one PDF text object, in the font's subsets.

        The text operators are written as ReportLab's text object writes them for a TrueType
        font (the characters numbered into the font's 256-glyph subsets by ``splitString``),
        without its per-line work the layout has already done: measuring the line again to
        move a cursor, a graphics state and a text object per line.
        """
        s, lines, canvas = self.style, self._lines(self.width), self.canv
        doc, font = canvas._doc, pdfmetrics.getFont(s.font)
        size, current = fp_str(s.size), None
        names: dict[int, str] = {}  # subset → the PDF font's name
        ops = ["BT"]
        y = self.height - s.size  # the first baseline a font size under the top
        for n, line in enumerate(lines):
            if s.align == "left":
                x = s.left_indent + (s.first_indent if n == 0 and self._first else 0)
            else:
                room = self.width - s.left_indent - sum(measure(line, s.font, s.size))
                x = s.left_indent + (room / 2 if s.align == "centre" else room)
            ops.append(f"1 0 0 1 {fp_str(x)} {fp_str(y)} Tm")
            for subset, chars in font.splitString(line, doc):
                name = names.get(subset) or names.setdefault(
                    subset, font.getSubsetInternalName(subset, doc)
                )
                if name != current:
                    ops.append(f"{name} {size} Tf")
                    current = name
                ops.append(f"({escapePDF(chars)}) Tj")
            y -= s.leading
        ops.append("ET")
        canvas._code.append(" ".join(ops))
