"""`fieldsafe serve`, `fieldsafe db upgrade` and `fieldsafe demo`."""

from __future__ import annotations

import logging
import sys
import threading
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from app.demo import load_demo
from app.errors import JSONErrorRequestHandler
from app.migrate import upgrade
from app.planning.services import run_draw_jobs
from app.settings import get_settings

log = logging.getLogger("fieldsafe.serve")


def run_draws_forever(app: Flask) -> None:
    """Run queued 双随机 draws as they come, as `fieldsafe worker` does (the serve thread)."""
    with app.app_context():
        poll = get_settings().worker_poll_seconds
    while True:
        try:
            with app.app_context():
                ran = run_draw_jobs()
        except Exception:  # noqa: BLE001 - the job was put back; retry after a pause
            log.exception("draw job failed")
            ran = 0
        if not ran:
            time.sleep(poll)


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (FIELDSAFE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (FIELDSAFE_PORT, 5000).")
@with_appcontext
def serve_command(host: str | None, port: int | None) -> None:
    """Serve the API (development server; use gunicorn 'app:create_app()' in production)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # The demo server runs queued draws itself (production runs `fieldsafe worker`).
    threading.Thread(target=run_draws_forever, args=(app,), name="draws", daemon=True).start()
    # app.run() refuses to start under the flask CLI, so call werkzeug directly.
    run_simple(
        host or app.config["HOST"],
        port or app.config["PORT"],
        app,
        threaded=True,
        request_handler=JSONErrorRequestHandler,
    )


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Upgrade the database to the newest migration."""
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database upgraded to {revision}")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo district, accounts, enterprises and work (idempotent; not in production)."""
    if current_app.config["ENV"] == "production":
        click.echo(
            "refused: FIELDSAFE_ENV=production; demo accounts have a public password", err=True
        )
        sys.exit(2)

    summary = load_demo()
    click.echo("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
