"""`fieldsafe audit …`: the hash-chained audit log."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.audit.hooks import bind_existing
from app.audit.services import anchor, verify_chain
from app.db import get_db


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@click.option("--anchor", "then_anchor", is_flag=True, help="Write an anchor if the log is intact.")
@with_appcontext
def audit_verify(then_anchor: bool) -> None:
    """Check the hash chains, their anchors and the rows bound to them; exit 1 naming the first
    one broken."""
    with get_db().new_session() as db:
        result = verify_chain(db)
    if result.ok:
        latest = (
            f"latest anchor #{result.anchor[0]} hash {result.anchor[1]}"
            if result.anchor
            else "no anchor yet"
        )
        click.echo(
            f"audit log intact: {result.checked} entries in {result.chains} chains, "
            f"{result.rows_checked} bound rows match; {latest}"
        )
        if then_anchor:
            _write_anchor()
        return
    if result.table is not None:
        click.echo(
            f"audit log BROKEN at row {result.table} id={result.row_id}: {result.reason} "
            f"({result.rows_broken} rows broken in all; the {result.checked} entries are intact)",
            err=True,
        )
        sys.exit(1)
    seq = f"seq={result.broken_seq} " if result.broken_seq is not None else ""
    click.echo(
        f"audit log BROKEN at entry {seq}(chain {result.chain} #{result.chain_seq}): "
        f"{result.reason} ({result.checked} entries before it are intact)",
        err=True,
    )
    sys.exit(1)


def _write_anchor() -> None:
    with get_db().new_session() as db:
        entry = anchor(db)
        db.commit()
    click.echo(
        f"anchor #{entry.chain_seq} written: {len(entry.data['heads'])} chain heads, "
        f"hash {entry.hash}"
    )


@audit_group.command("anchor")
@with_appcontext
def audit_anchor() -> None:
    """Bind every chain's head into an anchor entry of chain 0 (run it periodically)."""
    _write_anchor()


@audit_group.command("bind-existing")
@with_appcontext
def audit_bind_existing() -> None:
    """Bind to the chain the covered rows written before binding existed (once, on upgrade)."""
    with get_db().new_session() as db:
        count = bind_existing(db)
        db.commit()
    click.echo(f"bound {count} rows that no audit entry bound yet")
