"""Hazard, review and notification settings: app config first, then FIELDSAFE_* variables.

These live beside the code that uses them (not in app/config.py) so this package stays
self-contained; each can be set as ``FIELDSAFE_<NAME>`` in the environment or as ``<NAME>`` in
the config handed to ``create_app`` (tests do the latter).
"""

from __future__ import annotations

import os
from typing import Any

from flask import current_app, has_app_context

DEFAULTS: dict[str, Any] = {
    # 文号 prefix: 长宁隐〔2026〕0001号.
    "HAZARD_NUMBER_PREFIX": "长宁隐",
    # Default rectification deadline (days from issue) per grade.
    "HAZARD_DEADLINE_DAYS_GENERAL": 7,
    "HAZARD_DEADLINE_DAYS_MAJOR": 60,
    # "Due soon" notification this many days before the deadline.
    "HAZARD_DUE_SOON_DAYS": 3,
    # An overdue ticket rises one escalation step per interval (函告 → 通报 → 约谈 → 曝光).
    "HAZARD_ESCALATION_INTERVAL_DAYS": 7,
    # Which department's supervisors sign off (销号) a ticket, by industry; see docs/hazards.md.
    "HAZARD_RESPONSIBLE_DEPARTMENTS": (
        "commercial_complex:fire,medical_elderly_care:fire,hazardous_chemicals:emergency,"
        "gas_catering:construction,factory_warehouse:emergency,confined_space:emergency,"
        "high_rise:fire,ebike_charging:fire,construction_decoration:construction,"
        "hot_work:emergency"
    ),
    "HAZARD_DEFAULT_DEPARTMENT": "emergency",
    # Review evidence flags.
    "REVIEW_PHOTO_TIME_TOLERANCE_MINUTES": 120,
    "REVIEW_PHOTO_MAX_DISTANCE_M": 500,
    # Public reports: the largest inline photo accepted (decoded bytes).
    "PUBLIC_REPORT_MAX_PHOTO_BYTES": 2 * 1024 * 1024,
    # Webhook delivery.
    "WEBHOOK_MAX_ATTEMPTS": 8,
    "WEBHOOK_BACKOFF_SECONDS": 30.0,
    "WEBHOOK_BACKOFF_MAX_SECONDS": 6 * 3600,
    "WEBHOOK_TIMEOUT_SECONDS": 10.0,
    # A claimed delivery not finished within the lease (worker killed) is taken again after it.
    "WEBHOOK_LEASE_SECONDS": 60.0,
    # The worker loop.
    "WORKER_POLL_SECONDS": 2.0,
    "WORKER_SWEEP_SECONDS": 3600.0,
}


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def setting(name: str) -> Any:
    """Return a setting: the app's config, else FIELDSAFE_<name>, else the default."""
    if has_app_context() and name in current_app.config:
        return current_app.config[name]
    default = DEFAULTS[name]
    raw = os.environ.get(f"FIELDSAFE_{name}")
    return default if raw is None else _parse(raw, default)


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
