"""A reference device client for the sync protocol.

It is what the tests and benches drive, and it documents the protocol by example. It
keeps everything a device must survive a restart with in one SQLite file:

``outbox``
    Mutations recorded on the device, numbered 1, 2, 3 … per install (``client_id``).
    A mutation stays ``pending`` until a push response covers it; then it is marked
    ``applied`` or ``rejected`` with the server's code. Acknowledged rows are kept for a
    while so a ``sync.mutation_gap`` (the server lost mutations, e.g. after a restore)
    can be answered by resending from ``expected_id``.
``entities``
    The local copy of what the user may see, keyed by ``(type, id)``; pull changes
    replace (``put``) or remove (``delete``) rows.
``meta``
    ``client_id``, the next mutation id and the pull cursor.
``media``
    Photo bytes by SHA-256, uploaded when a push or a pull answers them in ``missing_media``.

The loop (:meth:`SyncClient.sync`): push the outbox in batches until it is empty,
upload missing photos, then pull pages until ``has_more`` is false, and upload the photos the
pull says the user's own findings still wait for (a push answer that named them may have been
lost). Network errors,
``429`` and ``5xx`` are retried with exponential backoff and jitter; the same request
is simply sent again, which the protocol makes safe (a replayed push returns its stored
results, a repeated pull re-reads the same page). A ``401`` calls the token refresh
hook once. ``409 sync.reset_required`` drops the local copy and the cursor and pulls
the scope again, keeping the unpushed outbox.

The HTTP transport is injectable (:class:`Transport`), so tests can lose requests,
lose responses, deliver twice or reorder, and benches can talk to a real server.

What is the server's is configured: the endpoints' paths (:class:`Paths`, by default those
of the reference server, under ``/api/v1``) and the mutation table the device checks a
change against before queueing it (``mutations``, the server's ``sync.protocol.Mutation``
table; without one, changes are queued unchecked).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random as _random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sync.protocol import Mutation, parse_args

__all__ = [
    "AutoUploader",
    "HttpResponse",
    "MediaUploader",
    "Paths",
    "PutUploader",
    "RequestsTransport",
    "SyncClient",
    "SyncError",
    "SyncReport",
    "Transport",
    "TransportError",
    "TusUploader",
]


@dataclass(frozen=True)
class Paths:
    """Where the server answers: push, pull, ``PUT {media}/{sha256}`` and tus uploads."""

    push: str = "/api/v1/sync/push"
    pull: str = "/api/v1/sync/pull"
    media: str = "/api/v1/media"
    uploads: str = "/api/v1/media/uploads"


# --- transport ----------------------------------------------------------------------------


class TransportError(Exception):
    """The request may or may not have reached the server; no response came back."""


@dataclass(frozen=True)
class HttpResponse:
    """What the client needs of an HTTP response."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        """Return the error code of an error body, if any."""
        if isinstance(self.body, Mapping):
            code = self.body.get("code")
            return code if isinstance(code, str) else None
        return None


class Transport(Protocol):
    """Sends one HTTP request; raises :class:`TransportError` when no response arrives."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse: ...


class RequestsTransport:
    """A :class:`Transport` over ``requests`` to a server at ``base_url``."""

    def __init__(self, base_url: str, session: Any = None, timeout: float = 30.0) -> None:
        import requests  # a dev/runtime dependency of the client only, not of the server

        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self._errors: tuple[type[BaseException], ...] = (requests.RequestException,)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send the request and return its response."""
        try:
            resp = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json,
                data=data,
                headers=dict(headers or {}),
                timeout=self.timeout,
            )
        except self._errors as exc:
            raise TransportError(str(exc)) from exc
        body: Any = None
        if resp.content and "json" in resp.headers.get("Content-Type", ""):
            try:
                body = resp.json()
            except ValueError:
                body = None
        return HttpResponse(resp.status_code, body, dict(resp.headers))


# --- errors and reports -------------------------------------------------------------------


class SyncError(Exception):
    """The server refused a request in a way the client cannot fix by retrying."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class SyncReport:
    """What one :meth:`SyncClient.sync` did."""

    pushed: int = 0
    applied: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    media_not_on_device: list[str] = field(default_factory=list)
    #: photos the server refused or that could not be sent; retried on the next sync
    upload_failed: dict[str, str] = field(default_factory=dict)
    pulled: int = 0
    pages: int = 0
    resets: int = 0
    gaps: int = 0


# --- media upload -------------------------------------------------------------------------


class MediaUploader(Protocol):
    """Uploads one photo the server reported in ``missing_media``."""

    def upload(self, sha256: str, data: bytes, content_type: str) -> None: ...


class PutUploader:
    """One-shot ``PUT {paths.media}/{sha256}``, for small photos."""

    def __init__(self, client: SyncClient) -> None:
        self.client = client

    def upload(self, sha256: str, data: bytes, content_type: str) -> None:
        """Upload ``data``; 200 and 201 both mean the server has it."""
        path = f"{self.client.paths.media}/{sha256}"
        resp = self.client.call("PUT", path, data=data, headers={"Content-Type": content_type})
        if resp.status not in (200, 201):
            raise SyncError(
                f"photo {sha256} refused: {resp.body!r}", status=resp.status, code=resp.code
            )


class TusUploader:
    """Resumable upload through tus 1.0 (tuspy), for photos of any size."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str | None],
        chunk_size: int = 1024 * 1024,
        path: str = Paths.uploads,
    ) -> None:
        self.url = base_url.rstrip("/") + path
        self.token = token
        self.chunk_size = chunk_size

    def upload(self, sha256: str, data: bytes, content_type: str) -> None:
        """Create an upload, PATCH the bytes in chunks with checksums, finish."""
        from tusclient import client as tus  # tuspy; imported only when a device uploads
        from tusclient.exceptions import TusCommunicationError, TusUploadFailed

        headers = {}
        access = self.token()
        if access:
            headers["Authorization"] = f"Bearer {access}"
        uploader = tus.TusClient(self.url, headers=headers).uploader(
            file_stream=io.BytesIO(data),
            chunk_size=self.chunk_size,
            metadata={"sha256": sha256, "filename": f"{sha256}.bin", "content_type": content_type},
            upload_checksum=True,
            retries=3,
            retry_delay=1,
        )
        try:
            uploader.upload()
        except (TusCommunicationError, TusUploadFailed) as exc:
            raise SyncError(f"tus upload of {sha256} failed: {exc}") from exc


class AutoUploader:
    """PUT for small photos, tus for larger ones (when a base URL is known)."""

    def __init__(self, put: MediaUploader, tus: MediaUploader | None, put_limit: int) -> None:
        self.put = put
        self.tus = tus
        self.put_limit = put_limit

    def upload(self, sha256: str, data: bytes, content_type: str) -> None:
        """Choose the upload method by size."""
        if self.tus is not None and len(data) > self.put_limit:
            self.tus.upload(sha256, data, content_type)
        else:
            self.put.upload(sha256, data, content_type)


# --- the client ---------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    code TEXT,
    message TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
CREATE TABLE IF NOT EXISTS entities (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS media (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0
);
"""


class SyncClient:
    """A device: persistent outbox, local copy, push-then-pull loop."""

    def __init__(
        self,
        path: str,
        transport: Transport,
        *,
        token: Callable[[], str | None] | None = None,
        refresh: Callable[[], bool] | None = None,
        uploader: MediaUploader | None = None,
        base_url: str | None = None,
        push_batch: int = 200,
        pull_limit: int = 500,
        max_attempts: int = 8,
        backoff_base: float = 0.25,
        backoff_max: float = 30.0,
        put_limit: int = 1024 * 1024,
        keep_acked: int = 10_000,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        client_id: uuid.UUID | None = None,
        paths: Paths | None = None,
        mutations: Mapping[str, Mutation] | None = None,
    ) -> None:
        self.transport = transport
        self.paths = paths = paths or Paths()
        self.mutations = mutations
        self.token = token or (lambda: None)
        self.refresh = refresh
        self.push_batch = push_batch
        self.pull_limit = pull_limit
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.keep_acked = keep_acked
        self.sleep = sleep
        self.random = random
        # One device, one thread at a time; tests and apps may hand the client to a worker.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        # Write-ahead logging: one fsync per transaction (of the log) instead of the rollback
        # journal's several, and readers never wait for the writer. synchronous stays FULL:
        # an enqueued change must survive a power cut, not only an app crash.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        with self._tx():
            stored = self._meta("client_id")
            if stored is None:
                stored = str(client_id or uuid.uuid4())
                self._set_meta("client_id", stored)
                self._set_meta("next_mutation_id", "1")
        self.client_id = uuid.UUID(stored)
        if uploader is None:
            tus = TusUploader(base_url, self.token, path=paths.uploads) if base_url else None
            uploader = AutoUploader(PutUploader(self), tus, put_limit)
        self.uploader = uploader

    # -- storage helpers

    def close(self) -> None:
        """Close the SQLite file."""
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- recording on the device

    def enqueue(self, name: str, args: Mapping[str, Any], *, validate: bool | None = None) -> int:
        """Append a mutation to the outbox and return its id.

        With ``validate`` (the default when the client was given ``mutations``) the args are
        checked against the mutation table first, so a typo is caught on the device rather
        than rejected by the server hours later.
        """
        if validate is None:
            validate = self.mutations is not None
        if validate:
            if self.mutations is None:
                raise ValueError("validate=True needs the mutations table (SyncClient(mutations=))")
            parse_args(name, args, self.mutations)
        payload = json.dumps(args, sort_keys=True)
        with self._tx():
            next_id = int(self._meta("next_mutation_id") or "1")
            self.db.execute(
                "INSERT INTO outbox (id, name, args, created_at) VALUES (?, ?, ?, ?)",
                (next_id, name, payload, datetime.now(UTC).isoformat()),
            )
            self._set_meta("next_mutation_id", str(next_id + 1))
        return next_id

    def add_photo(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Keep a photo on the device and return its SHA-256, for a mutation's args."""
        digest = hashlib.sha256(data).hexdigest()
        with self._tx():
            self.db.execute(
                "INSERT OR IGNORE INTO media (sha256, content_type, data) VALUES (?, ?, ?)",
                (digest, content_type, data),
            )
        return digest

    # -- reading the device state

    @property
    def cursor(self) -> str | None:
        """Return the stored pull cursor."""
        return self._meta("cursor")

    def get(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """Return the local copy of one entity."""
        row = self.db.execute(
            "SELECT data FROM entities WHERE type = ? AND id = ?", (entity_type, str(entity_id))
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def entities(self, entity_type: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """Return the local copy as ``{(type, id): data}``."""
        if entity_type is None:
            rows = self.db.execute("SELECT type, id, data FROM entities").fetchall()
        else:
            rows = self.db.execute(
                "SELECT type, id, data FROM entities WHERE type = ?", (entity_type,)
            ).fetchall()
        return {(r["type"], r["id"]): json.loads(r["data"]) for r in rows}

    def versions(self) -> dict[tuple[str, str], int | None]:
        """Return ``{(type, id): version}`` of the local copy."""
        rows = self.db.execute("SELECT type, id, version FROM entities").fetchall()
        return {(r["type"], r["id"]): r["version"] for r in rows}

    def outbox(self, state: str | None = None) -> list[dict[str, Any]]:
        """Return outbox rows (``pending``, ``applied``, ``rejected``) in id order."""
        sql = "SELECT id, name, args, state, code, message, result FROM outbox"
        params: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            params = (state,)
        rows = self.db.execute(sql + " ORDER BY id", params).fetchall()
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "args": json.loads(r["args"]),
                "state": r["state"],
                "code": r["code"],
                "message": r["message"],
                "result": json.loads(r["result"]) if r["result"] else None,
            }
            for r in rows
        ]

    # -- HTTP with retries

    def _backoff(self, attempt: int, retry_after: str | None = None) -> None:
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        delay *= 0.5 + 0.5 * self.random()  # jitter, so a fleet does not retry in step
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(self.backoff_max, float(retry_after)))
        self.sleep(delay)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send a request, retrying network errors, 429 and 5xx; refresh the token on 401."""
        refreshed = False
        attempt = 0
        while True:
            all_headers = dict(headers or {})
            access = self.token()
            if access:
                all_headers["Authorization"] = f"Bearer {access}"
            try:
                resp = self.transport.request(
                    method, path, params=params, json=json_body, data=data, headers=all_headers
                )
            except TransportError as exc:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise SyncError(f"{method} {path}: no response after {attempt} tries") from exc
                self._backoff(attempt - 1)
                continue
            if resp.status == 401 and self.refresh is not None and not refreshed:
                refreshed = True
                if self.refresh():
                    continue
            if resp.status == 429 or resp.status >= 500:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise SyncError(
                        f"{method} {path}: server still failing after {attempt} tries",
                        status=resp.status,
                        code=resp.code,
                    )
                self._backoff(attempt - 1, resp.headers.get("Retry-After"))
                continue
            return resp

    # -- push

    def _pending(self, limit: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, name, args FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    def push(self, report: SyncReport | None = None) -> SyncReport:
        """Push the outbox in batches until nothing is pending; upload missing photos."""
        report = report or SyncReport()
        missing: dict[str, None] = {}
        stalls = 0
        while True:
            batch = self._pending(self.push_batch)
            if not batch:
                break
            body = {
                "client_id": str(self.client_id),
                "mutations": [
                    {"id": r["id"], "name": r["name"], "args": json.loads(r["args"])} for r in batch
                ],
            }
            resp = self.call("POST", self.paths.push, json_body=body)
            if resp.status == 409 and resp.code == "sync.mutation_gap":
                report.gaps += 1
                stalls += 1
                if stalls > 3:
                    raise SyncError("the server keeps reporting a mutation gap", 409, resp.code)
                self._resend_from(int(resp.body["expected_id"]))
                continue
            if resp.status != 200:
                raise SyncError(f"push refused: {resp.body!r}", status=resp.status, code=resp.code)
            progressed = self._acknowledge(resp.body, report)
            report.pushed += len(batch)
            for digest in resp.body.get("missing_media") or ():
                missing[digest] = None
            stalls = 0 if progressed else stalls + 1
            if stalls > 3:
                raise SyncError("the server acknowledges nothing of this outbox", 200)
        self._upload(list(missing), report)
        self._prune_acked()
        return report

    def _resend_from(self, expected_id: int) -> None:
        """Mark everything from ``expected_id`` on as pending again (the server lost it)."""
        row = self.db.execute("SELECT MIN(id) FROM outbox").fetchone()
        oldest = row[0]
        next_id = int(self._meta("next_mutation_id") or "1")
        if expected_id >= next_id or oldest is None or oldest > expected_id:
            raise SyncError(
                f"the server expects mutation {expected_id}, which this device no longer has",
                409,
                "sync.mutation_gap",
            )
        with self._tx():
            self.db.execute(
                "UPDATE outbox SET state = 'pending', code = NULL, message = NULL, result = NULL "
                "WHERE id >= ?",
                (expected_id,),
            )

    def _acknowledge(self, body: Mapping[str, Any], report: SyncReport) -> bool:
        """Store the results of a push; return whether any pending mutation was settled."""
        last = int(body["last_mutation_id"])
        results = {int(r["id"]): r for r in body.get("results") or ()}
        with self._tx():
            # Only mutations still pending are settled (a replayed result changes nothing).
            pending = {
                row[0]
                for row in self.db.execute(
                    "SELECT id FROM outbox WHERE state = 'pending' AND id BETWEEN ? AND ?",
                    (min(results, default=0), max(results, default=-1)),
                )
            }
            settled = [r for mid, r in results.items() if mid in pending]
            self.db.executemany(
                "UPDATE outbox SET state = ?, code = ?, message = ?, result = ? WHERE id = ?",
                [
                    (
                        "rejected" if r.get("status") == "rejected" else "applied",
                        r.get("code"),
                        r.get("message"),
                        json.dumps(r),
                        int(r["id"]),
                    )
                    for r in settled
                ],
            )
            for r in settled:
                if r.get("status") == "rejected":
                    report.rejected.append(dict(r))
                else:
                    report.applied += 1
            # Anything at or below the server's counter is settled even without a result.
            cur = self.db.execute(
                "UPDATE outbox SET state = 'applied' WHERE state = 'pending' AND id <= ?", (last,)
            )
        return bool(settled) or cur.rowcount > 0

    def _prune_acked(self) -> None:
        with self._tx():
            self.db.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND id <= "
                "(SELECT MAX(id) FROM outbox) - ?",
                (self.keep_acked,),
            )

    def _upload(self, digests: Sequence[str], report: SyncReport) -> None:
        for digest in digests:
            row = self.db.execute(
                "SELECT content_type, data FROM media WHERE sha256 = ?", (digest,)
            ).fetchone()
            if row is None:
                report.media_not_on_device.append(digest)
                continue
            try:
                self.uploader.upload(digest, bytes(row["data"]), row["content_type"])
            except (SyncError, TransportError, OSError) as exc:
                # A refused or unsendable photo must not stop the sync; the server still
                # misses it, and the next pull (or a replay of the push) asks for it again.
                report.upload_failed[digest] = str(exc)
                continue
            with self._tx():
                self.db.execute("UPDATE media SET uploaded = 1 WHERE sha256 = ?", (digest,))
            report.uploaded.append(digest)

    # -- pull

    def reset(self) -> None:
        """Drop the local copy and the cursor; the unpushed outbox stays."""
        with self._tx():
            self.db.execute("DELETE FROM entities")
            self._set_meta("cursor", None)

    def pull(self, report: SyncReport | None = None) -> SyncReport:
        """Pull pages until ``has_more`` is false, resetting when the server says so."""
        report = report or SyncReport()
        resets = 0
        awaited: dict[str, None] = {}
        while True:
            params: dict[str, Any] = {"client_id": str(self.client_id), "limit": self.pull_limit}
            cursor = self.cursor
            if cursor is not None:
                params["cursor"] = cursor
            resp = self.call("GET", self.paths.pull, params=params)
            if resp.status == 409 and resp.code == "sync.reset_required":
                resets += 1
                report.resets += 1
                if resets > 3:
                    raise SyncError("the server keeps asking for a reset", 409, resp.code)
                self.reset()
                continue
            if resp.status != 200:
                raise SyncError(f"pull refused: {resp.body!r}", status=resp.status, code=resp.code)
            self._apply_page(resp.body)
            report.pages += 1
            report.pulled += len(resp.body.get("changes") or ())
            # Photos our own findings still wait for: the answer that named them may be lost.
            awaited.update(dict.fromkeys(resp.body.get("missing_media") or ()))
            if not resp.body.get("has_more"):
                break
        self._upload([d for d in awaited if d not in report.uploaded], report)
        return report

    def _apply_page(self, body: Mapping[str, Any]) -> None:
        """Apply one page's changes and store its cursor in the same SQLite transaction."""
        with self._tx():
            for change in body.get("changes") or ():
                key = (change["type"], str(change["id"]))
                if change["op"] == "delete":
                    self.db.execute("DELETE FROM entities WHERE type = ? AND id = ?", key)
                else:
                    self.db.execute(
                        "INSERT INTO entities (type, id, version, data) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (type, id) DO UPDATE "
                        "SET version = excluded.version, data = excluded.data",
                        (*key, change.get("version"), json.dumps(change.get("data"))),
                    )
            self._set_meta("cursor", body["cursor"])

    # -- the loop

    def sync(self) -> SyncReport:
        """Push everything, upload missing photos, then pull until there is no more."""
        report = SyncReport()
        self.push(report)
        self.pull(report)
        return report
