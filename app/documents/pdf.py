"""Lay a document's content out as an A4 PDF with ReportLab, the CJK font embedded.

The layout follows the 2017 model texts (安监执法文书式样): the title centred in a large size,
the 文号 under it, the header fields of a record as a ruled form, numbered paragraphs, the
signature lines with the officers' certificate numbers, the issuing department and date, and
the remedies notice where the model has one. The text is set by ``app.documents.layout`` and flows
down the pages with its :class:`~app.documents.layout.Flow` (long findings split between lines
onto further pages, a table between its rows; the signature lines are kept together); photos
follow as an appendix, two or so to a page. Every page carries
the 文号 and its page number; the first carries the QR code that opens the verification page.

The output is deterministic (``invariant``: no creation time, no random document id), so the
same content and images always give the same bytes and the same SHA-256.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import segno
from PIL import Image as PILImage
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfutils import readJPEGInfo

from app.documents.content import Content
from app.documents.fonts import DEFAULT_FONT_PATH, register_font
from app.documents.layout import Flow, Style, lines_of, text_object
from app.documents.objects import Canvas, Jpeg

#: Margins of the model texts (mm): top, bottom, left (binding side), right.
MARGINS = (25, 25, 28, 26)
QR_SIZE = 24 * mm
#: Photos of the appendix are drawn at most this large.
PHOTO_MAX = (150 * mm, 95 * mm)
#: The space under a photo's caption.
FIGURE_SPACE = 5 * mm
#: A signature image is drawn at most this large, on its line.
SIGNATURE_MAX = (40 * mm, 14 * mm)
#: The space between the margins and the text, on every side (platypus's frame padding).
FRAME_PADDING = 6
#: A table cell's padding left and right (platypus's default).
CELL_PADDING = 6
#: The width of the tables' rules.
RULE = 0.5


def _styles(font: str) -> dict[str, Style]:
    base = Style(font, 12, 20)
    return {
        "title": replace(base, size=20, leading=28, align="centre"),
        "number": replace(base, align="centre"),
        "heading": replace(base, size=13, leading=22, space_before=6),
        "para": replace(base, first_indent=24, space_before=4),
        "item": replace(base, left_indent=12, space_before=3),
        "small": replace(base, size=10.5, leading=17, left_indent=28),
        "cell": replace(base, size=10.5, leading=16),
        "right": replace(base, align="right", space_before=10),
        "caption": replace(base, size=10, leading=15, align="centre"),
        "footer": replace(base, size=9, leading=9, align="centre"),
        "qr": replace(base, size=7, leading=7, align="centre"),
    }


@dataclass(frozen=True)
class _Photo:
    """A photo of the appendix: its bytes, its pixel size and its size on the page."""

    data: bytes
    sha256: str
    pixels: tuple[int, int, int]  # width, height, colour components (0: not a JPEG)
    width: float
    height: float


def _photo(data: bytes, sha256: str) -> _Photo:
    """A photo drawn at most ``PHOTO_MAX``; a JPEG's size read from its header."""
    if data[:2] == b"\xff\xd8":  # as drawImage reads a JPEG file's
        iw, ih, components, *_info = readJPEGInfo(io.BytesIO(data))
    else:  # drawn decoded
        with PILImage.open(io.BytesIO(data)) as im:
            (iw, ih), components = im.size, 0
    scale = min(PHOTO_MAX[0] / iw, PHOTO_MAX[1] / ih)
    return _Photo(data, sha256, (iw, ih, components), iw * scale, ih * scale)


def _draw_photo(canvas: Canvas, photo: _Photo, x: float, y: float) -> None:
    """Draw a photo, its bottom left corner at ``x``, ``y``.

    ReportLab's own ``drawImage`` either names an image by its file's path (a temporary path
    would make every PDF of the same record differ) or, from memory, decodes and hashes its
    pixels (ten times slower for 40 photos). A JPEG's stream is registered under a name
    derived from its SHA-256, the way ``drawImage`` registers a JPEG file; another image is
    drawn decoded.
    """
    w, h = photo.width, photo.height
    if not photo.pixels[2]:
        canvas.drawImage(ImageReader(io.BytesIO(photo.data)), x, y, w, h)
        return
    doc = canvas._doc
    name = f"Photo{photo.sha256[:32]}"
    registered = doc.getXObjectName(name)
    if registered not in doc.idToObject:
        doc.Reference(Jpeg(photo.data, *photo.pixels), registered)
        doc.addForm(name, doc.idToObject[registered])
    canvas._currentPageHasImages = 1
    canvas._code.append(f"q {fp_str(w, 0, 0, h, x, y)} cm /{registered} Do Q")
    canvas._formsinuse.append(name)  # the page's resources name it


@dataclass(frozen=True)
class _Cell:
    """A table cell, ``width`` wide: its lines of text in ``style``, or a signature image
    and the size it is drawn at."""

    width: float
    lines: list[str]
    style: Style
    image: bytes | None = None
    image_size: tuple[float, float] = (0, 0)

    @property
    def height(self) -> float:
        if self.image is not None:
            return self.image_size[1]
        return len(self.lines) * self.style.leading


def _cell(text: str, style: Style, width: float) -> _Cell:
    return _Cell(width, lines_of(text, style, width - 2 * CELL_PADDING), style)


def _signature_cell(data: bytes, style: Style, width: float) -> _Cell:
    """A signature image, scaled into its line (``SIGNATURE_MAX``)."""
    with PILImage.open(io.BytesIO(data)) as im:
        iw, ih = im.size
    scale = min(SIGNATURE_MAX[0] / iw, SIGNATURE_MAX[1] / ih)
    return _Cell(width, [], style, data, (iw * scale, ih * scale))


@dataclass(frozen=True)
class _Row:
    """A table row: its cells left to right, its top and bottom padding, its rules."""

    cells: list[_Cell]
    padding: tuple[float, float]
    #: the cells that get a box (a grid) and those that get a line below (a signature line)
    boxed: tuple[int, ...] = ()
    underlined: tuple[int, ...] = ()

    @property
    def height(self) -> float:
        top, bottom = self.padding
        return max(c.height for c in self.cells) + top + bottom


def _place_row(flow: Flow, row: _Row) -> None:
    """Place ``row``: each cell's content left-aligned and centred in the row's height.

    The tables span the margins, as platypus centred them in its frame (``FRAME_PADDING``
    wider on each side).
    """
    top, bottom = row.padding
    height = row.height

    def draw(x: float, y: float) -> None:
        canvas = flow.canvas
        x -= FRAME_PADDING
        rules = canvas.beginPath()
        for n, cell in enumerate(row.cells):
            if n in row.boxed:
                rules.rect(x, y, cell.width, height)
            if n in row.underlined:
                rules.moveTo(x, y)
                rules.lineTo(x + cell.width, y)
            h = cell.height
            cell_top = y + (height + bottom - top + h) / 2
            left = x + CELL_PADDING
            if cell.image is not None:
                w, h = cell.image_size
                reader = ImageReader(io.BytesIO(cell.image))
                canvas.drawImage(reader, left, cell_top - h, w, h, mask="auto")
            elif cell.lines:
                inner = cell.width - 2 * CELL_PADDING
                text_object(canvas, cell.lines, cell.style, left, cell_top, inner, True)
            x += cell.width
        if row.boxed or row.underlined:
            canvas.saveState()
            canvas.setLineWidth(RULE)
            canvas.drawPath(rules, stroke=1, fill=0)
            canvas.restoreState()

    flow.block(height, draw)


def _form(fields: tuple[tuple[str, str], ...], style: Style, width: float) -> list[_Row]:
    """The header fields as a ruled form: a row each, label and value, on a grid."""
    label, value = 42 * mm, width - 42 * mm
    return [
        _Row([_cell(k, style, label), _cell(v, style, value)], (3, 3), boxed=(0, 1))
        for k, v in fields
    ]


def _signature_rows(
    content: Content, signatures: Mapping[str, bytes], style: Style, width: float
) -> list[_Row]:
    """The signature lines: who signs, the line signed on (the image or the name), the
    certificate number; a signature's time and place (or the refusal) on a line of its own."""
    widths = (60 * mm, 44 * mm, width - 104 * mm)
    rows = []
    for slot in content.slots:
        image = signatures.get(slot.image_sha256 or "")
        signed = (
            _signature_cell(image, style, widths[1])
            if image
            else _cell(slot.name, style, widths[1])
        )
        detail = "　".join(x for x in (slot.name if image else "", slot.certificate) if x)
        cells = [_cell(slot.label, style, widths[0]), signed, _cell(detail, style, widths[2])]
        rows.append(_Row(cells, (6, 3), underlined=(1,)))
        if slot.note:  # when and where it was signed, or the refusal
            note = _cell(slot.note, style, widths[1] + widths[2])
            rows.append(_Row([_cell("", style, widths[0]), note], (6, 3)))
    return rows


#: The QR code's mask pattern (ISO/IEC 18004 §7.8): any of the eight decodes alike.
QR_MASK = 4


def _draw_qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of ``value`` (level M) as one filled path of its dark runs.

    Encoded by segno with a fixed mask (``QR_MASK``): choosing it by the standard's penalty
    rules applied and scored all eight masks in Python, 3.5 of segno's 4.6 ms. The rules steer
    a code away from patterns that can slow a scanner (large blocks, runs like the finder
    patterns); every mask decodes alike, and the codes were checked with zbarimg (200 random
    codes under each of the eight masks, and the rendered pages of the documents at 90 to 300
    dpi). The runs are written in module units under one transformation: integers, none of
    ReportLab's number formatting or its widget's shape per run.
    """
    modules = segno.make_qr(value, error="m", boost_error=False, mask=QR_MASK).matrix
    border = 2
    side = len(modules) + 2 * border
    box = size / side
    runs = []
    for r, row in enumerate(modules):
        c = border
        for dark, run in itertools.groupby(row):
            n = len(list(run))
            if dark:
                runs.append(f"{c} {side - border - r - 1} {n} 1 re")
            c += n
    canvas._code.append(f"q 0 g {fp_str(box, 0, 0, box, x, y)} cm {' '.join(runs)} f Q")


def _page(content: Content, s: dict[str, Style]) -> Callable[[Canvas, int], None]:
    """What every page carries: the 文号 and page number; the first, the QR code under its
    verification code."""
    width, height = A4

    def draw(canvas: Canvas, page: int) -> None:
        footer = f"{content.number}　—　{page}"
        text_object(canvas, [footer], s["footer"], 0, 12 * mm + 9, width, True)
        if page == 1 and content.verify_url:
            left = width - MARGINS[3] * mm - QR_SIZE + 4 * mm
            _draw_qr(canvas, content.verify_url, left, height - 6 * mm - QR_SIZE, QR_SIZE)
            code = content.verify_url.rsplit("/", 1)[-1]
            top = height - 8 * mm - QR_SIZE + 7
            text_object(canvas, [code], s["qr"], left, top, QR_SIZE, True)

    return draw


def build_pdf(
    content: Content,
    images: Mapping[str, bytes],
    signatures: Mapping[str, bytes],
    font_path: str = DEFAULT_FONT_PATH,
) -> bytes:
    """Return the PDF of ``content``; ``images`` and ``signatures`` by SHA-256."""
    font = register_font(font_path)
    s = _styles(font)
    # An image ReportLab draws itself (a signature, a photo that is not a JPEG) goes into the
    # PDF as a binary stream, not ASCII85 text: a quarter smaller, without ReportLab's
    # pure-Python ASCII85 encoder.
    rl_config.useA85 = 0
    # the PDF's bytes are taken from the canvas (getpdfdata), not written to this file and
    # read back: two copies fewer of a record's 2 MB
    canvas = Canvas(io.BytesIO(), pagesize=A4, invariant=1)
    canvas.setTitle(f"{content.title} {content.number}")
    canvas.setAuthor(content.department)
    canvas.setCreator("Fieldsafe")
    top, bottom, left, right = (m * mm for m in MARGINS)
    width = A4[0] - left - right  # between the margins: the tables' width
    frame = (
        left + FRAME_PADDING,
        bottom + FRAME_PADDING,
        width - 2 * FRAME_PADDING,
        A4[1] - top - FRAME_PADDING,
    )
    flow = Flow(canvas, frame, _page(content, s))
    flow.paragraph(content.title, s["title"])
    flow.paragraph(content.number, s["number"])
    flow.space(4 * mm)
    if content.fields:
        for row in _form(content.fields, s["cell"], width):
            _place_row(flow, row)
        flow.space(3 * mm)
    for block in content.blocks:
        flow.paragraph(block.text, s[block.style])
    flow.space(6 * mm)
    rows = _signature_rows(content, signatures, s["cell"], width)
    if sum(r.height for r in rows) > flow.room():  # the signature lines kept together
        flow.new_page()
    for row in rows:
        _place_row(flow, row)
    flow.paragraph(content.seal, s["right"])
    flow.paragraph(content.date, s["right"])
    flow.space(4 * mm)
    flow.paragraph(content.verify_text, s["small"])
    if content.photos:
        flow.new_page()
        flow.paragraph(content.appendix, s["heading"])
        for photo in content.photos:
            data = images.get(photo.sha256)
            _figure(flow, _photo(data, photo.sha256) if data else None, photo.caption, s)
    flow.finish()
    return canvas.getpdfdata()  # type: ignore[no-any-return]


def _figure(flow: Flow, photo: _Photo | None, caption: str, s: dict[str, Style]) -> None:
    """A photo with its caption under it and the space after, kept together on a page; the
    photo at the frame's left, the caption centred."""
    style = s["caption"]
    lines = lines_of(caption, style, flow.width)
    text_height = len(lines) * style.leading
    height = (photo.height if photo else 0) + text_height + FIGURE_SPACE

    def draw(x: float, y: float) -> None:
        if photo is not None:
            _draw_photo(flow.canvas, photo, x, y + text_height + FIGURE_SPACE)
        text_object(flow.canvas, lines, style, x, y + text_height + FIGURE_SPACE, flow.width, True)

    flow.block(height, draw)
