"""Turn a fully received spool file into a stored, processed photo — or into nothing."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from media.errors import MediaError
from media.processing import DEFAULT_MAX_PIXELS, DEFAULT_THUMB_SIZES, ProcessedImage, process
from media.sniff import sniff_path
from media.storage import Storage, is_sha256, original_key, thumbnail_key
from media.text import _l

_READ_CHUNK = 1024 * 1024


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, reading it in bounded chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class IngestResult:
    """A stored photo: its hash, size, what processing found, and where it was put."""

    sha256: str
    size: int
    image: ProcessedImage
    original_key: str
    thumbnail_keys: dict[str, str]


def ingest(
    spool_path: str | os.PathLike[str],
    expected_sha256: str,
    storage: Storage,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    thumb_sizes: Sequence[int] | Mapping[str, int] = DEFAULT_THUMB_SIZES,
    received_sha256: str | None = None,
) -> IngestResult:
    """Verify, sniff, process and store a photo; a refusal raises MediaError, storing nothing.

    Every check runs before the first write. The thumbnails are written before the
    original, so a stored original always has its thumbnails; if a write fails, the
    objects this call created are removed again. Objects that already existed (the same
    bytes uploaded before) are left alone: the keys are content-addressed.
    """
    expected = expected_sha256.strip().lower()
    if not is_sha256(expected):
        raise MediaError(
            "media.invalid_sha256", _l("The sha256 must be 64 hexadecimal digits."), 400
        )
    size = os.path.getsize(spool_path)
    if size == 0:
        raise MediaError("media.empty", _l("The upload is empty; send the photo's bytes."))
    actual = received_sha256.lower() if received_sha256 else sha256_file(spool_path)
    if actual != expected:
        raise MediaError(
            "media.hash_mismatch",
            _l("The bytes received do not match the declared sha256; upload the photo again."),
        )
    content_type = sniff_path(spool_path)
    image = process(
        spool_path, max_pixels=max_pixels, thumb_sizes=thumb_sizes, content_type=content_type
    )

    thumb_keys = {name: thumbnail_key(actual, name) for name in image.thumbnails}
    key = original_key(actual)
    created: list[str] = []
    try:
        for name, data in image.thumbnails.items():
            if not storage.exists(thumb_keys[name]):
                storage.put_bytes(thumb_keys[name], data, "image/jpeg")
                created.append(thumb_keys[name])
        if not storage.exists(key):
            storage.put_file(key, spool_path, content_type)
            created.append(key)
    except BaseException:
        for done in created:
            # Best effort: the original error is what the caller needs to see.
            with contextlib.suppress(Exception):
                storage.delete(done)
        raise
    return IngestResult(
        sha256=actual, size=size, image=image, original_key=key, thumbnail_keys=thumb_keys
    )


def discard(sha256: str, storage: Storage, thumb_names: Sequence[str] = ("small", "large")) -> None:
    """Delete a photo's original and thumbnails (used when the database refuses the record)."""
    storage.delete(original_key(sha256))
    for name in thumb_names:
        storage.delete(thumbnail_key(sha256, name))
