"""Type sniffing trusts bytes only."""

from __future__ import annotations

import pytest

from media.errors import MediaError
from media.sniff import HEIC, JPEG, PNG, WEBP, sniff, sniff_path
from tests.media.media_samples import HTML, SVG, bomb_png, encode, jpeg, picture, zip_bytes


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (lambda: jpeg(no_exif=True), JPEG),
        (lambda: encode(picture(), "PNG"), PNG),
        (lambda: encode(picture(), "WEBP"), WEBP),
        (lambda: encode(picture((64, 48)), "HEIF"), HEIC),
        (lambda: bomb_png(), PNG),
    ],
)
def test_sniff_recognises_photo_formats(data, expected):
    assert sniff(data()[:64]) == expected


@pytest.mark.parametrize(
    ("data", "described"),
    [
        (HTML, "HTML"),
        (b"  \n<html><head></head></html>", "HTML"),
        (SVG, "SVG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (zip_bytes(), "zip"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"%PDF-1.7\n", "PDF"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "ISO media"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "ISO media"),
    ],
)
def test_sniff_refuses_non_photos_whatever_their_name(write, data, described):
    path = write(data, "photo.jpg")
    with pytest.raises(MediaError) as caught:
        sniff_path(path)
    assert caught.value.code == "media.unsupported_type"
    assert caught.value.status == 422
    assert described in caught.value.message


def test_sniff_refuses_empty_input():
    with pytest.raises(MediaError) as caught:
        sniff(b"")
    assert caught.value.code == "media.empty"


def test_sniff_accepts_generic_heif_brand():
    head = b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1miaf"
    assert sniff(head) == "image/heif"
