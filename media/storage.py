"""Where photo bytes live: a small storage interface with a local-disk implementation.

Keys are content-addressed (see :func:`original_key` and :func:`thumbnail_key`), so the
same bytes are stored once and an object, once written, never changes. ``media.s3`` holds
the S3 implementation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import quote, urlencode

#: A lower-case hex SHA-256 digest, the content address of every stored object.
SHA256_PATTERN = "[0-9a-f]{64}"
_SHA256 = re.compile(f"^{SHA256_PATTERN}$")
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
_COPY_CHUNK = 1024 * 1024


def is_sha256(value: str) -> bool:
    """Tell whether ``value`` is a lower-case hex SHA-256 digest."""
    return bool(_SHA256.match(value))


def original_key(sha256: str) -> str:
    """Return the storage key of an original photo: ``originals/ab/cd/<sha256>``."""
    _check_sha(sha256)
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def thumbnail_key(sha256: str, size: str) -> str:
    """Return the storage key of a thumbnail: ``thumbs/<size>/<sha256>.jpg``."""
    _check_sha(sha256)
    check_key(size)
    return f"thumbs/{size}/{sha256}.jpg"


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root or confuse a URL; return the key."""
    if not _KEY.match(key) or ".." in key.split("/") or len(key) > 512:
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def _check_sha(sha256: str) -> None:
    if not is_sha256(sha256):
        raise ValueError("expected a lower-case hex SHA-256 digest")


@runtime_checkable
class Storage(Protocol):
    """An object store for immutable, content-addressed media."""

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str) -> None:
        """Store the file at ``path`` under ``key``, streaming it."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store a small object (a thumbnail) under ``key``."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading; raise FileNotFoundError when it is missing."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def size(self, key: str) -> int:
        """Return the object's size in bytes; raise FileNotFoundError when it is missing."""
        ...

    def url(self, key: str, expires_in: int) -> str:
        """Return a URL granting read access to ``key`` for ``expires_in`` seconds."""
        ...


class LocalStorage:
    """Media on a local (or shared network) disk, written atomically.

    Signed URLs are relative (``<url_prefix>/<key>?expires=…&signature=…``); the app serves
    that path and checks it with :meth:`verify_signed`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        secret: str | bytes,
        *,
        url_prefix: str = "/api/v1/media/files",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self._secret = secret.encode() if isinstance(secret, str) else secret
        if not self._secret:
            raise ValueError("LocalStorage needs a non-empty secret to sign URLs")
        self.url_prefix = url_prefix.rstrip("/")
        self._clock = clock

    def path(self, key: str) -> Path:
        """Return the filesystem path of ``key`` (validated, inside the root)."""
        return self.root.joinpath(*check_key(key).split("/"))

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str) -> None:
        """Put the file in place: a hard link to it, or a copy where it lies on another
        filesystem; either under a temporary name first, then renamed atomically.

        An upload's spool file is only removed once stored, and nothing writes to it again,
        so the stored object may be the spool file itself (a new name for the same bytes):
        a 3 MB photo then costs no copy, only the flush of its bytes to disk.
        """

        def make(tmp: Path) -> None:
            try:
                os.link(path, tmp)
            except OSError:  # another filesystem (EXDEV), or one without hard links
                with open(path, "rb") as src:
                    _fill(tmp, lambda dst: shutil.copyfileobj(src, dst, _COPY_CHUNK))
            else:
                with open(tmp, "rb") as linked:
                    os.fsync(linked.fileno())

        self._place(key, make)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` into place atomically."""
        self._place(key, lambda tmp: _fill(tmp, lambda dst: dst.write(data)))

    def _place(self, key: str, make: Callable[[Path], None]) -> None:
        """Have ``make`` write the object, on disk, under a temporary name beside ``key``'s
        path, then rename it to that path; nothing is left behind if either fails."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            make(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def open(self, key: str) -> BinaryIO:
        """Open the stored object for binary reading."""
        return open(self.path(key), "rb")

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` is stored."""
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove ``key``; missing is fine."""
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def size(self, key: str) -> int:
        """Return the stored size of ``key``."""
        return self.path(key).stat().st_size

    def writable(self) -> bool:
        """Tell a readiness probe whether the media root can be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.root, os.W_OK)

    def url(self, key: str, expires_in: int) -> str:
        """Return a signed relative URL valid for ``expires_in`` seconds."""
        expires = int(self._clock()) + int(expires_in)
        query = urlencode({"expires": expires, "signature": self.sign(key, expires)})
        return f"{self.url_prefix}/{quote(check_key(key))}?{query}"

    def sign(self, key: str, expires: int) -> str:
        """Return the hex HMAC-SHA256 of ``key`` and its expiry time."""
        message = f"{key}\n{int(expires)}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify_signed(self, key: str, expires: int | str, signature: str) -> bool:
        """Tell whether a signed URL's parameters are authentic and not yet expired."""
        try:
            check_key(key)
            expires_at = int(expires)
        except (TypeError, ValueError):
            return False
        if expires_at < self._clock() or not str(signature).isascii():
            return False  # compare_digest refuses non-ASCII str; no valid signature has any
        return hmac.compare_digest(self.sign(key, expires_at), str(signature))


def _fill(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Create ``path`` and have ``fill`` write it, its bytes flushed to disk."""
    with open(path, "xb") as dst:
        fill(dst)
        dst.flush()
        os.fsync(dst.fileno())
