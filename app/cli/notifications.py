"""`fieldsafe worker` and the `fieldsafe notifications` commands (dead-letter list, requeue)."""

from __future__ import annotations

import sys
import uuid

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update

from app.audit.services import record
from app.cli.hazards import run_sweep
from app.clock import utcnow
from app.db import get_db, session
from app.notifications.models import NotificationDelivery, NotificationEvent
from app.notifications.worker import WorkerConfig, run_worker
from app.planning.services import run_draw_jobs
from app.settings import get_settings


@click.command("worker")
@click.option("--once", is_flag=True, help="One delivery round, then exit.")
@click.option("--drain", is_flag=True, help="Exit once nothing is left to deliver.")
@click.option("--max-seconds", type=float, default=None, help="Exit after this long.")
@click.option("--no-sweep", is_flag=True, help="Do not run the hazard sweep in this worker.")
@with_appcontext
def worker_command(once: bool, drain: bool, max_seconds: float | None, no_sweep: bool) -> None:
    """Deliver notification events to the webhooks, run queued draws and the hazard sweep."""
    settings = get_settings()
    cfg = WorkerConfig.from_settings(settings)
    if cfg.urls and not cfg.secret:
        click.echo(
            "refused: FIELDSAFE_WEBHOOK_URLS is set but FIELDSAFE_WEBHOOK_SECRET is not", err=True
        )
        sys.exit(2)
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def sweep() -> None:
        with app.app_context():
            totals = run_sweep(now=utcnow())
        if any(totals.values()):
            click.echo(f"sweep: {totals}")

    def draws() -> int:
        with app.app_context():
            ran = run_draw_jobs()
        if ran:
            click.echo(f"draws: {ran} done")
        return ran

    report = run_worker(
        get_db().new_session,
        cfg,
        once=once,
        drain=drain,
        max_seconds=max_seconds,
        poll_seconds=settings.worker_poll_seconds,
        sweep_seconds=settings.worker_sweep_seconds,
        sweep=None if no_sweep else sweep,
        jobs=draws,
    )
    click.echo(
        f"worker stopped: {report.delivered} delivered, {report.failed} to retry, "
        f"{report.dead} dead"
    )


@click.group("notifications")
def notifications_group() -> None:
    """The notification outbox and its dead-letter list."""


@notifications_group.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), default="dead")
@click.option("--limit", type=int, default=50)
@with_appcontext
def notifications_list(status: str, limit: int) -> None:
    """List deliveries (by default the dead-letter list)."""
    rows = session.execute(
        select(NotificationDelivery, NotificationEvent)
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .where(NotificationDelivery.status == status)
        .order_by(NotificationDelivery.created_at.desc())
        .limit(limit)
    ).all()
    for d, e in rows:
        click.echo(
            f"{d.id}  {e.type:<18} {e.entity_id}  attempts={d.attempts} "
            f"last={d.last_status or '-'} {d.last_error or ''}  {d.url}"
        )
    click.echo(f"{len(rows)} {status}")


@notifications_group.command("requeue")
@click.argument("delivery_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Requeue every dead delivery.")
@with_appcontext
def notifications_requeue(delivery_ids: tuple[str, ...], all_dead: bool) -> None:
    """Give dead deliveries a fresh set of attempts (same event, same idempotency key)."""
    stmt = update(NotificationDelivery).where(NotificationDelivery.status == "dead")
    if not all_dead:
        if not delivery_ids:
            click.echo("name delivery ids, or --all-dead", err=True)
            sys.exit(2)
        stmt = stmt.where(NotificationDelivery.id.in_([uuid.UUID(i) for i in delivery_ids]))
    result = session.execute(
        stmt.values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None)
    )
    count = result.rowcount or 0  # type: ignore[attr-defined]
    record("notifications.requeue", "notification_delivery", None, {"count": count}, actor=None)
    session.commit()
    click.echo(f"requeued {count}")
