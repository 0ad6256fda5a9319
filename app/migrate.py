"""Alembic, driven from the app: upgrade to head, and tell whether a database is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    """Return the Alembic config for the project's migrations and the database `url`."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision`."""
    command.upgrade(alembic_config(url), revision)


def is_at_head(conn: Connection) -> bool:
    """Tell whether the connected database is at the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(str(conn.engine.url)))
    current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(script.get_heads())
