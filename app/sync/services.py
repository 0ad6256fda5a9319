"""Sync services: push, pull and housekeeping, binding the engine to the application.

Domains record their writes through :mod:`app.changelog`. The engine itself (cursor, feed,
apply loop) is the ``sync`` library; this module binds it to the application's models, scopes,
clock and configuration.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit.services import record_at_commit
from app.changelog import SYNC_TABLES
from app.db import session
from app.errors import DomainError
from app.i18n import _, _l, localize
from app.inspections.photos import photos_awaited_from
from app.inspections.visibility import is_started, log_confidential_reads
from app.media.services import missing_media
from app.org.models import User
from app.sync.models import SyncClient
from app.sync.scope import UserScope
from sync.cursor import CursorCodec, CursorError
from sync.feed import PullPage, prune_changes, pull_page
from sync.protocol import PushRequest
from sync.push import ClientTaken, MutationGap, MutationSpec, PushOutcome, apply_push

# --------------------------------------------------------------------------- configuration

#: what the cursor key is derived under (the cursors devices hold were signed with it)
CURSOR_KEY_CONTEXT = b"fieldsafe/sync-cursor/v1"


def cursor_codec() -> CursorCodec:
    """Return the cursor codec keyed by the app's secret, with the configured retention."""
    return CursorCodec(
        current_app.config["SECRET_KEY"],
        retention=timedelta(days=int(current_app.config["SYNC_RETENTION_DAYS"])),
        context=CURSOR_KEY_CONTEXT,
    )


def _transient(exc: DBAPIError) -> bool:
    """Tell whether a database error is worth retrying (serialization, deadlock, busy)."""
    state = getattr(exc.orig, "sqlstate", None)
    return state in ("40001", "40P01", "55P03") or "database is locked" in str(exc.orig)


#: A client_id is one install's: another user's push or pull with it is refused.
_CLIENT_TAKEN = _l("This client_id belongs to another user's install; generate a new client_id.")


def _busy() -> DomainError:
    return DomainError(
        "server.busy",
        503,
        _("The server is busy with a conflicting change; retry this request shortly."),
        headers={"Retry-After": "1"},
    )


def _bind(client_id: uuid.UUID, user: User) -> str:
    return f"{client_id}:{user.id}"


# --------------------------------------------------------------------------- push


def mutation_specs() -> Mapping[str, MutationSpec]:
    """Return the mutations this app applies (wired per app in ``app.wiring``)."""
    return current_app.extensions["sync_mutations"]  # type: ignore[no-any-return]


def push(user: User, body: PushRequest, *, now: datetime) -> PushOutcome:
    """Apply a device's push exactly once, as of `now`; answer the stored results of replays."""
    try:
        outcome = apply_push(
            session,
            SYNC_TABLES,
            body,
            actor=user,
            user_id=user.id,
            mutations=mutation_specs(),
            now=now,
            translate=localize,
            media_missing=missing_media,
            restart=session.rollback,
        )
    except MutationGap as gap:
        raise DomainError(
            "sync.mutation_gap",
            409,
            _(
                "Mutations are missing before this push; resend from id %(id)s.",
                id=gap.expected_id,
            ),
            expected_id=gap.expected_id,
        ) from gap
    except ClientTaken as exc:
        raise DomainError(
            "sync.client_taken",
            409,
            _CLIENT_TAKEN,
        ) from exc
    except DBAPIError as exc:
        if _transient(exc):
            raise _busy() from exc
        raise
    if outcome.applied or outcome.rejected:
        record_at_commit(
            "sync.push",
            "sync_client",
            body.client_id,
            {
                "last_mutation_id": outcome.last_mutation_id,
                "applied": outcome.applied,
                "rejected": outcome.rejected,
                "rejections": [
                    {"id": r["id"], "code": r.get("code")}
                    for r in outcome.results
                    if r["status"] == "rejected"
                ][:100],
            },
            actor=user,
            db=session,
        )
    return outcome


# --------------------------------------------------------------------------- pull


def begin_snapshot(db: Session) -> None:
    """Make the rest of this request read one REPEATABLE READ snapshot (PostgreSQL).

    The request's session already ran the token lookup, so that transaction is ended first
    (nothing was written) and a new one is opened at the stronger isolation level. When the
    session is bound to a connection that is already in a transaction (the tests'), the
    snapshot of that transaction is used as it is.
    """
    bind = db.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        db.commit()
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})


#: A pull that collides with a concurrent transaction (the same device's aborted pull still
#: running on its known set, the first pulls of a fresh database creating the epoch row) fails
#: with a serialization error under REPEATABLE READ. Nothing of it was written: it is redone on
#: a fresh snapshot, up to this many times in all, before the device is told to retry (503).
PULL_ATTEMPTS = 4


def pull(
    user: User, client_id: uuid.UUID, cursor: str | None, limit: int, *, now: datetime
) -> dict[str, Any]:
    """Return one page of the user's scoped change feed, as of `now`."""
    for attempt in range(1, PULL_ATTEMPTS + 1):
        try:
            page, scope = _pull_page(user, client_id, cursor, limit, now)
            break
        except DBAPIError as exc:
            if not _transient(exc):
                raise
            if attempt == PULL_ATTEMPTS or not isinstance(session.get_bind(), Engine):
                raise _busy() from exc
            session.rollback()
            time.sleep(random.uniform(0.005, 0.02 * attempt))  # let the other one finish
    _log_confidential_reads(session, user, scope.sent_inspections, now)
    return {
        "cursor": page.cursor,
        "has_more": page.has_more,
        "last_mutation_id": page.last_mutation_id,
        "changes": page.changes,
        "missing_media": photos_awaited_from(user.id),
    }


def _pull_page(
    user: User, client_id: uuid.UUID, cursor: str | None, limit: int, now: datetime
) -> tuple[PullPage, UserScope]:
    """Read one page on a fresh snapshot; a transient database error propagates."""
    begin_snapshot(session)
    _check_client(session, client_id, user)
    scope = UserScope(session, user, now)
    try:
        page = pull_page(
            session,
            SYNC_TABLES,
            codec=cursor_codec(),
            scope=scope,
            client_id=client_id,
            bind=_bind(client_id, user),
            token=cursor,
            limit=limit,
            now=now,
        )
    except CursorError as exc:
        raise DomainError("sync.reset_required", 409, exc.message, reason=exc.reason) from exc
    return page, scope


def _log_confidential_reads(
    db: Session, user: User, inspections: Sequence[Any], now: datetime
) -> None:
    """Audit every not-yet-started inspection the feed hands out (四不两直 confidentiality).

    The pull reads one REPEATABLE READ snapshot; appending to the audit chain there would
    fail whenever anyone else appended since the snapshot began. So on PostgreSQL the
    entries are written and committed in their own transaction, before the page is
    returned: a page that then fails to commit leaves a logged read that did not reach the
    device, never a read that was not logged.
    """
    unstarted = [i for i in inspections if not is_started(i)]
    if not unstarted:
        return
    bind = db.get_bind()
    own = isinstance(bind, Engine) and bind.dialect.name == "postgresql"
    audit_db = Session(bind) if own else db
    try:
        log_confidential_reads(user, unstarted, "sync", now, db=audit_db)
        if own:
            audit_db.commit()
    finally:
        if own:
            audit_db.close()


def _check_client(db: Session, client_id: uuid.UUID, user: User) -> None:

    owner = db.execute(select(SyncClient.user_id).where(SyncClient.client_id == client_id)).scalar()
    if owner is not None and owner != user.id:
        raise DomainError(
            "sync.client_taken",
            409,
            _CLIENT_TAKEN,
        )


# --------------------------------------------------------------------------- housekeeping


def prune(*, now: datetime) -> int:
    """Delete change rows and push results older than the retention; return rows deleted."""
    days = int(current_app.config["SYNC_RETENTION_DAYS"])
    return prune_changes(session, SYNC_TABLES, now - timedelta(days=days), now)
