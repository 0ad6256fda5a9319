"""The `fieldsafe hazards` commands."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext

from app.clock import utcnow
from app.db import session
from app.hazards.sweep import sweep_batch


def run_sweep(*, now: datetime, batch: int = 100) -> dict[str, int]:
    """Run the sweep as of `now` to the end, committing after each batch (a job boundary)."""
    totals = {"due_soon": 0, "overdue": 0, "escalated": 0}
    after = None
    while True:
        try:
            counts, after = sweep_batch(now, after, batch)
            session.commit()
        except Exception:
            session.rollback()
            raise
        for key, value in counts.items():
            totals[key] += value
        if after is None:
            return totals


@click.group("hazards")
def hazards_group() -> None:
    """Hazard tickets."""


@hazards_group.command("sweep")
@with_appcontext
def hazards_sweep() -> None:
    """Send due-soon/overdue notices and raise overdue tickets one escalation step (cron-able)."""
    totals = run_sweep(now=utcnow())
    click.echo(
        f"sweep done: {totals['due_soon']} due soon, {totals['overdue']} newly overdue, "
        f"{totals['escalated']} escalated"
    )
