"""The `fieldsafe sync` commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.audit.services import record
from app.changelog import SYNC_TABLES
from app.clock import utcnow
from app.db import session
from app.sync.services import prune
from sync.cursor import rotate_epoch


@click.group("sync")
def sync_group() -> None:
    """The offline-sync change log."""


@sync_group.command("prune")
@with_appcontext
def sync_prune() -> None:
    """Delete change rows and push results older than FIELDSAFE_SYNC_RETENTION_DAYS (cron)."""
    removed = prune(now=utcnow())
    session.commit()
    click.echo(f"pruned {removed} change rows")


@sync_group.command("rotate-epoch")
@with_appcontext
def sync_rotate_epoch() -> None:
    """Start a new change-log epoch (after a restore): every device re-downloads its scope."""
    epoch = rotate_epoch(session, SYNC_TABLES, utcnow())
    record("sync.rotate_epoch", "sync_state", 1, {"epoch": epoch}, actor=None)
    session.commit()
    click.echo(f"new sync epoch {epoch}; devices will reset on their next pull")
