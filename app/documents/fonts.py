"""The documents' CJK font: AR PL UMing, embedded in each PDF as one CID-keyed font.

ReportLab embeds a TrueType font as simple fonts of 256 glyphs each. It numbers every
character of the text into those subsets one by one in Python (``splitString``), switches
fonts wherever a line crosses from one subset to another, and writes each subset's own font
program, widths and ToUnicode map. A record uses some 460 distinct characters (two subsets)
and writes 6,500: the numbering alone took longer than the bare PDF of its photos spends on
its pages.

Here the font goes into a document once, as a Type 0 font (encoding ``/Identity-H``) over a
``CIDFontType2`` (PDF 32000-1 §9.7):

- A character's CID is its Unicode code point, so a line is encoded by Python's UTF-16 codec
  (two bytes a character, in C) and written as a hex string, one font for the whole text.
  The characters outside the Basic Multilingual Plane (and any lone surrogate) take codes
  from the surrogate range (U+D800 to U+DFFF), which no character has, one a character per
  document.
- The font program is ReportLab's subset (``makeSubset``) of the characters the document
  uses, in the order of their codes, so the same text always gives the same bytes; a
  ``/CIDToGIDMap`` stream maps each code to its glyph in the subset.
- ``/W`` gives each character the advance width the layout measured it with
  (:func:`app.documents.layout.measure`); ``/ToUnicode`` maps each code back to its
  character, so the text can be extracted, searched and copied.
"""

from __future__ import annotations

import hashlib
import re
import sys
from array import array
from collections.abc import Iterable
from itertools import repeat
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase.pdfdoc import PDFObject
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFontFace

from app.documents.objects import FlateStream

#: AR PL UMing (宋体 style), from Debian's fonts-arphic-uming: ``make fonts`` installs it.
DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/arphic/uming.ttc"
FONT_NAME = "ARPLUMing"
FONT_PACKAGE = "fonts-arphic-uming"

#: The characters a line cannot encode as themselves: outside the BMP, or lone surrogates.
_SPECIAL = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")
#: The codes they are given, one a character per document; the last (U+DFFF) is shared by
#: any beyond the 2,047th, and shows and reads as a missing glyph (U+FFFD).
_FIRST_SPECIAL, _LAST_SPECIAL = 0xD800, 0xDFFF
#: A ToUnicode map lists at most 100 codes a block (PDF 32000-1 §9.10.3).
_BLOCK = 100


class FontMissing(RuntimeError):
    """The CJK font the documents embed is not installed."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the documents' font AR PL UMing is missing: {path} does not exist; "
            f"install it with `make fonts` (Debian package {FONT_PACKAGE})"
        )
        self.path = path


class _Face(TTFontFace):
    """AR PL UMing's typeface, keeping its glyph table once read.

    ReportLab's subsetter reads the glyph table (``glyf``, 17 MB of AR PL UMing's 21) by
    slicing it out of the font file's bytes, a copy of the whole table for every subset
    (2.6 ms each); kept, it is copied once per process, at the cost of 17 MB of memory.
    """

    _glyf: bytes | None = None

    def get_table(self, tag: str) -> bytes:
        if tag != "glyf":
            return super().get_table(tag)  # type: ignore[no-any-return]
        if self._glyf is None:
            self._glyf = super().get_table(tag)
        return self._glyf


class _Bytes(PDFObject):
    """A PDF object written in full when the font is added to its document."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: Any) -> bytes:
        return self.data


class Text:
    """The font's text in one document: its resource name and the characters it uses."""

    def __init__(self, resource: str) -> None:
        #: the font's name in the pages' resources (``/F2``)
        self.resource = resource
        self.used: set[str] = set()
        #: the codes given to the characters a line cannot encode as themselves
        self.special: dict[str, str] = {}

    def encode(self, line: str) -> str:
        """``line`` as the hex codes of a text string in this font."""
        self.used.update(line)
        if _SPECIAL.search(line):
            line = _SPECIAL.sub(self._special, line)
        return line.encode("utf-16-be", "surrogatepass").hex()

    def _special(self, match: re.Match[str]) -> str:
        char = match.group()
        code = self.special.get(char)
        if code is None:
            code = chr(min(_FIRST_SPECIAL + len(self.special), _LAST_SPECIAL))
            self.special[char] = code
        return code

    def codes(self) -> dict[int, str]:
        """Each code used, in order, with its character (U+FFFD: none, or several)."""
        codes = {ord(self.special.get(char, char)): char for char in self.used}
        for char, code in self.special.items():
            if code == chr(_LAST_SPECIAL) or char < "\U00010000":
                codes[ord(code)] = "\ufffd"  # shared, or a lone surrogate
        return dict(sorted(codes.items()))


class CIDFont:
    """AR PL UMing, written into each document as one Type 0 font of the characters it uses."""

    def __init__(self, name: str, path: str) -> None:
        self.fontName = name  # noqa: N815 (ReportLab reads a delayed font's fontName)
        face = TTFontFace(path, validate=0, subfontIndex=0)
        face.__class__ = _Face  # the face ReportLab parsed, with its glyph table kept
        self.face = face
        self._texts: WeakKeyDictionary[Any, Text] = WeakKeyDictionary()

    def text(self, doc: Any) -> Text:
        """The font's :class:`Text` in ``doc`` (a ReportLab ``PDFDocument``); on first use it
        takes a resource name and is added to the document as the document is written."""
        text = self._texts.get(doc)
        if text is None:
            text = self._texts[doc] = Text(f"/F{len(doc.fontMapping) + 1}")
            doc.fontMapping[self.fontName] = text.resource
            doc.delayedFonts.append(self)
        return text

    def addObjects(self, doc: Any) -> None:  # noqa: N802 (ReportLab's name)
        """Add the font's objects to ``doc``, as ReportLab does its delayed fonts."""
        text = self._texts.pop(doc, None)
        if text is None:  # added already (the document written before)
            return
        codes = text.codes()
        face = self.face
        numbers = list(codes)
        chars = [ord(char) for char in codes.values()]
        originals = list(map(face.charToGlyph.get, chars, repeat(0)))
        # the subset numbers its glyphs as makeSubset does: .notdef first, then each glyph
        # as its first character comes, in the order of the codes
        glyphs = {0: 0}
        for glyph in originals:
            glyphs.setdefault(glyph, len(glyphs))
        gids = [0] * (max(numbers, default=0) + 1)
        for code, glyph in zip(numbers, originals, strict=True):
            gids[code] = glyphs[glyph]
        to_gid = _big_endian(gids)
        default = face.defaultWidth
        tag = _tag(codes)
        base = f"{tag}+{(face.name + face.subfontNameX).decode('latin-1')}"

        def ref(obj: PDFObject) -> str:
            return doc.Reference(obj).format(doc).decode("ascii")  # type: ignore[no-any-return]

        program = face.makeSubset(chars)
        descriptor = ref(
            _Bytes(
                f"<< /Ascent {fp_str(face.ascent)} /CapHeight {fp_str(face.capHeight)} "
                f"/Descent {fp_str(face.descent)} "
                f"/Flags {face.flags & ~FF_NONSYMBOLIC | FF_SYMBOLIC} "
                f"/FontBBox [ {fp_str(*face.bbox)} ] "
                f"/FontFile2 {ref(FlateStream(program, f'/Length1 {len(program)}'))} "
                f"/FontName /{base} /ItalicAngle {fp_str(face.italicAngle)} "
                f"/MissingWidth {fp_str(default)} /StemV {fp_str(face.stemV)} "
                f"/Type /FontDescriptor >>".encode("ascii")
            )
        )
        advances = [face.charWidths.get(char, default) for char in chars]
        descendant = ref(
            _Bytes(
                f"<< /BaseFont /{base} /CIDSystemInfo << /Ordering (Identity) "
                f"/Registry (Adobe) /Supplement 0 >> "
                f"/CIDToGIDMap {ref(FlateStream(to_gid))} /DW {fp_str(default)} "
                f"/FontDescriptor {descriptor} /Subtype /CIDFontType2 /Type /Font "
                f"/W [ {_widths(numbers, advances)} ] >>".encode("ascii")
            )
        )
        font = _Bytes(
            f"<< /BaseFont /{base} /DescendantFonts [ {descendant} ] /Encoding /Identity-H "
            f"/Name {text.resource} /Subtype /Type0 "
            f"/ToUnicode {ref(FlateStream(_to_unicode(codes)))} /Type /Font >>".encode("ascii")
        )
        doc.idToObject["BasicFonts"].dict[text.resource[1:]] = doc.Reference(font)


def _tag(codes: dict[int, str]) -> str:
    """The subset's tag (six capital letters, PDF 32000-1 §9.6.4), from the codes it has:
    the same text, the same tag; another subset, almost surely another."""
    digest = hashlib.sha256(b"".join(c.to_bytes(3, "big") for c in codes)).digest()
    return "".join(chr(65 + b % 26) for b in digest[:6])


def _widths(codes: list[int], advances: list[float]) -> str:
    """The ``/W`` array's entries: each run of consecutive codes, then its widths."""
    if not codes:
        return ""
    parts, last = [], -2
    for code, advance in zip(codes, fp_str(*advances).split(" "), strict=True):
        parts.append(advance if code == last + 1 else f"] {code} [ {advance}")
        last = code
    return " ".join(parts)[2:] + " ]"


def _to_unicode(codes: dict[int, str]) -> str:
    """The ToUnicode CMap of ``codes`` (two-byte codes, each mapped to its character)."""
    hexes = _big_endian(codes).hex().upper()
    entries = [
        f"<{hexes[4 * n : 4 * n + 4]}> "
        f"<{hexes[4 * n : 4 * n + 4] if ord(char) == code else _utf16(char)}>"
        for n, (code, char) in enumerate(codes.items())
    ]
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(entries), _BLOCK):
        block = entries[start : start + _BLOCK]
        lines += [f"{len(block)} beginbfchar", *block, "endbfchar"]
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines)


def _big_endian(numbers: Iterable[int]) -> bytes:
    """``numbers`` as unsigned 16-bit big-endian integers (as PDF's maps and CMaps write them)."""
    values = array("H", numbers)
    if sys.byteorder == "little":
        values.byteswap()
    return values.tobytes()


def _utf16(char: str) -> str:
    return char.encode("utf-16-be").hex().upper()


_fonts: dict[str, CIDFont] = {}
_paths: dict[str, str] = {}


def register_font(path: str = DEFAULT_FONT_PATH) -> str:
    """Load the CJK font at ``path`` once per process; return the name it is known by."""
    if path in _paths:
        return _paths[path]
    if not Path(path).is_file():
        raise FontMissing(path)
    name = FONT_NAME if not _paths else f"{FONT_NAME}{len(_paths)}"
    _fonts[name] = CIDFont(name, path)
    _paths[path] = name
    return name


def get_font(name: str) -> CIDFont:
    """The font :func:`register_font` loaded under ``name``."""
    return _fonts[name]
