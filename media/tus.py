"""The tus 1.0 resumable-upload protocol, independent of Flask and of the database.

Supported: core, ``creation``, ``checksum`` (sha1, sha256), ``termination`` and
``expiration``. Session state lives behind :class:`UploadStore` (the app keeps it in the
database so any API process can continue an upload); the bytes go to a spool file per
upload in a directory all API processes share.

Appending is safe against two requests racing on one upload: the spool file is locked
(``flock``) for the duration of a PATCH and the new offset is committed with a
compare-and-set on the old one. A chunk that fails its checksum, or would overrun the
declared length, is truncated away before the offset moves.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from media.errors import MediaError
from media.storage import is_sha256
from media.text import Text, _l

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "checksum", "termination", "expiration")
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
#: Status code tus's checksum extension uses for a chunk whose checksum does not match.
CHECKSUM_MISMATCH = 460

DEFAULT_MAX_SIZE = 50 * 1024 * 1024
DEFAULT_TTL = timedelta(hours=24)
DEFAULT_CHUNK = 256 * 1024

_METADATA_KEY = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_DIGITS = re.compile(r"[0-9]{1,18}")
_DIGEST_SIZES = {"sha1": 20, "sha256": 32}


@dataclass
class UploadSession:
    """The state of one tus upload."""

    id: str
    length: int
    offset: int
    metadata: dict[str, str | None]
    created_at: datetime
    expires_at: datetime
    owner: str | None = None
    #: Set once the complete upload was processed; the spool file may be gone by then.
    completed: bool = False

    @property
    def complete(self) -> bool:
        """True once every declared byte has arrived."""
        return self.offset >= self.length

    @property
    def sha256(self) -> str | None:
        """The SHA-256 the client declared in its metadata, if any."""
        return self.metadata.get("sha256")


class UploadStore(Protocol):
    """Persistence of upload sessions (the app implements it in its database)."""

    def create(self, session: UploadSession) -> None:
        """Persist a new session."""
        ...

    def get(self, upload_id: str) -> UploadSession | None:
        """Return the session or None."""
        ...

    def update_offset(self, upload_id: str, expected: int, new: int, expires_at: datetime) -> bool:
        """Move the offset from ``expected`` to ``new``; False when it was not ``expected``."""
        ...

    def delete(self, upload_id: str) -> None:
        """Forget the session (missing is fine)."""
        ...

    def expired(self, now: datetime) -> list[UploadSession]:
        """Return the sessions whose expiry is before ``now``."""
        ...


@dataclass
class MemoryUploadStore:
    """An in-process UploadStore for tests and single-process tools."""

    sessions: dict[str, UploadSession] = field(default_factory=dict)

    def create(self, session: UploadSession) -> None:
        """Persist a new session."""
        self.sessions[session.id] = replace(session, metadata=dict(session.metadata))

    def get(self, upload_id: str) -> UploadSession | None:
        """Return a copy of the session or None."""
        found = self.sessions.get(upload_id)
        return replace(found, metadata=dict(found.metadata)) if found else None

    def update_offset(self, upload_id: str, expected: int, new: int, expires_at: datetime) -> bool:
        """Compare-and-set the offset."""
        found = self.sessions.get(upload_id)
        if found is None or found.offset != expected:
            return False
        found.offset = new
        found.expires_at = expires_at
        return True

    def delete(self, upload_id: str) -> None:
        """Forget the session."""
        self.sessions.pop(upload_id, None)

    def expired(self, now: datetime) -> list[UploadSession]:
        """Return sessions that expired before ``now``."""
        return [s for s in self.sessions.values() if s.expires_at < now]


# ----------------------------------------------------------------------------- headers


def parse_metadata(header: str | None) -> dict[str, str | None]:
    """Parse ``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional)."""
    result: dict[str, str | None] = {}
    if not header or not header.strip():
        return result
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2 or not _METADATA_KEY.match(parts[0]):
            raise _bad(
                "tus.invalid_metadata", _l("Upload-Metadata has a malformed key/value pair.")
            )
        key = parts[0]
        if key in result:
            raise _bad(
                "tus.invalid_metadata", _l("Upload-Metadata repeats the key %(key)r.", key=key)
            )
        if len(parts) == 1:
            result[key] = None
            continue
        try:
            result[key] = base64.b64decode(parts[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise _bad(
                "tus.invalid_metadata",
                _l("Upload-Metadata value of %(key)r is not base64 UTF-8.", key=key),
            ) from exc
    return result


def encode_metadata(metadata: dict[str, str | None]) -> str:
    """Build an ``Upload-Metadata`` header value."""
    pairs = []
    for key, value in metadata.items():
        if value is None:
            pairs.append(key)
        else:
            pairs.append(f"{key} {base64.b64encode(value.encode()).decode()}")
    return ",".join(pairs)


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """Parse ``Upload-Checksum: <algorithm> <base64 digest>``; None when absent."""
    if header is None or not header.strip():
        return None
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise _bad("tus.invalid_checksum", _l("Upload-Checksum must be '<algorithm> <base64>'."))
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise _bad(
            "tus.checksum_unsupported",
            _l(
                "Checksum algorithm %(algorithm)r is not supported; use sha1 or sha256.",
                algorithm=parts[0],
            ),
        )
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad("tus.invalid_checksum", _l("Upload-Checksum digest is not base64.")) from exc
    if len(digest) != _DIGEST_SIZES[algorithm]:
        raise _bad(
            "tus.invalid_checksum",
            _l("Upload-Checksum is not a %(algorithm)s digest.", algorithm=algorithm),
        )
    return algorithm, digest


def parse_int(header: str | None, name: str) -> int:
    """Parse a non-negative integer header such as Upload-Length or Upload-Offset."""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if header is None or not _DIGITS.fullmatch(header.strip()):
        raise _bad(
            f"tus.invalid_{name.lower().replace('-', '_')}",
            _l("%(header)s must be a number.", header=name),
        )
    return int(header.strip())


def check_resumable(header: str | None) -> None:
    """Refuse requests of another tus version (412, as the protocol specifies)."""
    if header != TUS_VERSION:
        raise MediaError(
            "tus.version_unsupported",
            _l("Tus-Resumable must be %(version)s.", version=TUS_VERSION),
            status=412,
        )


def http_date(moment: datetime) -> str:
    """Format a time as an RFC 7231 HTTP-date, as ``Upload-Expires`` requires."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def discovery_headers(max_size: int) -> dict[str, str]:
    """Headers of an ``OPTIONS`` answer."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(TUS_EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }


def session_headers(session: UploadSession) -> dict[str, str]:
    """Headers describing a session (HEAD and PATCH answers)."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(session.offset),
        "Upload-Length": str(session.length),
        "Upload-Expires": http_date(session.expires_at),
        "Cache-Control": "no-store",
    }


def _bad(code: str, message: Text, status: int = 400) -> MediaError:
    return MediaError(code, message, status=status)


# ----------------------------------------------------------------------------- server


class Stream(Protocol):
    """Anything with ``read(n)``: a WSGI input stream, a file."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes."""
        ...


class TusUploads:
    """The protocol operations on top of an UploadStore and a spool directory."""

    def __init__(
        self,
        store: UploadStore,
        spool_dir: str | os.PathLike[str],
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        ttl: timedelta = DEFAULT_TTL,
        chunk_size: int = DEFAULT_CHUNK,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.max_size = max_size
        self.ttl = ttl
        self.chunk_size = chunk_size
        self.clock = clock

    def spool_path(self, upload_id: str) -> Path:
        """Return the spool file holding the bytes received so far."""
        return self.spool_dir / f"{uuid.UUID(upload_id).hex}.part"

    def expiry(self, now: datetime | None = None) -> datetime:
        """Return when an upload touched at ``now`` expires (sliding with each PATCH)."""
        return (now or self.clock()) + self.ttl

    def create(
        self,
        upload_length: str | None,
        upload_metadata: str | None,
        *,
        owner: str | None = None,
        require_sha256: bool = True,
    ) -> UploadSession:
        """Start an upload (``POST``): validate length and metadata, make an empty spool file."""
        if upload_length is None:
            raise _bad(
                "tus.length_required",
                _l("Upload-Length is required; deferred lengths are not supported."),
            )
        length = parse_int(upload_length, "Upload-Length")
        if length > self.max_size:
            raise _bad(
                "tus.too_large",
                _l("The upload is larger than the %(limit)s-byte limit.", limit=self.max_size),
                status=413,
            )
        if length == 0:
            raise _bad(
                "media.empty", _l("The upload is empty; send the photo's bytes."), status=422
            )
        metadata = parse_metadata(upload_metadata)
        sha = metadata.get("sha256")
        if sha is not None:
            sha = sha.strip().lower()
            metadata["sha256"] = sha
        if require_sha256 and (sha is None or not is_sha256(sha)):
            raise _bad(
                "tus.sha256_required",
                _l("Upload-Metadata must carry the photo's sha256 as 64 hex digits."),
            )
        now = self.clock()
        session = UploadSession(
            id=str(uuid.uuid4()),
            length=length,
            offset=0,
            metadata=metadata,
            created_at=now,
            expires_at=self.expiry(now),
            owner=owner,
        )
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool_path(session.id).touch(exist_ok=False)
        self.store.create(session)
        return session

    def get(self, upload_id: str) -> UploadSession:
        """Return a live session (``HEAD``); 404 when unknown, 410 when expired."""
        try:
            uuid.UUID(upload_id)
        except ValueError:
            raise _not_found() from None
        session = self.store.get(upload_id)
        if session is None:
            raise _not_found()
        if session.expires_at < self.clock():
            raise MediaError("tus.expired", _l("This upload expired; start a new one."), status=410)
        return session

    def append(
        self,
        upload_id: str,
        *,
        offset: str | None,
        body: Stream,
        content_type: str | None,
        content_length: int | None = None,
        checksum: str | None = None,
    ) -> UploadSession:
        """Append a ``PATCH`` body at ``offset`` and return the session with its new offset.

        The body is read in bounded chunks. A checksum mismatch truncates the spool file
        back and raises status 460; a body cut short without a checksum keeps the bytes
        that arrived (the client resumes from the new offset) and raises ``tus.interrupted``.
        """
        if (content_type or "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
            raise _bad(
                "tus.invalid_content_type",
                _l("PATCH bodies must be %(type)s.", type=OFFSET_CONTENT_TYPE),
                status=415,
            )
        claimed = parse_int(offset, "Upload-Offset")
        parsed_checksum = parse_checksum(checksum)
        session = self.get(upload_id)
        if claimed != session.offset:
            raise _offset_mismatch(session.offset)
        if session.completed:
            # A retried final PATCH whose answer was lost: nothing left to append.
            return session
        remaining = session.length - session.offset
        if content_length is not None and content_length > remaining:
            raise _bad(
                "tus.too_large",
                _l(
                    "The chunk overruns the declared Upload-Length by %(excess)s bytes.",
                    excess=content_length - remaining,
                ),
                status=413,
            )
        path = self.spool_path(upload_id)
        try:
            # Closed by the with-block below; opened here to answer 410 when it is gone.
            spool = open(path, "r+b")  # noqa: SIM115
        except FileNotFoundError:
            raise MediaError(
                "tus.expired", _l("This upload's data is gone; start a new one."), status=410
            ) from None
        with spool:
            try:
                fcntl.flock(spool.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MediaError(
                    "tus.locked",
                    _l("Another request is writing to this upload; retry shortly."),
                    status=423,
                ) from None
            # Re-read under the lock: another process may have moved the offset meanwhile.
            session = self.get(upload_id)
            if claimed != session.offset:
                raise _offset_mismatch(session.offset)
            # Bytes past the committed offset are leftovers of a request killed mid-write.
            spool.truncate(session.offset)
            spool.seek(session.offset)
            return self._write(session, spool, body, parsed_checksum)

    def _write(
        self,
        session: UploadSession,
        out: BinaryIO,
        body: Stream,
        checksum: tuple[str, bytes] | None,
    ) -> UploadSession:
        start = session.offset
        remaining = session.length - start
        digest = hashlib.new(checksum[0]) if checksum else None
        written = 0
        interrupted = False
        while True:
            try:
                data = body.read(min(self.chunk_size, remaining - written + 1))
            except Exception:  # the client went away mid-body (the server raises its own type)
                interrupted = True
                break
            if not data:
                break
            if written + len(data) > remaining:
                out.truncate(start)
                raise _bad(
                    "tus.too_large",
                    _l("The chunk overruns the declared Upload-Length."),
                    status=413,
                )
            out.write(data)
            if digest is not None:
                digest.update(data)
            written += len(data)
        out.flush()

        if checksum is not None and digest is not None:
            if interrupted:
                out.truncate(start)
                raise _bad("tus.interrupted", _l("The chunk was cut short; resend it."))
            if digest.digest() != checksum[1]:
                out.truncate(start)
                raise MediaError(
                    "tus.checksum_mismatch",
                    _l("The chunk does not match its Upload-Checksum; resend it."),
                    status=CHECKSUM_MISMATCH,
                )
        new_offset = start + written
        if new_offset == session.length:
            os.fsync(out.fileno())
        expires_at = self.expiry()
        if written and not self.store.update_offset(session.id, start, new_offset, expires_at):
            out.truncate(start)
            current = self.store.get(session.id)
            raise _offset_mismatch(current.offset if current else start)
        if interrupted:
            raise _bad(
                "tus.interrupted",
                _l("The chunk was cut short; resume from offset %(offset)s.", offset=new_offset),
            )
        if not written:
            return session
        return replace(session, offset=new_offset, expires_at=expires_at)

    def terminate(self, upload_id: str) -> None:
        """Delete an upload and its bytes (``DELETE``)."""
        self.get(upload_id)
        self.discard(upload_id)

    def discard(self, upload_id: str) -> None:
        """Forget an upload and remove its spool file, whatever its state."""
        self.store.delete(upload_id)
        with contextlib.suppress(FileNotFoundError):
            self.spool_path(upload_id).unlink()

    def cleanup(self, now: datetime | None = None) -> int:
        """Remove expired uploads and orphaned spool files; return how many were removed."""
        moment = now or self.clock()
        removed = 0
        for session in self.store.expired(moment):
            self.discard(session.id)
            removed += 1
        if self.spool_dir.is_dir():
            cutoff = (moment - self.ttl).timestamp()
            for part in self.spool_dir.glob("*.part"):
                try:
                    upload_id = str(uuid.UUID(part.stem))
                except ValueError:
                    continue
                if part.stat().st_mtime < cutoff and self.store.get(upload_id) is None:
                    part.unlink(missing_ok=True)
                    removed += 1
        return removed


def _not_found() -> MediaError:
    return MediaError("tus.not_found", _l("No such upload; start a new one."), status=404)


def _offset_mismatch(current: int) -> MediaError:
    return MediaError(
        "tus.offset_mismatch",
        _l(
            "Upload-Offset does not match the server's offset %(offset)s; HEAD and resume.",
            offset=current,
        ),
        status=409,
    )
