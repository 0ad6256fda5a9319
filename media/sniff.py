"""Detect a photo's real type from its first bytes.

The filename and the client's Content-Type are never consulted: a file is what its
magic bytes say it is. Only the four photo formats field devices produce are accepted.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from media.errors import MediaError
from media.text import _l

#: How many leading bytes :func:`sniff_path` reads; enough for any ftyp box we accept.
SNIFF_BYTES = 64

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
HEIC = "image/heic"
HEIF = "image/heif"

#: Accepted content types mapped to the Pillow format names allowed to decode them.
PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    JPEG: ("JPEG",),
    PNG: ("PNG",),
    WEBP: ("WEBP",),
    HEIC: ("HEIF",),
    HEIF: ("HEIF",),
}

# ftyp brands of HEVC-coded HEIF (what iPhones and most Android phones write).
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
# Generic HEIF structure brands; accepted as image/heif unless the file says it is AVIF.
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str:
    """Return the content type of a photo from its leading bytes or raise MediaError."""
    if not head:
        raise MediaError("media.empty", _l("The upload is empty; send the photo's bytes."))
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    heif = _sniff_heif(head)
    if heif is not None:
        return heif
    raise MediaError(
        "media.unsupported_type",
        _l(
            "This file is not a photo we accept (%(kind)s); send JPEG, PNG, WebP or HEIC.",
            kind=_describe(head),
        ),
    )


def sniff_file(fp: BinaryIO) -> str:
    """Sniff an open binary file from its start, leaving the position at 0."""
    fp.seek(0)
    head = fp.read(SNIFF_BYTES)
    fp.seek(0)
    return sniff(head)


def sniff_path(path: str | os.PathLike[str]) -> str:
    """Sniff the file at ``path``."""
    with open(path, "rb") as fp:
        return sniff(fp.read(SNIFF_BYTES))


def _sniff_heif(head: bytes) -> str | None:
    # ISO BMFF: [size:4][b"ftyp"][major brand:4][minor version:4][compatible brands:4*n]
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[:4], "big")
    if box_size < 16:
        return None
    end = min(box_size, len(head))
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if major in _AVIF_BRANDS:
        return None
    if brands & _HEIC_BRANDS:
        return HEIC
    if brands & _HEIF_BRANDS and not brands & _AVIF_BRANDS:
        return HEIF
    return None


def _describe(head: bytes) -> str:
    """Name what the bytes look like, for a message a field worker can act on."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "HTML"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    if text.startswith(b"<"):
        return _l("XML or HTML")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return _l("a zip archive")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"%PDF":
        return "PDF"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _l("an unsupported ISO media file")
    return _l("an unknown format")
