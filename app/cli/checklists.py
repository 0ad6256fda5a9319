"""`fieldsafe checklists …`: the checklist library."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.checklists.services import LIBRARY_DIR, ChecklistLoadError, load_library
from app.db import session


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
