"""`fieldsafe checklists load | sources | diff | coverage`: the checklist library, its documents,
what changed between versions, and which items cover each major-hazard situation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from app.checklists.editions import diff_contents, render_diff
from app.checklists.services import (
    LIBRARY_DIR,
    ChecklistLoadError,
    get_checklist,
    load_library,
    read_library,
)
from app.checklists.sources import (
    item_counts,
    render_coverage,
    render_sources_md,
    replace_coverage_section,
)
from app.clock import utcnow
from app.db import session
from app.errors import DomainError

#: ``--dir``: the library folder a command reads (the project's ``checklists/`` when left out).
library_dir = click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Library folder (default: the project's checklists/).",
)


@click.group("checklists")
def checklists_group() -> None:
    """The checklist library."""


@checklists_group.command("load")
@library_dir
@with_appcontext
def checklists_load(directory: Path | None) -> None:
    """Publish changed checklist files as new versions; refuse all if any file is invalid."""
    try:
        report = load_library(directory or LIBRARY_DIR, now=utcnow())
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


SOURCES_MD = "SOURCES.md"


def _library(directory: Path) -> dict[str, dict[str, Any]]:
    """Read the library or exit 1 naming every problem."""
    try:
        return read_library(directory)
    except ChecklistLoadError as exc:
        click.echo("the library is invalid:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)


@checklists_group.command("sources")
@library_dir
@click.option("--check", is_flag=True, help="Exit 1 if SOURCES.md is out of date; write nothing.")
def sources_command(directory: Path | None, check: bool) -> None:
    """Write SOURCES.md: each document the checklists cite, its items, where it was read."""
    folder = directory or LIBRARY_DIR
    library = _library(folder)
    text = render_sources_md(library)
    target = folder / SOURCES_MD
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            click.echo(f"{target} is out of date; run `fieldsafe checklists sources`", err=True)
            sys.exit(1)
        click.echo(f"{target} is up to date")
        return
    target.write_text(text, encoding="utf-8")
    for industry, counts in item_counts(library).items():
        click.echo(
            f"{industry}: {counts['items']} items, {counts['major']} major, "
            f"{counts['verified']} verified"
        )
    click.echo(f"wrote {target}")


@checklists_group.command("diff")
@click.argument("industry")
@click.argument("v1", type=int)
@click.argument("v2", type=int)
@with_appcontext
def diff_command(industry: str, v1: int, v2: int) -> None:
    """Show the items added, removed, regraded and re-based from version V1 to V2."""
    try:
        old, new = get_checklist(industry, v1), get_checklist(industry, v2)
    except DomainError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    for line in render_diff(industry, v1, v2, diff_contents(old.content, new.content)):
        click.echo(line)


@checklists_group.command("coverage")
@library_dir
@click.option("--readme", is_flag=True, help="Rewrite the coverage section of README.md instead.")
def coverage_command(directory: Path | None, readme: bool) -> None:
    """List per industry each major-hazard situation of its criteria and the items covering it."""
    folder = directory or LIBRARY_DIR
    report = render_coverage(_library(folder))
    if not readme:
        click.echo(report, nl=False)
        return
    target = folder / "README.md"
    target.write_text(
        replace_coverage_section(target.read_text(encoding="utf-8"), report), encoding="utf-8"
    )
    click.echo(f"wrote the coverage section of {target}")
