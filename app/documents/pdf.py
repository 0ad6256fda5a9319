"""Lay a document's content out as an A4 PDF with ReportLab, the CJK font embedded.

The layout follows the 2017 model texts (安监执法文书式样): the title centred in a large size,
the 文号 under it, the header fields of a record as a ruled form, numbered paragraphs, the
signature lines with the officers' certificate numbers, the issuing department and date, and
the remedies notice where the model has one. The text is set by ``app.documents.layout`` (its
paragraphs are platypus flowables); long findings flow onto further pages (platypus splits the
paragraphs and tables between pages); photos follow as an appendix. Every page carries
the 文号 and its page number; the first carries the QR code that opens the verification page.

The output is deterministic (``invariant``: no creation time, no random document id), so the
same content and images always give the same bytes and the same SHA-256.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import segno
from PIL import Image as PILImage
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFImageXObject
from reportlab.pdfbase.pdfutils import readJPEGInfo
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from app.documents.content import Content
from app.documents.layout import Style, Text

#: AR PL UMing (宋体 style), from Debian's fonts-arphic-uming: ``make fonts`` installs it.
DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/arphic/uming.ttc"
FONT_NAME = "ARPLUMing"
FONT_PACKAGE = "fonts-arphic-uming"
#: Margins of the model texts (mm): top, bottom, left (binding side), right.
MARGINS = (25, 25, 28, 26)
QR_SIZE = 24 * mm
#: Photos of the appendix are drawn at most this large.
PHOTO_MAX = (150 * mm, 95 * mm)
#: The space under a photo's caption.
FIGURE_SPACE = 5 * mm


class FontMissing(RuntimeError):
    """The CJK font the documents embed is not installed."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the documents' font AR PL UMing is missing: {path} does not exist; "
            f"install it with `make fonts` (Debian package {FONT_PACKAGE})"
        )
        self.path = path


_registered: dict[str, str] = {}


class _Face(TTFontFace):
    """AR PL UMing's typeface, keeping its glyph table once read.

    ReportLab's subsetter reads the glyph table (``glyf``, 17 MB of AR PL UMing's 21) by
    slicing it out of the font file's bytes, a copy of the whole table for every subset of
    every document (2.6 ms each, two subsets a record); kept, it is copied once per process,
    at the cost of 17 MB of memory.
    """

    _glyf: bytes | None = None

    def get_table(self, tag: str) -> bytes:
        if tag != "glyf":
            return super().get_table(tag)  # type: ignore[no-any-return]
        if self._glyf is None:
            self._glyf = super().get_table(tag)
        return self._glyf


def register_font(path: str = DEFAULT_FONT_PATH) -> str:
    """Register the CJK font with ReportLab once per process; return its name."""
    if path in _registered:
        return _registered[path]
    if not Path(path).is_file():
        raise FontMissing(path)
    # Photos go into the PDF as binary streams, not ASCII85 text: a quarter smaller, and
    # ReportLab's pure-Python ASCII85 encoder would take most of the time of a record.
    rl_config.useA85 = 0
    name = FONT_NAME if not _registered else f"{FONT_NAME}{len(_registered)}"
    # Characters numbered into the font's 256-glyph subsets in the order the text uses them,
    # without keeping 96 codes of the first for ASCII (ReportLab's default, there to keep the
    # raw page streams readable and the space at code 32 for justified word spacing, which no
    # style here uses): a record takes one subset fewer, and each costs ReportLab the subset's
    # own tables and their compression.
    font = TTFont(name, path, subfontIndex=0, asciiReadable=0)
    font.face.__class__ = _Face  # the face ReportLab parsed, with its glyph table kept
    pdfmetrics.registerFont(font)
    _registered[path] = name
    return name


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
    }


class _Signature(Flowable):
    """A signature image, scaled into its line."""

    def __init__(self, data: bytes, width: float, height: float) -> None:
        super().__init__()
        self.reader = ImageReader(io.BytesIO(data))
        iw, ih = self.reader.getSize()
        scale = min(width / iw, height / ih)
        self.width, self.height = iw * scale, ih * scale

    def draw(self) -> None:
        self.canv.drawImage(self.reader, 0, 0, self.width, self.height, mask="auto")


class _Photo(Flowable):
    """A JPEG photo of the appendix, its bytes copied into the PDF as they are.

    ReportLab's own ``drawImage`` either names an image by its file's path (a temporary path
    would make every PDF of the same record differ) or, from memory, decodes and hashes its
    pixels (ten times slower for 40 photos). This registers the JPEG stream under a name
    derived from its SHA-256, the way ``drawImage`` registers a JPEG file.
    """

    def __init__(self, data: bytes, sha256: str) -> None:
        super().__init__()
        self.data, self.sha256 = data, sha256
        self.jpeg = data[:2] == b"\xff\xd8"
        if self.jpeg:  # its size from its header, as drawImage reads a JPEG file's
            iw, ih, *_info = readJPEGInfo(io.BytesIO(data))
        else:  # drawn decoded
            with PILImage.open(io.BytesIO(data)) as im:
                iw, ih = im.size
        scale = min(PHOTO_MAX[0] / iw, PHOTO_MAX[1] / ih)
        self.width, self.height = iw * scale, ih * scale

    def draw(self) -> None:
        canvas = self.canv
        if not self.jpeg:
            reader = ImageReader(io.BytesIO(self.data))
            canvas.drawImage(reader, 0, 0, self.width, self.height)
            return
        doc = canvas._doc
        name = f"Photo{self.sha256[:32]}"
        registered = doc.getXObjectName(name)
        if registered not in doc.idToObject:
            image = PDFImageXObject(name)
            image.loadImageFromJPEG(io.BytesIO(self.data))
            canvas._setXObjects(image)
            doc.Reference(image, registered)
            doc.addForm(name, image)
        canvas._currentPageHasImages = 1
        canvas.saveState()
        canvas.scale(self.width, self.height)
        canvas._code.append(f"/{registered} Do")
        canvas.restoreState()
        canvas._formsinuse.append(name)  # the page's resources name it


class _Figure(Flowable):
    """A photo of the appendix with its caption under it, and the space after: kept together.

    One flowable where a ``KeepTogether`` of the three would wrap (and copy) its parts again
    to measure them; a figure that does not fit what is left of a page starts the next one.
    """

    def __init__(self, photo: _Photo | None, caption: str, style: Style) -> None:
        super().__init__()
        self.photo, self.caption = photo, Text(caption, style)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        _w, self.caption_height = self.caption.wrap(available_width, available_height)
        photo = self.photo.height if self.photo else 0
        self.width, self.height = available_width, photo + self.caption_height + FIGURE_SPACE
        return self.width, self.height

    def draw(self) -> None:
        canvas, top = self.canv, self.height
        if self.photo is not None:  # at the left, as the frame places a flowable
            top -= self.photo.height
            self.photo.drawOn(canvas, 0, top)
        self.caption.drawOn(canvas, 0, top - self.caption_height)


def _draw_qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of ``value`` (level M) as one path of dark runs.

    Encoded by segno, which picks the mask by the standard's penalty rules as ReportLab's own
    encoder does, in half its time; one path is a fraction of the time of ReportLab's widget,
    which draws a shape per run through its graphics renderer.
    """
    modules = segno.make_qr(value, error="m", boost_error=False).matrix
    border = 2
    box = size / (len(modules) + 2 * border)
    path = canvas.beginPath()
    for r, row in enumerate(modules):
        c = 0
        for dark, run in itertools.groupby(bool(m) for m in row):
            n = len(list(run))
            if dark:
                path.rect(x + (c + border) * box, y + size - (r + border + 1) * box, n * box, box)
            c += n
    canvas.saveState()
    canvas.setFillColor(colors.black)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _page(content: Content, font: str) -> Any:
    def draw(canvas: Canvas, doc: Any) -> None:
        width, height = A4
        canvas.saveState()
        canvas.setFont(font, 9)
        page = canvas.getPageNumber()
        canvas.drawCentredString(width / 2, 12 * mm, f"{content.number}　—　{page}")
        if page == 1 and content.verify_url:
            left = width - MARGINS[3] * mm - QR_SIZE + 4 * mm
            _draw_qr(canvas, content.verify_url, left, height - 6 * mm - QR_SIZE, QR_SIZE)
            canvas.setFont(font, 7)
            code = content.verify_url.rsplit("/", 1)[-1]
            canvas.drawCentredString(left + QR_SIZE / 2, height - 8 * mm - QR_SIZE, code)
        canvas.restoreState()

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
    out = io.BytesIO()
    top, bottom, left, right = MARGINS
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        topMargin=top * mm,
        bottomMargin=bottom * mm,
        leftMargin=left * mm,
        rightMargin=right * mm,
        title=f"{content.title} {content.number}",
        author=content.department,
        creator="Fieldsafe",
        invariant=1,
    )
    width = A4[0] - (left + right) * mm
    story: list[Flowable] = [
        Text(content.title, s["title"]),
        Text(content.number, s["number"]),
        Spacer(1, 4 * mm),
    ]
    if content.fields:
        form = [
            [Text(label, s["cell"]), Text((value), s["cell"])] for label, value in content.fields
        ]
        table = Table(form, colWidths=[42 * mm, width - 42 * mm], repeatRows=0)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        story += [table, Spacer(1, 3 * mm)]
    story += [Text(b.text, s[b.style]) for b in content.blocks]
    story.append(Spacer(1, 6 * mm))
    rows: list[list[Any]] = []
    spans: list[tuple[Any, ...]] = []
    for slot in content.slots:
        # the line the signer signs on
        spans.append(("LINEBELOW", (1, len(rows)), (1, len(rows)), 0.5, colors.black))
        image = signatures.get(slot.image_sha256 or "")
        signed: Any = _Signature(image, 40 * mm, 14 * mm) if image else Text(slot.name, s["cell"])
        detail = "　".join(x for x in (slot.name if image else "", slot.certificate) if x)
        rows.append(
            [
                Text(slot.label, s["cell"]),
                signed,
                Text(detail, s["cell"]),
            ]
        )
        if slot.note:  # when and where it was signed, or the refusal: a line of its own
            spans.append(("SPAN", (1, len(rows)), (2, len(rows))))
            rows.append(["", Text(slot.note, s["cell"]), ""])
    table = Table(rows, colWidths=[60 * mm, 44 * mm, width - 104 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                *spans,
            ]
        )
    )
    story += [
        KeepTogether([table]),
        Text(content.seal, s["right"]),
        Text(content.date, s["right"]),
        Spacer(1, 4 * mm),
        Text(content.verify_text, s["small"]),
    ]
    if content.photos:
        story += [PageBreak(), Text(content.appendix, s["heading"])]
        for photo in content.photos:
            data = images.get(photo.sha256)
            image = _Photo(data, photo.sha256) if data else None
            story.append(_Figure(image, photo.caption, s["caption"]))
    doc.build(story, onFirstPage=_page(content, font), onLaterPages=_page(content, font))
    return out.getvalue()
