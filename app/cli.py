"""The `fieldsafe` command: serve, db upgrade, demo, checklists load, audit verify …"""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from app.errors import JSONErrorRequestHandler
from app.preflight import check_command


def main() -> None:
    """Run the `fieldsafe` console script."""
    from app import create_app

    cli = FlaskGroup(
        create_app=lambda: create_app(),
        add_default_commands=False,
        help="Fieldsafe: work-safety inspections.",
    )
    cli.add_command(check_command)  # runs without the app: production may refuse to create it
    cli.main(prog_name="fieldsafe")


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (FIELDSAFE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (FIELDSAFE_PORT, 5000).")
@with_appcontext
def serve_command(host: str | None, port: int | None) -> None:
    """Serve the API (development server; use gunicorn 'app:create_app()' in production)."""
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
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
    from app.migrate import upgrade

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
    from app.demo import load_demo

    summary = load_demo()
    click.echo("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in summary.items()))


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check every audit entry's hash chain; exit 1 naming the first broken entry."""
    from app.audit.services import verify_chain
    from app.db import get_db

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


@click.group("checklists")
def checklists_group() -> None:
    """The checklist library."""


@checklists_group.command("load")
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Library folder (default: the project's checklists/).",
)
@with_appcontext
def checklists_load(directory: str | None) -> None:
    """Publish changed checklist files as new versions; refuse all if any file is invalid."""
    from pathlib import Path

    from app.checklists.services import LIBRARY_DIR, ChecklistLoadError, load_library
    from app.db import session

    try:
        report = load_library(Path(directory) if directory else LIBRARY_DIR)
    except ChecklistLoadError as exc:
        session.rollback()
        click.echo("refused, nothing imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    session.commit()
    for industry, version in report.published:
        click.echo(f"published {industry} v{version}")
    click.echo(f"{len(report.published)} published, {len(report.unchanged)} unchanged")


def register_cli(app: Flask) -> None:
    """Attach every command to the app's CLI group."""
    for command in (serve_command, db_group, demo_command, audit_group, checklists_group):
        app.cli.add_command(command)
    from app.media.cli import media_group

    app.cli.add_command(media_group)
    from app.planning.cli import sampling_group

    app.cli.add_command(sampling_group)
    from app.hazards.cli import hazards_group
    from app.notifications.cli import notifications_group, worker_command

    for command in (hazards_group, worker_command, notifications_group):
        app.cli.add_command(command)
    from app.sync.cli import sync_group

    app.cli.add_command(sync_group)
