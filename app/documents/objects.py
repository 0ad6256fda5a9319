"""PDF objects the documents write at once, where ReportLab would build them generically.

ReportLab builds every object of a PDF (a page, its resources, an image, a stream) from
generic dictionaries and arrays and formats each entry through its generic formatter, one
Python call and one number formatting each. For a record of 26 pages and 40 photos that cost
more than its text. The objects here write the same PDF syntax in one step:

- :func:`flate`: streams compressed by ISA-L (Intel's storage acceleration library) rather
  than zlib: the same Flate format, in a quarter of zlib's fastest level's time;
- :class:`Jpeg`: a JPEG photo, its bytes copied in as they are (``DCTDecode``);
- :class:`Page` and its :class:`PageStream`, set on every page by :class:`Canvas`.
"""

from __future__ import annotations

from typing import Any

from isal import isal_zlib
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase.pdfdoc import PDFObject, PDFPage
from reportlab.pdfbase.pdfdoc import format as pdf_format
from reportlab.pdfgen.canvas import Canvas as _ReportLabCanvas


def flate(data: bytes | str) -> bytes:
    """``data`` Flate-compressed by ISA-L, at its level 2.

    A record's font subset is 265 KB of glyph outlines: compressing it with zlib took 8 ms
    at its default level and 3.2 ms at its fastest (level 1), the largest single cost of a
    record. ISA-L writes the same format (a reader decodes it as any Flate stream): at its
    level 2 in 0.6 ms, a little smaller than zlib's level 1 (measured in one process).
    """
    return isal_zlib.compress(data.encode("utf8") if isinstance(data, str) else data, 2)


def stream(dictionary: str, data: bytes) -> bytes:
    """A stream object's bytes as ReportLab writes them: its dictionary, then its data."""
    return b"".join((dictionary.encode("ascii"), b"\nstream\n", data, b"endstream\n"))


def flate_stream(document: Any, entries: str, data: bytes | str) -> bytes:
    """``data`` as a Flate-compressed stream (through the document's encryption), its
    dictionary the stream's own ``entries`` (keys in order, as ReportLab sorts them, all
    after ``/Filter`` and ``/Length``)."""
    encoded = document.encrypt.encode(flate(data))
    head = f"<< /Filter [ /FlateDecode ] /Length {len(encoded)}{' ' if entries else ''}{entries} >>"
    return stream(head, encoded)


class Jpeg(PDFObject):
    """A JPEG photo as a PDF image, its bytes copied in as they are (``DCTDecode``).

    What ReportLab's ``PDFImageXObject`` writes for a JPEG file.
    """

    def __init__(self, data: bytes, width: int, height: int, components: int) -> None:
        self.data, self.width, self.height = data, width, height
        #: a CMYK JPEG is decoded inverted, as ReportLab's Decode array for one says
        self.colour = {1: "/DeviceGray", 3: "/DeviceRGB"}.get(
            components, "/DeviceCMYK /Decode [ 1 0 1 0 1 0 1 0 ]"
        )

    def format(self, document: Any) -> bytes:
        data = document.encrypt.encode(self.data)
        return stream(
            f"<< /BitsPerComponent 8 /ColorSpace {self.colour} /Filter [ /DCTDecode ] "
            f"/Height {self.height} /Length {len(data)} /Subtype /Image /Type /XObject "
            f"/Width {self.width} >>",
            data,
        )


class FlateStream(PDFObject):
    """A stream compressed by ISA-L as the document is written (``entries``: its dictionary's
    own, after ``/Filter`` and ``/Length``)."""

    def __init__(self, data: bytes | str, entries: str = "") -> None:
        self.data, self.entries = data, entries

    def format(self, document: Any) -> bytes:
        return flate_stream(document, self.entries, self.data)


class PageStream(FlateStream):
    """A page's content stream, compressed by ISA-L as the font is (0.3 ms less a record
    than zlib's default level, measured in one process over 60 renders, twice)."""


class Page(PDFPage):
    """A page as ReportLab writes it, its dictionary and content stream written at once.

    The pages here use what the documents draw (the fonts, images as XObjects, compressed
    streams); a page with anything more (annotations, colour spaces, shadings, graphics
    states, a rotation) is written by ReportLab.
    """

    def format(self, document: Any) -> bytes:
        if (
            self.Annots
            or self.ExtGState
            or self._colorsUsed
            or getattr(self, "_shadingUsed", None)
            or not self.compression
            or self.Rotate not in (0, None)
        ):
            return super().format(document)  # type: ignore[no-any-return]
        contents = pdf_format(document.Reference(PageStream(self.stream)), document)
        parent = pdf_format(document.Reference(document.Pages), document)
        fonts = pdf_format(document.Reference(document.idToObject["BasicFonts"]), document)
        procs = "/PDF /Text /ImageB /ImageC /ImageI" if self.hasImages else "/PDF /Text"
        xobjects = b""
        if self.XObjects:
            xobjects = b" /XObject " + pdf_format(self.XObjects, document)
        return b"".join(
            (
                b"<< /Contents ",
                contents,
                f" /MediaBox [ 0 0 {fp_str(self.pagewidth, self.pageheight)} ] /Parent ".encode(),
                parent,
                b" /Resources << /Font ",
                fonts,
                f" /ProcSet [ {procs} ]".encode(),
                xobjects,
                b" >> /Rotate 0 /Type /Page >>",
            )
        )


class Canvas(_ReportLabCanvas):
    """ReportLab's canvas, its pages written by :class:`Page`."""

    def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
        super().showPage()
        self._doc.Pages.pages[-1].__class__ = Page
