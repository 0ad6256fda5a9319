"""Processing: safe decoding, EXIF evidence, orientation, thumbnails, perceptual hash."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image, JpegImagePlugin

from media.errors import MediaError
from media.evidence import (
    distance_m,
    exif_distance_m,
    exif_seconds_from,
    exif_taken_at,
    near_duplicates,
    seconds_apart,
)
from media.phash import NEAR_DUPLICATE_BITS, hamming, is_near_duplicate, phash
from media.processing import GPS, LARGE_SLACK, PHASH_VERSION, ExifInfo, process
from tests.media.media_samples import (
    HTML,
    SVG,
    bomb_png,
    encode,
    exif_bytes,
    jpeg,
    phash_v1,
    picture,
    png_chunk,
    with_app1,
    zip_bytes,
)


def test_jpeg_exif_evidence_is_extracted(write):
    result = process(write(jpeg()), max_pixels=10_000_000)
    assert result.content_type == "image/jpeg"
    assert (result.width, result.height) == (640, 480)
    assert result.exif is not None
    # No OffsetTimeOriginal: the camera clock is taken as China Standard Time (UTC+8).
    assert result.exif.taken_at == datetime(2026, 11, 20, 2, 15, tzinfo=UTC)
    assert result.exif.gps == GPS(
        lat=pytest.approx(31.2084722, abs=1e-6), lon=pytest.approx(121.4170139, abs=1e-6), alt=12.5
    )
    assert result.exif.make == "Apple"
    assert result.exif.model == "iPhone 15"
    assert result.exif.to_dict()["taken_at"] == "2026-11-20T02:15:00Z"


def test_exif_offset_time_overrides_the_default_zone(write):
    result = process(write(jpeg(offset="-05:00")))
    assert result.exif is not None
    assert result.exif.taken_at == datetime(2026, 11, 20, 15, 15, tzinfo=UTC)


def test_southern_western_and_below_sea_level_gps(write):
    result = process(write(jpeg(gps=(-33.8688, -70.25, -12.0))))
    assert result.exif is not None and result.exif.gps is not None
    assert result.exif.gps.lat == pytest.approx(-33.8688, abs=1e-4)
    assert result.exif.gps.lon == pytest.approx(-70.25, abs=1e-4)
    assert result.exif.gps.alt == -12.0


def test_photo_without_exif_has_null_exif(write):
    result = process(write(jpeg(no_exif=True)))
    assert result.exif is None


@pytest.mark.parametrize("orientation", [6, 8, 5, 7])
def test_exif_orientation_is_applied_to_size_and_thumbnails(write, orientation):
    im = picture((800, 400))
    # Mark the stored top-left corner so the rotation can be checked in the thumbnail.
    im.paste((255, 0, 0), (0, 0, 200, 100))
    data = encode(im, "JPEG", exif=exif_bytes(orientation=orientation), quality=95)
    result = process(write(data))
    assert (result.width, result.height) == (400, 800)
    large = Image.open(io.BytesIO(result.thumbnails["large"]))
    assert large.size == (400, 800)


def test_orientation_3_keeps_dimensions_and_flips_content(write):
    im = Image.new("RGB", (400, 200), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 100, 50))
    result = process(write(encode(im, "JPEG", exif=exif_bytes(orientation=3), quality=95)))
    assert (result.width, result.height) == (400, 200)
    small = Image.open(io.BytesIO(result.thumbnails["small"])).convert("RGB")
    r, g, b = small.getpixel((small.width - 5, small.height - 5))
    assert r > 200 and b < 60  # the red corner is now bottom-right


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(6, "top-right"), (8, "bottom-left"), (5, "top-left"), (7, "bottom-right")],
)
def test_a_sideways_12mp_photo_gets_upright_thumbnails_of_both_sizes(write, orientation, corner):
    """Stored 4000×3000 with a red block top-left, as a phone held upright stores it."""
    im = Image.new("RGB", (4000, 3000), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 800, 600))
    data = encode(im, "JPEG", exif=exif_bytes(orientation=orientation), quality=90)
    result = process(write(data))
    assert (result.width, result.height) == (3000, 4000)
    # The large one is the photo as libjpeg decoded it at half scale (within LARGE_SLACK).
    expected_sizes = {"small": (240, 320), "large": (1500, 2000)}
    for name, size in expected_sizes.items():
        thumb = Image.open(io.BytesIO(result.thumbnails[name])).convert("RGB")
        assert thumb.size == size
        w, h = thumb.size
        corners = {
            "top-left": (w // 20, h // 20),
            "top-right": (w - w // 20, h // 20),
            "bottom-left": (w // 20, h - h // 20),
            "bottom-right": (w - w // 20, h - h // 20),
        }
        for where, xy in corners.items():
            r, _g, b = thumb.getpixel(xy)
            assert (r > 200 and b < 60) == (where == corner), (name, where, thumb.getpixel(xy))


def _hash_samples() -> list[bytes]:
    """Photos of several scenes, sizes, orientations and types: what the hash must be stable on."""
    samples = []
    for seed in range(6):
        size = ((2400, 1800), (1600, 1200), (2000, 1500))[seed % 3]
        for orientation in (1, 3, 6, 8):
            exif = exif_bytes(orientation=orientation)
            samples.append(encode(picture(size, seed), "JPEG", exif=exif, quality=90))
        samples.append(encode(picture((900, 700), seed), "PNG"))
    return samples


def test_phash_version_5_lies_within_two_bits_of_version_1_on_sample_photos(write):
    """Photos hashed under version 1 still pair with copies hashed now (see PHASH_VERSION)."""
    assert PHASH_VERSION == 5
    distances = [hamming(process(write(data)).phash, phash_v1(data)) for data in _hash_samples()]
    assert max(distances) <= 2 < NEAR_DUPLICATE_BITS
    assert distances.count(0) >= len(distances) * 3 // 4  # mostly the very same value


def test_thumbnails_are_stripped_jpegs_of_the_requested_sizes(write):
    result = process(write(jpeg((2400, 1800))), thumb_sizes=(320, 1600))
    assert set(result.thumbnails) == {"small", "large"}
    for name, side in (("small", 320), ("large", 1600)):
        thumb = Image.open(io.BytesIO(result.thumbnails[name]))
        assert thumb.format == "JPEG"
        assert max(thumb.size) == side
        assert "exif" not in thumb.info
        assert not thumb.getexif()
        assert "icc_profile" not in thumb.info


def test_small_photo_is_not_enlarged(write):
    result = process(write(jpeg((200, 100))))
    assert Image.open(io.BytesIO(result.thumbnails["large"])).size == (200, 100)


def test_jpeg_thumbnails_use_draft_mode(write, monkeypatch):
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        chosen = original(self, mode, size)
        calls.append((mode, size, self.size))
        return chosen

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    result = process(write(jpeg((4000, 3000))), max_pixels=20_000_000)
    assert calls and calls[0][0] == "RGB"
    # libjpeg decoded at half scale: 2000×1500 instead of 4000×3000.
    assert calls[0][2] == (2000, 1500)
    assert (result.width, result.height) == (4000, 3000)
    # ... and that is the large thumbnail, not resampled again (2000 <= 1600 × LARGE_SLACK).
    assert Image.open(io.BytesIO(result.thumbnails["large"])).size == (2000, 1500)
    assert max(Image.open(io.BytesIO(result.thumbnails["small"])).size) == 320


def test_a_large_thumbnail_is_resampled_beyond_the_slack(write):
    assert 2000 <= 1600 * LARGE_SLACK < 2100
    wide = process(write(jpeg((2100, 1400))))  # no DCT scale reaches 1600; 2100 > 2080
    assert Image.open(io.BytesIO(wide.thumbnails["large"])).size == (1600, 1067)
    within = process(write(jpeg((2080, 1560))))
    assert Image.open(io.BytesIO(within.thumbnails["large"])).size == (2080, 1560)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_other_formats_with_exif(write, fmt):
    data = encode(picture((320, 240)), fmt, exif=exif_bytes(orientation=6))
    result = process(write(data))
    assert (
        result.content_type == {"PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}[fmt]
    )
    assert (result.width, result.height) == (240, 320)
    assert result.exif is not None
    assert result.exif.make == "Apple"
    assert result.exif.taken_at == datetime(2026, 11, 20, 2, 15, tzinfo=UTC)
    assert result.exif.gps is not None
    assert len(result.phash) == 16


def test_transparent_png_is_flattened(write):
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    result = process(write(encode(im, "PNG")))
    thumb = Image.open(io.BytesIO(result.thumbnails["small"]))
    assert thumb.mode == "RGB"
    assert thumb.getpixel((50, 50)) == pytest.approx((255, 255, 255), abs=2)


def test_decompression_bomb_is_refused_before_decoding(write):
    with pytest.raises(MediaError) as caught:
        process(write(bomb_png()), max_pixels=50_000_000)
    assert caught.value.code == "media.too_large_pixels"
    assert caught.value.status == 422


@pytest.mark.parametrize("side", [10_000, 14_000])
def test_pillow_warning_zone_becomes_a_media_error(write, side):
    # 100 and 196 megapixels: above Pillow's warning limit, below and above its error limit.
    with pytest.raises(MediaError) as caught:
        process(write(bomb_png(side, side)), max_pixels=50_000_000)
    assert caught.value.code == "media.too_large_pixels"


def test_own_pixel_limit_applies_below_pillows(write):
    with pytest.raises(MediaError) as caught:
        process(write(jpeg((1000, 800))), max_pixels=500_000)
    assert caught.value.code == "media.too_large_pixels"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_corrupt(write, fmt):
    data = encode(picture((640, 480)), fmt)
    with pytest.raises(MediaError) as caught:
        process(write(data[: len(data) // 2]))
    assert caught.value.code == "media.corrupt"


def test_header_only_jpeg_is_corrupt(write):
    with pytest.raises(MediaError) as caught:
        process(write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
    assert caught.value.code == "media.corrupt"


def test_png_with_bad_crc_is_corrupt(write):
    data = bytearray(encode(picture((64, 64)), "PNG"))
    data[40] ^= 0xFF  # inside the IDAT chunk
    with pytest.raises(MediaError) as caught:
        process(write(bytes(data)))
    assert caught.value.code == "media.corrupt"


@pytest.mark.parametrize("data", [HTML, SVG, zip_bytes(), b"GIF89a" + b"\x00" * 40])
def test_non_photos_named_jpg_are_unsupported(write, data):
    with pytest.raises(MediaError) as caught:
        process(write(data, "IMG_0001.jpg"))
    assert caught.value.code == "media.unsupported_type"


def test_empty_file_is_refused(write):
    with pytest.raises(MediaError) as caught:
        process(write(b""))
    assert caught.value.code == "media.empty"


@pytest.mark.parametrize(
    "payload",
    [
        b"Exif\x00\x00" + b"\xde\xad\xbe\xef" * 10,
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # IFD offset far past the end
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02\xff\xff\xff\xff",
        b"Exif\x00\x00",
    ],
)
def test_malformed_exif_keeps_the_photo_with_null_fields(write, payload):
    result = process(write(with_app1(jpeg(no_exif=True), payload)))
    assert (result.width, result.height) == (640, 480)
    assert result.thumbnails["small"]
    # An EXIF block was sent, so this is not "no EXIF": every field is simply unknown.
    assert result.exif == ExifInfo(taken_at=None, gps=None, make=None, model=None)


def test_impossible_exif_values_become_null(write):
    data = jpeg(taken="0000:00:00 00:00:00", gps=(0.0, 0.0, None), make="\x00\x00  ")
    result = process(write(data))
    assert result.exif is not None
    assert result.exif.taken_at is None
    assert result.exif.gps is None  # 0,0 is what phones write without a fix
    assert result.exif.make is None
    assert result.exif.model == "iPhone 15"


def test_zero_denominator_gps_is_null(write):
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    from PIL.TiffImagePlugin import IFDRational

    gps[1] = "N"
    gps[2] = (IFDRational(31, 0), IFDRational(0, 1), IFDRational(0, 1))
    gps[3] = "E"
    gps[4] = (IFDRational(121, 1), IFDRational(0, 1), IFDRational(0, 1))
    result = process(write(encode(picture(), "JPEG", exif=exif.tobytes())))
    assert result.exif is not None
    assert result.exif.gps is None


def test_png_with_exif_chunk_garbage(write):
    data = encode(picture((64, 64)), "PNG")
    iend = data.rindex(b"IEND") - 4
    data = data[:iend] + png_chunk(b"eXIf", b"garbage!") + data[iend:]
    result = process(write(data))
    assert result.exif == ExifInfo()


def test_near_duplicate_photos_have_close_hashes(write):
    original = picture((1600, 1200), seed=7)
    copy = original.resize((640, 480), Image.Resampling.BILINEAR)
    a = process(write(encode(original, "JPEG", quality=92)))
    b = process(write(encode(copy, "JPEG", quality=55)))
    c = process(write(encode(copy, "WEBP", quality=40)))
    other = process(write(encode(picture((1600, 1200), seed=8), "JPEG", quality=92)))
    assert hamming(a.phash, b.phash) <= 6
    assert hamming(a.phash, c.phash) <= 8
    assert is_near_duplicate(a.phash, b.phash)
    assert hamming(a.phash, other.phash) > 16
    assert not is_near_duplicate(a.phash, other.phash)


def test_phash_is_deterministic_hex():
    im = picture()
    assert phash(im) == phash(im.copy())
    assert len(phash(im)) == 16 and int(phash(im), 16) >= 0


def test_hamming_rejects_malformed_hashes():
    assert hamming("0" * 16, "f" * 16) == 64
    with pytest.raises(ValueError):
        hamming("abc", "0" * 16)


def test_evidence_distances():
    # 长宁区政府 to 中山公园 is about 1.3 km.
    assert distance_m(31.2204, 121.4243, 31.2230, 121.4110) == pytest.approx(1300, rel=0.1)
    assert distance_m(31.2, 121.4, 31.2, 121.4) == 0
    t1 = datetime(2026, 1, 1, tzinfo=UTC)
    t2 = datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert seconds_apart(t1, t2) == seconds_apart(t2, t1) == 3600


def test_evidence_from_stored_exif_json(write):
    result = process(write(jpeg()))
    assert result.exif is not None
    stored = result.exif.to_dict()
    assert exif_taken_at(stored) == datetime(2026, 11, 20, 2, 15, tzinfo=UTC)
    check_in = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert exif_seconds_from(stored, check_in) == 900
    assert exif_distance_m(stored, 31.2084722, 121.4170139) == pytest.approx(0, abs=0.5)
    assert exif_distance_m(stored, 31.2184722, 121.4170139) == pytest.approx(1112, rel=0.01)
    for empty in (None, {}, {"taken_at": None, "gps": None}, {"taken_at": "garbage"}):
        assert exif_taken_at(empty) is None
        assert exif_seconds_from(empty, check_in) is None
        assert exif_distance_m(empty, 31.2, 121.4) is None


def test_near_duplicates_ranks_close_hashes():
    target = "867f790079868679"
    close = f"{int(target, 16) ^ 0b101:016x}"
    far = f"{int(target, 16) ^ (2**40 - 1):016x}"
    found = near_duplicates(target, [("a", far), ("b", close), ("c", target)])
    assert found == [("c", 0), ("b", 2)]
