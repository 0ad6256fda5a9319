"""Ingest: verify, sniff, process and store — or store nothing. Runs on both backends."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from media.errors import MediaError
from media.ingest import ingest, sha256_file
from media.storage import Storage, original_key, thumbnail_key
from tests.media.media_samples import HTML, SVG, bomb_png, encode, jpeg, picture, zip_bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_keys(storage: Storage, digest: str) -> list[str]:
    keys = [original_key(digest), thumbnail_key(digest, "small"), thumbnail_key(digest, "large")]
    return [k for k in keys if storage.exists(k)]


def test_sha256_file_streams(write):
    data = b"x" * (3 * 1024 * 1024 + 5)
    assert sha256_file(write(data)) == sha(data)


def test_a_digest_taken_while_receiving_is_checked_like_one_computed_here(storage, write):
    """The PUT hashes its body as it streams; that digest must still match the declared one."""
    data = jpeg()
    stored = ingest(write(data), sha(data), storage, received_sha256=sha(data).upper())
    assert stored.sha256 == sha(data)
    other = jpeg(seed=2)
    with pytest.raises(MediaError) as caught:
        ingest(write(other), sha(other), storage, received_sha256=sha(b"what arrived"))
    assert caught.value.code == "media.hash_mismatch"
    assert stored_keys(storage, sha(other)) == []


def test_ingest_stores_original_and_thumbnails(storage, write):
    data = jpeg((2000, 1500))
    result = ingest(write(data), sha(data), storage, max_pixels=40_000_000)
    assert result.sha256 == sha(data)
    assert result.size == len(data)
    assert result.image.content_type == "image/jpeg"
    assert result.original_key == original_key(sha(data))
    with storage.open(result.original_key) as fp:
        assert fp.read() == data
    with storage.open(result.thumbnail_keys["small"]) as fp:
        thumb = Image.open(io.BytesIO(fp.read()))
        assert max(thumb.size) == 320 and "exif" not in thumb.info


def test_same_bytes_twice_are_stored_once(storage, write):
    data = encode(picture(seed=3), "PNG")
    first = ingest(write(data), sha(data), storage)
    second = ingest(write(data), sha(data).upper(), storage)
    assert first.original_key == second.original_key
    assert first.image.phash == second.image.phash
    assert storage.size(first.original_key) == len(data)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (lambda: jpeg()[:3000], "media.corrupt"),
        (lambda: bomb_png(), "media.too_large_pixels"),
        (lambda: HTML, "media.unsupported_type"),
        (lambda: SVG, "media.unsupported_type"),
        (lambda: zip_bytes(), "media.unsupported_type"),
    ],
)
def test_refused_uploads_store_nothing(storage, write, data, code):
    body = data()
    with pytest.raises(MediaError) as caught:
        ingest(write(body, "photo.jpg"), sha(body), storage)
    assert caught.value.code == code
    assert 400 <= caught.value.status < 500
    assert stored_keys(storage, sha(body)) == []


def test_hash_mismatch_stores_nothing(storage, write):
    data = jpeg()
    claimed = sha(b"something else")
    with pytest.raises(MediaError) as caught:
        ingest(write(data), claimed, storage)
    assert caught.value.code == "media.hash_mismatch"
    assert stored_keys(storage, claimed) == stored_keys(storage, sha(data)) == []


def test_empty_and_invalid_hash(storage, write):
    with pytest.raises(MediaError) as caught:
        ingest(write(b""), sha(b""), storage)
    assert caught.value.code == "media.empty"
    with pytest.raises(MediaError) as caught:
        ingest(write(b"x"), "not-a-hash", storage)
    assert caught.value.code == "media.invalid_sha256"


def test_failed_write_removes_what_this_ingest_created(storage, write):
    data = jpeg(seed=9)
    digest = sha(data)

    class Failing:
        """Delegate to the real storage but fail storing the original."""

        def __getattr__(self, name):
            return getattr(storage, name)

        def put_file(self, key, path, content_type):
            raise OSError("disk full")

    with pytest.raises(OSError):
        ingest(write(data), digest, Failing())
    assert stored_keys(storage, digest) == []


def test_failed_write_keeps_objects_stored_earlier(storage, write):
    data = jpeg(seed=10)
    digest = sha(data)
    storage.put_bytes(thumbnail_key(digest, "small"), b"earlier", "image/jpeg")

    class Failing:
        def __getattr__(self, name):
            return getattr(storage, name)

        def put_file(self, key, path, content_type):
            raise OSError("disk full")

    with pytest.raises(OSError):
        ingest(write(data), digest, Failing())
    assert stored_keys(storage, digest) == [thumbnail_key(digest, "small")]
