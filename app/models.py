"""Import every domain's models so the metadata is complete (Alembic and tests use this)."""

from __future__ import annotations

import importlib
import pkgutil

import app
from app.db import Base


def load_all_models() -> None:
    """Import app.<domain>.models for every domain package that has one."""
    for mod in pkgutil.iter_modules(app.__path__):
        if mod.ispkg:
            try:
                importlib.import_module(f"app.{mod.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"app.{mod.name}.models":
                    raise


load_all_models()
metadata = Base.metadata
