"""`fieldsafe sampling …`: recompute a plan's draws from the record alone."""

from __future__ import annotations

import sys
import uuid

import click
from flask.cli import with_appcontext

from app.db import get_db
from app.planning.services import verify_plan


@click.group("sampling")
def sampling_group() -> None:
    """双随机 sampling plans."""


@sampling_group.command("verify")
@click.argument("plan_id", type=click.UUID)
@with_appcontext
def sampling_verify(plan_id: uuid.UUID) -> None:
    """Recompute every draw of PLAN_ID from its record; exit 1 listing any difference."""
    with get_db().new_session() as db:
        diffs = verify_plan(db, plan_id)
    if not diffs:
        click.echo(f"sampling plan {plan_id}: every draw recomputes exactly")
        return
    for line in diffs:
        click.echo(line, err=True)
    click.echo(f"sampling plan {plan_id}: {len(diffs)} difference(s)", err=True)
    sys.exit(1)
