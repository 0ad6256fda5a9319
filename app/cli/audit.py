"""`fieldsafe audit …`: the hash-chained audit log."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.audit.services import verify_chain
from app.db import get_db


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check every audit entry's hash chain; exit 1 naming the first broken entry."""

    with get_db().new_session() as db:
        result = verify_chain(db)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries")
        return
    click.echo(
        f"audit log BROKEN at entry seq={result.broken_seq}: {result.reason} "
        f"({result.checked} entries before it are intact)",
        err=True,
    )
    sys.exit(1)
