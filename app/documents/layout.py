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
- :class:`Flow` sets the paragraphs and blocks of a document down its pages on a ReportLab
  canvas: a paragraph taller than what is left of the page splits between lines (never leaving
  its first line alone at the foot of a page), so long findings flow onto further pages; a
  block (a table row, a figure) that does not fit starts the next page. It is the page flow
  the documents took from platypus, without platypus's generic machinery (wrapping, splitting
  and positioning every flowable through frames and templates, a graphics state per
  flowable), which cost a record more than all its text.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from reportlab.lib.rl_accel import fp_str
from reportlab.pdfgen.canvas import Canvas

from app.documents.fonts import get_font

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
        face = get_font(font).face
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


def lines_of(text: str, style: Style, width: float) -> list[str]:
    """``text`` broken into the lines of a paragraph ``width`` wide (its indents taken off)."""
    room = width - style.left_indent
    return break_lines(collapse(text), style.font, style.size, room, room - style.first_indent)


def text_object(
    canvas: Canvas, lines: list[str], style: Style, x: float, top: float, width: float, first: bool
) -> None:
    """Draw ``lines`` as one PDF text object, their box's top left corner at ``x``, ``top``.

    Each line is placed and shown in one step, its text in the document's one font
    (:class:`app.documents.fonts.CIDFont`), without ReportLab's per-line work the layout has
    already done: measuring the line again to move a cursor, a graphics state and a text
    object per line. ``first``: the lines begin the paragraph (the first takes the first-line
    indent).
    """
    text = get_font(style.font).text(canvas._doc)
    ops = [f"BT {text.resource} {fp_str(style.size)} Tf"]
    y = top - style.size  # the first baseline a font size under the top
    for n, line in enumerate(lines):
        if style.align == "left":
            left = x + style.left_indent + (style.first_indent if n == 0 and first else 0)
        else:
            room = width - style.left_indent - sum(measure(line, style.font, style.size))
            left = x + style.left_indent + (room / 2 if style.align == "centre" else room)
        ops.append(f"1 0 0 1 {fp_str(left)} {fp_str(y)} Tm <{text.encode(line)}> Tj")
        y -= style.leading
    ops.append("ET")
    canvas._code.append(" ".join(ops))


class Flow:
    """A document's pages: paragraphs and blocks set from the top of a frame down.

    ``frame`` is the box the content fills on every page (left, bottom, width, top, in
    points); ``on_page`` draws what each page carries besides (its footer, the QR code) and
    is called as a page begins, with the page's number. Space before a paragraph is dropped
    at the top of a page, as platypus drops it.
    """

    def __init__(
        self,
        canvas: Canvas,
        frame: tuple[float, float, float, float],
        on_page: Callable[[Canvas, int], None],
    ) -> None:
        self.canvas, self.on_page = canvas, on_page
        self.x, self.bottom, self.width, self.top = frame
        self.page = 0
        self._begin()

    def _begin(self) -> None:
        self.page += 1
        self.y, self.at_top = self.top, True
        self.on_page(self.canvas, self.page)

    def new_page(self) -> None:
        """End this page and begin the next."""
        self.canvas.showPage()
        self._begin()

    def room(self) -> float:
        """The height left on this page."""
        return self.y - self.bottom

    def space(self, height: float) -> None:
        """Leave ``height`` blank (nothing at the top of a page, or at its foot)."""
        if not self.at_top:
            self.y = max(self.y - height, self.bottom)

    def paragraph(self, text: str, style: Style) -> None:
        """Set ``text`` in ``style``, onto further pages where it does not fit."""
        lines, first = lines_of(text, style, self.width), True
        while lines:
            before = 0 if self.at_top else style.space_before
            fit = int((self.room() - before + _EPSILON) // style.leading)
            if fit < len(lines) and (fit < 1 or (fit < 2 and first)) and not self.at_top:
                self.new_page()  # never the first line alone at the foot of a page
                continue
            part, lines = lines[: max(fit, 1)], lines[max(fit, 1) :]
            self.y -= before
            text_object(self.canvas, part, style, self.x, self.y, self.width, first)
            self.y -= len(part) * style.leading
            self.at_top, first = False, False
            if lines:
                self.new_page()

    def block(self, height: float, draw: Callable[[float, float], None]) -> None:
        """Place a block ``height`` tall, on the next page if it does not fit on this one.

        ``draw`` draws it, given its bottom left corner.
        """
        if height > self.room() + _EPSILON and not self.at_top:
            self.new_page()
        self.y -= height
        draw(self.x, self.y)
        self.at_top = False

    def finish(self) -> None:
        """End the last page."""
        self.canvas.showPage()
