"""The `fieldsafe media` commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.clock import utcnow
from app.media.services import cleanup_uploads


@click.group("media")
def media_group() -> None:
    """Photo storage and uploads."""


@media_group.command("cleanup")
@with_appcontext
def media_cleanup() -> None:
    """Delete expired tus uploads and orphaned spool files (run hourly from cron)."""
    removed = cleanup_uploads(now=utcnow())
    click.echo(f"removed {removed} expired uploads or spool files")
