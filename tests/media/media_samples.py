"""Build real photos (and hostile non-photos) in memory for the media tests."""

from __future__ import annotations

import io
import random
import struct
import zlib
from datetime import datetime

from PIL import Image, ImageDraw


def picture(size: tuple[int, int] = (640, 480), seed: int = 1) -> Image.Image:
    """Draw a deterministic scene with enough structure for a perceptual hash to see."""
    rng = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(im)
    for _ in range(24):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 8, w // 2), y0 + rng.randrange(h // 8, h // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    return im


def exif_bytes(
    *,
    taken: str | None = "2026:11:20 10:15:00",
    offset: str | None = None,
    gps: tuple[float, float, float | None] | None = (31.2084722, 121.4170139, 12.5),
    make: str | None = "Apple",
    model: str | None = "iPhone 15",
    orientation: int | None = None,
) -> bytes:
    """Encode an EXIF block with the given evidence fields."""
    exif = Image.Exif()
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if orientation is not None:
        exif[0x0112] = orientation
    if taken is not None or offset is not None:
        ifd = exif.get_ifd(0x8769)
        if taken is not None:
            ifd[0x9003] = taken
        if offset is not None:
            ifd[0x9011] = offset
    if gps is not None:
        lat, lon, alt = gps
        g = exif.get_ifd(0x8825)
        g[1] = "N" if lat >= 0 else "S"
        g[2] = _dms(abs(lat))
        g[3] = "E" if lon >= 0 else "W"
        g[4] = _dms(abs(lon))
        if alt is not None:
            g[5] = b"\x00" if alt >= 0 else b"\x01"
            g[6] = abs(alt)
    return exif.tobytes()


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (float(degrees), float(minutes), seconds)


def encode(im: Image.Image, fmt: str, *, exif: bytes | None = None, **options: object) -> bytes:
    """Encode ``im`` in ``fmt`` (JPEG, PNG, WEBP, HEIF), optionally with an EXIF block."""
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    out = io.BytesIO()
    if exif is not None:
        options["exif"] = exif
    im.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (640, 480), seed: int = 1, **exif: object) -> bytes:
    """A JPEG photo with EXIF (pass ``no_exif=True`` for none)."""
    if exif.pop("no_exif", False):
        return encode(picture(size, seed), "JPEG", quality=90)
    return encode(picture(size, seed), "JPEG", exif=exif_bytes(**exif), quality=90)  # type: ignore[arg-type]


def with_app1(jpeg_bytes: bytes, payload: bytes) -> bytes:
    """Insert a raw APP1 segment right after SOI (for malformed EXIF)."""
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg_bytes[:2] + segment + jpeg_bytes[2:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """Encode one PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose IHDR declares an enormous canvas."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def zip_bytes() -> bytes:
    """A small zip archive."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("photo.jpg", b"not really")
    return out.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'


def exif_time(text: str) -> datetime:
    """Parse an RFC 3339 'Z' time for assertions."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def phash_v1(data: bytes, sizes: tuple[int, int] = (320, 1600)) -> str:
    """The perceptual hash as pipeline version 1 made it (before 2026-12), written out here.

    Decode in draft mode, turn upright, bicubic to the large size, bicubic from it to the small
    one, hash that: the reference the stored version-1 hashes were computed by.
    """
    from PIL import ImageOps

    from media.phash import phash

    small, large = sizes
    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            scale = min(1.0, large / max(im.size))
            im.draft("RGB", (round(im.width * scale), round(im.height * scale)))
        im.load()
        current = (ImageOps.exif_transpose(im) or im).convert("RGB")
    for side in (large, small):
        scale = min(1.0, side / max(current.size))
        target = (max(1, round(current.width * scale)), max(1, round(current.height * scale)))
        if target != current.size:
            current = current.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return phash(current)
