"""The `fieldsafe` console script: the Flask CLI over :func:`app.create_app`."""

from __future__ import annotations

from flask.cli import FlaskGroup

from app import create_app
from app.preflight import check_command


def main() -> None:
    """Run the `fieldsafe` console script."""
    cli = FlaskGroup(
        create_app=lambda: create_app(),
        add_default_commands=False,
        help="Fieldsafe: work-safety inspections.",
    )
    cli.add_command(check_command)  # runs without the app: production may refuse to create it
    cli.main(prog_name="fieldsafe")
