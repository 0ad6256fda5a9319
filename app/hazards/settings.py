"""Hazard, review and notification settings, read from the app config (see app/config.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app


def setting(name: str) -> Any:
    """Return a setting from the app's config (FIELDSAFE_<name> in the environment)."""
    return current_app.config[name]


def responsible_departments() -> dict[str, str]:
    """Return the industry → department map that decides who may close a ticket."""
    raw = setting("HAZARD_RESPONSIBLE_DEPARTMENTS")
    if isinstance(raw, dict):
        return dict(raw)
    pairs = (p.split(":", 1) for p in str(raw).split(",") if ":" in p)
    return {k.strip(): v.strip() for k, v in pairs}


def responsible_department(industry: str) -> str:
    """Return the department whose supervisors close tickets of `industry`."""
    return responsible_departments().get(industry) or setting("HAZARD_DEFAULT_DEPARTMENT")
