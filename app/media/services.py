"""Media rules: uploads (tus and PUT), who may see a photo, signed URLs, cleanup.

The pipeline itself (sniffing, decoding, EXIF, thumbnails, storage, the tus protocol) is the
``media`` library; this module wires it to the database, the caller and the config.

Two deliberate exceptions to "the request boundary commits once", both for uploads:

* Before a request body is streamed, the request's transaction is committed (it holds only
  the token lookup), so a slow mobile upload never holds a database lock or connection state.
* tus session state (offsets) is written through :class:`DbUploadStore`, which commits each
  change on its own short session while the spool file is locked: an acknowledged offset is
  durable, and any API process can continue the upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

from flask import current_app
from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import IntegrityError

from app.audit.services import record_at_commit
from app.clock import utcnow
from app.db import Database, get_db, get_session, session
from app.errors import DomainError
from app.i18n import _
from app.media.models import MediaObject, MediaUploader, TusUpload
from app.media.near import index_photo
from app.org.models import User
from media.errors import MediaError
from media.ingest import IngestResult, ingest
from media.storage import LocalStorage, Storage, is_sha256, original_key, thumbnail_key
from media.tus import (
    TUS_VERSION,
    TusUploads,
    UploadSession,
    check_resumable,
    discovery_headers,
)

THUMBNAIL_NAMES = ("small", "large")
_COPY_CHUNK = 256 * 1024

#: "Does this user see a record citing this photo?" Each domain whose records cite photos
#: (findings, hazard tickets, public reports …) provides one; gets (user, sha256).
CitationCheck = Callable[[User, str], bool]

#: Called with the SHA-256 of each newly stored photo, inside the request's transaction
#: (e.g. to clear ``media_pending`` on findings that were waiting for it).
StoredHook = Callable[[str], None]


@dataclass(frozen=True)
class PhotoHooks:
    """What other domains plug into the photo pipeline: one per app, made in ``app.wiring``."""

    citations: tuple[CitationCheck, ...] = ()
    stored: tuple[StoredHook, ...] = ()


def photo_hooks() -> PhotoHooks:
    """Return this app's photo hooks (none when the app wired none)."""
    return current_app.extensions.get("photo_hooks") or PhotoHooks()


# ----------------------------------------------------------------------------- storage


def build_storage(config: Mapping[str, Any]) -> Storage:
    """Create the storage backend named by FIELDSAFE_MEDIA_BACKEND (local or s3)."""
    backend = str(config.get("MEDIA_BACKEND") or "local").lower()
    if backend == "local":
        # A key derived for this one purpose: a leaked photo link reveals nothing reusable.
        url_key = hmac.new(
            str(config["SECRET_KEY"]).encode(), b"fieldsafe media URLs", hashlib.sha256
        ).digest()
        return LocalStorage(config["MEDIA_ROOT"], url_key, url_prefix="/api/v1/media/files")
    if backend == "s3":
        from media.s3 import S3Storage

        if not config.get("S3_BUCKET"):
            raise RuntimeError("FIELDSAFE_MEDIA_BACKEND=s3 needs FIELDSAFE_S3_BUCKET")
        return S3Storage(
            config["S3_BUCKET"],
            prefix=config.get("S3_PREFIX") or "",
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or None,
            access_key=config.get("S3_ACCESS_KEY") or None,
            secret_key=config.get("S3_SECRET_KEY") or None,
        )
    raise RuntimeError(f"unknown FIELDSAFE_MEDIA_BACKEND {backend!r}; use local or s3")


def get_storage() -> Storage:
    """Return the app's storage (``app.extensions["storage"]``; tests may put their own)."""
    storage = current_app.extensions.get("storage")
    if storage is None:
        storage = build_storage(current_app.config)
        current_app.extensions["storage"] = storage
    return storage  # type: ignore[no-any-return]


def _max_bytes() -> int:
    return int(current_app.config["MEDIA_MAX_BYTES"])


def _spool_dir() -> Path:
    path = Path(current_app.config["MEDIA_SPOOL"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _domain_error(err: MediaError, *, tus: bool = False, persist: bool = False) -> DomainError:
    headers = {"Tus-Resumable": TUS_VERSION} if tus else None
    return DomainError(err.code, err.status, err.message, headers=headers, persist=persist)


def _release_transaction() -> None:
    """End the request's transaction before a long body streams in (see module docstring)."""
    session.commit()


# ----------------------------------------------------------------------------- tus


class DbUploadStore:
    """The tus UploadStore in the database; each call commits on its own short session."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, upload: UploadSession) -> None:
        """Persist a new upload session."""
        with self.db.new_session() as db, db.begin():
            db.add(
                TusUpload(
                    id=uuid.UUID(upload.id),
                    owner_id=uuid.UUID(str(upload.owner)),
                    length=upload.length,
                    upload_offset=upload.offset,
                    upload_metadata=dict(upload.metadata),
                    sha256=upload.sha256,
                    created_at=upload.created_at,
                    expires_at=upload.expires_at,
                )
            )

    def get(self, upload_id: str) -> UploadSession | None:
        """Return the session or None."""
        with self.db.new_session() as db:
            row = db.get(TusUpload, uuid.UUID(upload_id))
            return _to_session(row) if row is not None else None

    def update_offset(self, upload_id: str, expected: int, new: int, expires_at: datetime) -> bool:
        """Compare-and-set the offset; committed before the spool lock is released."""
        with self.db.new_session() as db, db.begin():
            result = db.execute(
                update(TusUpload)
                .where(TusUpload.id == uuid.UUID(upload_id), TusUpload.upload_offset == expected)
                .values(upload_offset=new, expires_at=expires_at)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    def delete(self, upload_id: str) -> None:
        """Forget the session."""
        with self.db.new_session() as db, db.begin():
            db.execute(delete(TusUpload).where(TusUpload.id == uuid.UUID(upload_id)))

    def expired(self, now: datetime) -> list[UploadSession]:
        """Return sessions past their expiry."""
        with self.db.new_session() as db:
            rows = db.execute(select(TusUpload).where(TusUpload.expires_at < now)).scalars()
            return [_to_session(r) for r in rows]


def _to_session(row: TusUpload) -> UploadSession:
    return UploadSession(
        id=str(row.id),
        length=row.length,
        offset=row.upload_offset,
        metadata=dict(row.upload_metadata or {}),
        created_at=row.created_at,
        expires_at=row.expires_at,
        owner=str(row.owner_id),
        completed=row.completed_at is not None,
    )


def tus_uploads() -> TusUploads:
    """Return the tus protocol operations bound to this app's database and spool directory."""
    return TusUploads(
        DbUploadStore(get_db()),
        _spool_dir(),
        max_size=_max_bytes(),
        ttl=timedelta(seconds=int(current_app.config.get("MEDIA_UPLOAD_TTL", 24 * 3600))),
        clock=utcnow,
    )


def tus_discovery() -> dict[str, str]:
    """Return the headers of the tus OPTIONS answer."""
    return discovery_headers(_max_bytes())


def _owned_upload(user: User, tus: TusUploads, upload_id: str) -> UploadSession:
    """Return the caller's upload; anyone else's is 404."""
    try:
        upload = tus.get(upload_id)
    except MediaError as err:
        raise _domain_error(err, tus=True) from None
    if upload.owner != str(user.id):
        raise DomainError(
            "tus.not_found",
            404,
            _("No such upload; start a new one."),
            headers={"Tus-Resumable": TUS_VERSION},
        )
    return upload


def _check_version(headers: Any) -> None:
    try:
        check_resumable(headers.get("Tus-Resumable"))
    except MediaError as err:
        raise _domain_error(err, tus=True) from None


def create_upload(user: User, headers: Any) -> UploadSession:
    """Start a tus upload for the caller from the POST's Upload-Length and Upload-Metadata."""
    _check_version(headers)
    tus = tus_uploads()
    _release_transaction()
    try:
        upload = tus.create(
            headers.get("Upload-Length"), headers.get("Upload-Metadata"), owner=str(user.id)
        )
    except MediaError as err:
        raise _domain_error(err, tus=True) from None
    return upload


def upload_status(user: User, upload_id: str, headers: Any) -> UploadSession:
    """Return the caller's upload (HEAD)."""
    _check_version(headers)
    tus = tus_uploads()
    _release_transaction()
    return _owned_upload(user, tus, upload_id)


def append_upload(
    user: User, upload_id: str, headers: Any, body: IO[bytes], *, now: datetime
) -> UploadSession:
    """Append a PATCH body; on the final byte verify, process and store the photo."""
    _check_version(headers)
    tus = tus_uploads()
    _release_transaction()
    upload = _owned_upload(user, tus, upload_id)
    length = headers.get("Content-Length")
    try:
        upload = tus.append(
            upload_id,
            offset=headers.get("Upload-Offset"),
            body=body,
            content_type=headers.get("Content-Type"),
            content_length=int(length)
            if length and length.isascii() and length.isdigit()
            else None,
            checksum=headers.get("Upload-Checksum"),
        )
    except MediaError as err:
        raise _domain_error(err, tus=True) from None
    if not upload.complete or upload.completed:
        return upload
    spool = tus.spool_path(upload_id)
    try:
        store_photo(spool, sha256=upload.sha256 or "", actor=user, now=now, via="tus")
    except MediaError as err:
        # The complete upload is refused: nothing was stored, and the session is over.
        tus.discard(upload_id)
        raise _domain_error(err, tus=True) from None
    session.execute(
        update(TusUpload)
        .where(TusUpload.id == uuid.UUID(upload_id))
        .values(completed_at=now, upload_offset=upload.length)
    )
    _after_commit(lambda: spool.unlink(missing_ok=True))
    return upload


def terminate_upload(user: User, upload_id: str, headers: Any) -> None:
    """Delete the caller's upload and its bytes (tus termination)."""
    _check_version(headers)
    tus = tus_uploads()
    _release_transaction()
    _owned_upload(user, tus, upload_id)
    tus.discard(upload_id)


def cleanup_uploads(*, now: datetime) -> int:
    """Remove expired tus uploads and orphaned spool files; return how many."""
    return tus_uploads().cleanup(now)


def _after_commit(action: Callable[[], None]) -> None:
    """Run ``action`` once the request's transaction commits (never on rollback)."""
    event.listen(get_session(), "after_commit", lambda _s: action(), once=True)


# ----------------------------------------------------------------------------- PUT


def put_media(
    user: User, sha256: str, body: IO[bytes], content_length: int | None, *, now: datetime
) -> tuple[MediaObject, bool]:
    """Store a one-shot upload whose bytes must hash to ``sha256``; True when newly stored."""
    sha = sha256.lower()
    if not is_sha256(sha):
        raise DomainError(
            "media.invalid_sha256", 400, _("The path must end in the photo's SHA-256 (64 hex).")
        )
    limit = _max_bytes()
    if content_length is not None and content_length > limit:
        raise DomainError(
            "media.too_large",
            413,
            _(
                "The photo is larger than the %(limit)s-byte limit; use a resumable tus upload "
                "or send a smaller photo.",
                limit=limit,
            ),
        )
    _release_transaction()
    spool = _spool_dir() / f"{uuid.uuid4().hex}.part"
    try:
        received = _receive(body, spool, limit)
        try:
            return store_photo(
                spool, sha256=sha, actor=user, now=now, via="put", received_sha256=received
            )
        except MediaError as err:
            raise _domain_error(err) from None
    finally:
        spool.unlink(missing_ok=True)


def _receive(body: IO[bytes], path: Path, limit: int) -> str:
    """Stream a request body to ``path`` in bounded chunks, refusing more than ``limit``.

    Return the body's SHA-256, hashed as it streams (the bytes are read once).
    """
    received = 0
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        while chunk := body.read(_COPY_CHUNK):
            received += len(chunk)
            if received > limit:
                raise DomainError(
                    "media.too_large",
                    413,
                    _("The photo is larger than the %(limit)s-byte limit.", limit=limit),
                )
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def store_photo(
    source: Path | bytes,
    *,
    actor: User | None,
    now: datetime,
    via: str,
    sha256: str | None = None,
    received_sha256: str | None = None,
) -> tuple[MediaObject, bool]:
    """Process, store and record a photo; True when it is new. The one writer of MediaObject.

    ``source`` is a spooled file (PUT, tus) or the bytes themselves (an inline photo, the demo);
    ``sha256`` is what they must hash to (for bytes, their own digest when not given). The media
    pipeline runs first (sniffing, Pillow under the pixel limit, EXIF, thumbnails, phash; a
    refusal raises :class:`MediaError` and records nothing). Then the row is written (or
    ``actor`` linked to an existing one), the stored-photo hooks run for a new photo (findings
    waiting for it leave ``media_pending``), and ``media.upload`` is audited. Flushes.
    ``received_sha256`` is the spooled file's digest when the caller hashed it while writing.
    """
    if isinstance(source, bytes):
        own = hashlib.sha256(source).hexdigest()
        with tempfile.NamedTemporaryFile(dir=_spool_dir(), suffix=".part") as tmp:
            tmp.write(source)
            tmp.flush()
            result = ingest(
                tmp.name, sha256 or own, get_storage(), _max_pixels(), received_sha256=own
            )
    else:
        result = ingest(
            source, sha256 or "", get_storage(), _max_pixels(), received_sha256=received_sha256
        )
    return _save_media(result, actor, now=now, via=via)


def _max_pixels() -> int:
    return int(current_app.config["MEDIA_MAX_PIXELS"])


def _save_media(
    result: IngestResult, actor: User | None, *, now: datetime, via: str
) -> tuple[MediaObject, bool]:
    """Record a stored photo (or link another uploader to it); True when it is new."""
    obj = session.get(MediaObject, result.sha256)
    created = False
    if obj is None:
        image = result.image
        candidate = MediaObject(
            sha256=result.sha256,
            size=result.size,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            exif=image.exif.to_dict() if image.exif else None,
            phash=image.phash,
            phash_version=image.phash_version,
            uploaded_by=actor.id if actor is not None else None,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(candidate)
        except IntegrityError:
            # Another process stored the same bytes a moment ago: that is the same photo.
            pass
        else:
            created = True
        obj = session.get(MediaObject, result.sha256)
        assert obj is not None
    linked = True
    if actor is not None and created:
        # A photo this transaction created has no uploader yet, nor can another transaction
        # add one before this commits (it would first have to store the same row).
        linked = False
        session.add(MediaUploader(sha256=obj.sha256, user_id=actor.id, created_at=now))
    elif actor is not None and session.get(MediaUploader, (obj.sha256, actor.id)) is None:
        linked = False
        with contextlib.suppress(IntegrityError), session.begin_nested():
            session.add(MediaUploader(sha256=obj.sha256, user_id=actor.id, created_at=now))
    if created:
        index_photo(obj.sha256, obj.phash)
        for hook in photo_hooks().stored:
            hook(obj.sha256)
    if created or not linked:
        # Appended with the commit's bindings, under one lock of the chain's head.
        record_at_commit(
            "media.upload",
            "media",
            obj.sha256,
            {"size": obj.size, "content_type": obj.content_type, "via": via, "new": created},
            actor=actor,
        )
    session.flush()
    return obj, created


# ----------------------------------------------------------------------------- reading


def may_see_media(user: User, sha256: str) -> bool:
    """Tell whether ``user`` may see the photo: its uploader, or sees a record referencing it.

    Which records cite a photo is each domain's to say: see :class:`PhotoHooks`.
    """
    if not is_sha256(sha256):
        return False
    uploaded = session.scalar(
        select(MediaUploader.user_id).where(
            MediaUploader.sha256 == sha256, MediaUploader.user_id == user.id
        )
    )
    if uploaded is not None:
        return True
    return any(check(user, sha256) for check in photo_hooks().citations)


def get_media(user: User, sha256: str, *, base_url: str | None) -> dict[str, Any]:
    """Return a photo's metadata with short-lived signed URLs; 404 unless the caller may see it.

    Local signed URLs are made absolute against `base_url` (see :func:`media_view`).
    """
    sha = sha256.lower()
    obj = session.get(MediaObject, sha) if is_sha256(sha) else None
    if obj is None or not may_see_media(user, sha):
        raise DomainError("media.not_found", 404, _("No such photo, or it is outside your scope."))
    return media_view(obj, base_url=base_url)


def missing_media(hashes: list[str]) -> list[str]:
    """Return the hashes (in order, deduplicated) whose photo has not arrived yet."""
    wanted = list(dict.fromkeys(h.lower() for h in hashes))
    if not wanted:
        return []
    present = set(session.scalars(select(MediaObject.sha256).where(MediaObject.sha256.in_(wanted))))
    return [h for h in wanted if h not in present]


def media_by_sha(hashes: list[str]) -> dict[str, MediaObject]:
    """Return the stored photos among ``hashes`` by hash (for review queues)."""
    wanted = list({h.lower() for h in hashes})
    if not wanted:
        return {}
    rows = session.scalars(select(MediaObject).where(MediaObject.sha256.in_(wanted)))
    return {m.sha256: m for m in rows}


def media_view(
    obj: MediaObject, expires_in: int | None = None, *, base_url: str | None
) -> dict[str, Any]:
    """Return the API shape of a photo, URLs included (for the review queue, too).

    `base_url` is the root the caller reached the API at (the route passes the request's host
    URL); local signed URLs are made absolute against it, so a PWA on another origin can use
    them. ``None`` (outside a request) leaves them as they are.
    """
    ttl = int(expires_in or current_app.config.get("MEDIA_URL_TTL", 300))
    storage = get_storage()
    return {
        "sha256": obj.sha256,
        "size": obj.size,
        "content_type": obj.content_type,
        "width": obj.width,
        "height": obj.height,
        "exif": obj.exif,
        "phash": obj.phash,
        "created_at": obj.created_at,
        "original_url": _absolute(storage.url(original_key(obj.sha256), ttl), base_url),
        "thumbnails": {
            name: _absolute(storage.url(thumbnail_key(obj.sha256, name), ttl), base_url)
            for name in THUMBNAIL_NAMES
        },
        "expires_in": ttl,
    }


def _absolute(url: str, base_url: str | None) -> str:
    """Make a local signed URL absolute against `base_url` (a PWA on another origin uses it)."""
    if url.startswith("/") and base_url is not None:
        return urljoin(base_url, url)
    return url


def signed_file(key: str, expires: int, signature: str) -> tuple[Path, str]:
    """Return the path and type of a local-storage object whose signed URL checks out."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        raise DomainError("media.not_found", 404, _("No such file."))
    if not storage.verify_signed(key, expires, signature):
        raise DomainError(
            "media.url_invalid",
            403,
            _("This photo link expired or was altered; fetch the photo again for a new link."),
        )
    content_type = "image/jpeg"
    if key.startswith("originals/"):
        sha = key.rsplit("/", 1)[-1]
        content_type = (
            session.scalar(select(MediaObject.content_type).where(MediaObject.sha256 == sha))
            or "application/octet-stream"
        )
    path = storage.path(key)
    if not path.is_file():
        raise DomainError("media.not_found", 404, _("No such file."))
    return path, content_type
