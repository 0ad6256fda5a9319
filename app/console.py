"""The `fieldsafe` console script: the Flask CLI over :func:`app.create_app`."""

from __future__ import annotations

from flask.cli import FlaskGroup

from app import create_app


def main() -> None:
    """Run the `fieldsafe` console script."""
    cli = FlaskGroup(
        create_app=lambda: create_app(),
        add_default_commands=False,
        help="Fieldsafe: work-safety inspections.",
    )
    cli.main(prog_name="fieldsafe")
