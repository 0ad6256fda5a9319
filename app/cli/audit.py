"""`fieldsafe audit …`: the hash-chained audit log."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.audit.hooks import bind_existing
from app.audit.services import verify_chain
from app.db import get_db


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the hash chain and the rows bound to it; exit 1 naming the first one broken."""
    with get_db().new_session() as db:
        result = verify_chain(db)
    if result.ok:
        click.echo(
            f"audit log intact: {result.checked} entries, {result.rows_checked} bound rows match"
        )
        return
    if result.table is not None:
        click.echo(
            f"audit log BROKEN at row {result.table} id={result.row_id}: {result.reason} "
            f"({result.rows_broken} rows broken in all; the {result.checked} entries are intact)",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"audit log BROKEN at entry seq={result.broken_seq}: {result.reason} "
        f"({result.checked} entries before it are intact)",
        err=True,
    )
    sys.exit(1)


@audit_group.command("bind-existing")
@with_appcontext
def audit_bind_existing() -> None:
    """Bind to the chain the covered rows written before binding existed (once, on upgrade)."""
    with get_db().new_session() as db:
        count = bind_existing(db)
        db.commit()
    click.echo(f"bound {count} rows that no audit entry bound yet")
