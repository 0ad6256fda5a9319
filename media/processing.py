"""Decode a photo safely, read its EXIF evidence, make thumbnails and a perceptual hash.

Safety rules:

* The type comes from :mod:`media.sniff`; Pillow is only allowed the one decoder that matches.
* The pixel count is checked from the header before any pixel is decoded; Pillow's own
  decompression-bomb guard is turned into :class:`MediaError` too, and its warning never escapes.
* A truncated or otherwise undecodable file is ``media.corrupt``; nothing is half-accepted.
* Broken EXIF never refuses the photo: the affected fields are simply ``None``.

Time zone assumption: EXIF ``DateTimeOriginal`` is the camera's wall-clock time with no zone.
When ``OffsetTimeOriginal`` (or ``OffsetTime``) is present it is used; otherwise the time is
taken to be China Standard Time (UTC+08:00, Asia/Shanghai, no daylight saving), because the
devices this system serves are set to it. Pass ``default_utc_offset`` to change that.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from PIL import Image

from media.errors import MediaError
from media.phash import hamming, is_near_duplicate, phash
from media.sniff import HEIC, HEIF, JPEG, PILLOW_FORMATS, sniff_path
from media.text import _l

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_THUMB_SIZES",
    "LARGE_SLACK",
    "ExifInfo",
    "GPS",
    "PHASH_VERSION",
    "ProcessedImage",
    "hamming",
    "is_near_duplicate",
    "process",
]

#: 50 megapixels: above any phone camera's full resolution, far below a bomb.
DEFAULT_MAX_PIXELS = 50_000_000
#: Longest side in pixels of the small and the large thumbnail.
DEFAULT_THUMB_SIZES: tuple[int, int] = (320, 1600)
#: China Standard Time; see the module docstring.
CHINA_STANDARD_TIME = timedelta(hours=8)
THUMB_QUALITY = 85
#: Which pipeline made a perceptual hash (stored with it). The hash function
#: (:func:`media.phash.phash`) is the same; what it is fed changed:
#: 1 (until 2026-12): the small thumbnail, bicubic from the large, itself bicubic from the
#: decoded photo turned upright first; 2: the same sizes by bilinear, turned upright after the
#: large one is made; 3: the same by box (area) averaging; 4: the same, the small one first
#: reduced by the whole factor (``_REDUCING_GAP``). One photo's hashes under 1 and 4 lie
#: within 2 bits on the test samples (``tests/media/test_media_processing.py``), far under
#: ``NEAR_DUPLICATE_BITS``: photos hashed under 1, 2 or 3 still pair with their copies hashed
#: under 4, and no stored hash is rewritten. 5: the same, but from a large thumbnail that is
#: the decoded photo itself when it is within ``LARGE_SLACK`` (a 12-MP photo's 2000×1500):
#: the small one is then averaged down from that instead of from a resampled 1600×1200.
PHASH_VERSION = 5
#: The largest thumbnail is the decoded photo as it is, not resampled, when its longest side is
#: at most this many times the thumbnail's. libjpeg's DCT scaling (1/2, 1/4, 1/8) has already
#: shrunk it cleanly, and resampling a 12-MP photo's 2000×1500 to 1600×1200 took 17 of the 61
#: ms of its processing here. So a 12-MP (or 48-MP) phone photo's large thumbnail is 2000 or
#: 2016 px on its long side, an 8-MP one's 1632; one that decodes to more than 2080 px (a 24-MP
#: photo's 3000) is resampled to 1600 as before.
LARGE_SLACK = 1.3
#: Resampling for the thumbnails: box, each output pixel the average of the input pixels it
#: covers. Every step shrinks (by 1.25× or more), where the average is what the eye sees and
#: costs two thirds of bilinear's resize (29 against 41 ms from 2000×1500 to 1600×1200 here).
_RESAMPLE = Image.Resampling.BOX
#: A shrink by a factor of 2 or more first averages whole blocks of that factor (Pillow's
#: ``reduce``, a box average itself), then resamples what is left. From a 1600×1200 large
#: thumbnail the small one is exactly 1/5 (320×240): a 5×5 block average alone, the same
#: pixels as the box resampling to within 1 of 255, in a third of its time (1.1 against 3.0 ms
#: with Pillow's default gap of 2, which reduced by 2 and resampled 2.5). From a 12-MP photo's
#: 2000×1500 (``LARGE_SLACK``) it is a 6×6 average and a short box resampling.
_REDUCING_GAP = 1.0
#: EXIF orientation → the transpose that makes the picture upright (EXIF 2.32, tag 0x0112).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_ORIENTATION = 0x0112
_IFD_EXIF = 0x8769
_IFD_GPS = 0x8825
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_DATETIME_DIGITIZED = 0x9004
_TAG_OFFSET_TIME = 0x9010
_TAG_OFFSET_TIME_ORIGINAL = 0x9011
_TAG_OFFSET_TIME_DIGITIZED = 0x9012

_EXIF_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")

_heif_registered = False


@dataclass(frozen=True)
class GPS:
    """Where the camera says it was: WGS-84 degrees and metres above sea level."""

    lat: float
    lon: float
    alt: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON shape ``{lat, lon, alt}``."""
        return {"lat": self.lat, "lon": self.lon, "alt": self.alt}


@dataclass(frozen=True)
class ExifInfo:
    """The EXIF evidence of a photo; each field is ``None`` when absent or unreadable."""

    taken_at: datetime | None = None
    gps: GPS | None = None
    make: str | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape ``{taken_at, gps, make, model}`` with an RFC 3339 UTC time."""
        return {
            "taken_at": self.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.taken_at else None,
            "gps": self.gps.to_dict() if self.gps else None,
            "make": self.make,
            "model": self.model,
        }


@dataclass
class ProcessedImage:
    """What processing learned about a photo, plus its stripped JPEG thumbnails."""

    content_type: str
    width: int
    height: int
    exif: ExifInfo | None
    phash: str
    thumbnails: dict[str, bytes] = field(default_factory=dict)
    phash_version: int = PHASH_VERSION


def process(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    thumb_sizes: Sequence[int] | Mapping[str, int] = DEFAULT_THUMB_SIZES,
    content_type: str | None = None,
    default_utc_offset: timedelta = CHINA_STANDARD_TIME,
) -> ProcessedImage:
    """Validate and process the photo at ``path``; raise MediaError when it is refused.

    ``thumb_sizes`` maps thumbnail names to their longest side; a plain pair of sizes is
    named ``small`` and ``large``. ``content_type`` skips sniffing when the caller already did.
    """
    sizes = thumbnail_names(thumb_sizes)
    ctype = content_type or sniff_path(path)
    if ctype not in PILLOW_FORMATS:
        raise MediaError(
            "media.unsupported_type", _l("%(type)s is not an accepted photo type.", type=ctype)
        )
    if ctype in (HEIC, HEIF):
        _register_heif()

    with open(path, "rb") as fp:
        im = _open(fp, ctype, max_pixels)
        with im:
            raw_width, raw_height = im.size
            orientation = _orientation(im)
            exif = _read_exif(im, default_utc_offset)
            if ctype == JPEG and sizes:
                # Decode at 1/2, 1/4 or 1/8 scale inside libjpeg (DCT scaling), to the least
                # that still covers the largest thumbnail: the photo is decoded once, here.
                im.draft("RGB", _fit((raw_width, raw_height), max(sizes.values())))
            _load(im)
            base = _flatten(im)

    swapped = orientation in (5, 6, 7, 8)
    width, height = (raw_height, raw_width) if swapped else (raw_width, raw_height)

    thumbnails: dict[str, bytes] = {}
    current = base
    upright = False
    # Largest first, each from the previous. The largest is resampled from the decoded
    # image as stored (unless it is within LARGE_SLACK) and only then turned upright: rotating
    # a thumbnail costs a fraction of rotating the decoded photo, and the result is the same
    # picture.
    for n, (name, side) in enumerate(sorted(sizes.items(), key=lambda kv: -kv[1])):
        target = _fit(current.size, side)
        if n == 0 and max(current.size) <= side * LARGE_SLACK:
            target = current.size
        if target != current.size:
            current = current.resize(target, _RESAMPLE, reducing_gap=_REDUCING_GAP)
        if not upright:
            current, upright = _turn(current, orientation), True
        thumbnails[name] = _encode_jpeg(current)
    if not upright:
        current = _turn(current, orientation)
    return ProcessedImage(
        content_type=ctype,
        width=width,
        height=height,
        exif=exif,
        phash=phash(current),
        thumbnails=thumbnails,
    )


def thumbnail_names(thumb_sizes: Sequence[int] | Mapping[str, int]) -> dict[str, int]:
    """Name thumbnail sizes: a mapping is kept, a pair becomes small/large, others their size."""
    if isinstance(thumb_sizes, Mapping):
        return dict(thumb_sizes)
    ordered = sorted(int(s) for s in thumb_sizes)
    if len(ordered) == 2:
        return {"small": ordered[0], "large": ordered[1]}
    return {str(s): s for s in ordered}


def _register_heif() -> None:
    """Teach Pillow to open HEIC; done on first use so importing media stays cheap."""
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _open(fp: io.BufferedReader, ctype: str, max_pixels: int) -> Image.Image:
    """Open the header only, refusing bombs before a single pixel is decoded."""
    try:
        with _quiet_pillow():
            im = Image.open(fp, formats=PILLOW_FORMATS[ctype])
    except Image.DecompressionBombError as exc:
        raise _too_large(max_pixels) from exc
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError) as exc:
        raise MediaError(
            "media.corrupt", _l("The photo could not be read; it may be damaged. Take it again.")
        ) from exc
    width, height = im.size
    if width <= 0 or height <= 0:
        im.close()
        raise MediaError("media.corrupt", _l("The photo has no pixels."))
    if width * height > max_pixels:
        im.close()
        raise _too_large(max_pixels, width, height)
    return im


@contextlib.contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Keep Pillow's data warnings from escaping; the outcome is decided by our own checks.

    Pillow warns about huge images (our pixel limit decides instead) and about corrupt
    EXIF (we keep the photo with null fields). Under ``-W error`` those warnings would
    otherwise surface as exceptions in the middle of decoding.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _too_large(max_pixels: int, width: int | None = None, height: int | None = None) -> MediaError:
    if width:
        message = _l(
            "The photo is too large (%(width)s×%(height)s); at most %(max)s pixels are accepted.",
            width=width,
            height=height,
            max=f"{max_pixels:,}",
        )
    else:
        message = _l(
            "The photo is too large; at most %(max)s pixels are accepted.", max=f"{max_pixels:,}"
        )
    return MediaError("media.too_large_pixels", message)


def _load(im: Image.Image) -> None:
    """Decode the pixels, turning every decoder failure into ``media.corrupt``."""
    try:
        with _quiet_pillow():
            im.load()
    except Image.DecompressionBombError as exc:
        raise MediaError("media.too_large_pixels", _l("The photo is too large.")) from exc
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError) as exc:
        raise MediaError(
            "media.corrupt",
            _l("The photo is incomplete or damaged; upload it again from the device."),
        ) from exc


def _orientation(im: Image.Image) -> int:
    try:
        with _quiet_pillow():
            value = im.getexif().get(_TAG_ORIENTATION, 1)
        value = int(value)
    except Exception:  # malformed EXIF never refuses a photo
        return 1
    return value if 1 <= value <= 8 else 1


def _turn(im: Image.Image, orientation: int) -> Image.Image:
    """Return ``im`` turned upright for its EXIF ``orientation`` (1: as it is)."""
    method = _UPRIGHT.get(orientation)
    return im if method is None else im.transpose(method)


def _flatten(im: Image.Image) -> Image.Image:
    """Convert to 8-bit RGB, compositing transparency onto white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        # Scale 16-bit grey down to 8 bits instead of clipping it to white.
        im = im.point(lambda v: v / 256) if im.mode.startswith("I;16") else im
        return im.convert("L").convert("RGB")
    return im.convert("RGB")


def _encode_jpeg(im: Image.Image) -> bytes:
    """Encode a thumbnail as baseline JPEG with no EXIF, XMP or ICC metadata."""
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=THUMB_QUALITY)
    return out.getvalue()


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """Return ``size`` scaled to fit in a ``side``×``side`` box (never enlarged)."""
    w, h = size
    scale = min(1.0, side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


# --------------------------------------------------------------------------- EXIF


def _read_exif(im: Image.Image, default_utc_offset: timedelta) -> ExifInfo | None:
    """Return the photo's EXIF evidence, or None when it carries no EXIF at all."""
    if not im.info.get("exif"):
        return None
    with _quiet_pillow():
        try:
            exif = im.getexif()
        except Exception:  # malformed EXIF: keep the photo, report nothing
            return ExifInfo()
        return ExifInfo(
            taken_at=_guard(lambda: _taken_at(exif, default_utc_offset)),
            gps=_guard(lambda: _gps(exif)),
            make=_guard(lambda: _text(exif.get(_TAG_MAKE))),
            model=_guard(lambda: _text(exif.get(_TAG_MODEL))),
        )


def _guard(read: Any) -> Any:
    try:
        return read()
    except Exception:  # one unreadable field must not hide the others
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text[:128] or None


def _taken_at(exif: Image.Exif, default_utc_offset: timedelta) -> datetime | None:
    ifd = exif.get_ifd(_IFD_EXIF)
    for tag, offset_tag in (
        (_TAG_DATETIME_ORIGINAL, _TAG_OFFSET_TIME_ORIGINAL),
        (_TAG_DATETIME_DIGITIZED, _TAG_OFFSET_TIME_DIGITIZED),
    ):
        text = _text(ifd.get(tag))
        if not text:
            continue
        match = _EXIF_DATETIME.match(text)
        if not match:
            continue
        try:
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            local = datetime(year, month, day, hour, minute, second)  # zone attached below
        except ValueError:  # "0000:00:00 00:00:00" and other impossible dates
            continue
        offset = _offset(ifd.get(offset_tag)) or _offset(ifd.get(_TAG_OFFSET_TIME))
        zone = timezone(offset if offset is not None else default_utc_offset)
        return local.replace(tzinfo=zone).astimezone(UTC)
    return None


def _offset(value: Any) -> timedelta | None:
    text = _text(value)
    if not text:
        return None
    match = _EXIF_OFFSET.match(text)
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14):
        return None
    return -delta if sign == "-" else delta


def _gps(exif: Image.Exif) -> GPS | None:
    gps = exif.get_ifd(_IFD_GPS)
    if not gps:
        return None
    lat = _degrees(gps.get(2), gps.get(1), "N", "S")
    lon = _degrees(gps.get(4), gps.get(3), "E", "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:  # what devices write when they had no fix
        return None
    alt = _rational(gps.get(6))
    if alt is not None:
        ref = gps.get(5)
        if isinstance(ref, bytes):
            ref = ref[:1] == b"\x01"
        if ref in (1, True):
            alt = -alt
        if not -1000 <= alt <= 10000:
            alt = None
    return GPS(lat=round(lat, 7), lon=round(lon, 7), alt=None if alt is None else round(alt, 2))


def _degrees(value: Any, ref: Any, positive: str, negative: str) -> float | None:
    if value is None:
        return None
    parts = list(value) if isinstance(value, tuple | list) else [value]
    numbers = [_rational(p) for p in parts[:3]]
    if not numbers or any(n is None for n in numbers):
        return None
    d, m, s = ([*numbers, 0.0, 0.0])[:3]
    assert d is not None and m is not None and s is not None
    degrees = d + m / 60 + s / 3600
    ref_text = _text(ref)
    if ref_text and ref_text.upper().startswith(negative):
        degrees = -degrees
    elif ref_text and not ref_text.upper().startswith(positive):
        return None
    return degrees


def _rational(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number
