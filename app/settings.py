"""Typed settings of hazards, review and notifications, parsed once from the app config.

``create_app`` builds one :class:`Settings` from ``app.config`` (defaults and FIELDSAFE_*
variables: see app/config.py) and keeps it in ``app.extensions["settings"]``; services read it
with :func:`get_settings` instead of looking names up and converting them on every call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

EXTENSION_KEY = "settings"


def _departments(raw: Any) -> dict[str, str]:
    """Parse ``industry:department,…`` (or take a mapping as it is)."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    pairs = (p.split(":", 1) for p in str(raw).split(",") if ":" in p)
    return {k.strip(): v.strip() for k, v in pairs}


def _urls(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        return tuple(str(u).strip() for u in raw if str(u).strip())
    return tuple(u.strip() for u in str(raw or "").split(",") if u.strip())


@dataclass(frozen=True)
class Settings:
    """The settings hazards, review and notifications run on (names as in app/config.py)."""

    #: 文号 prefix: 长宁隐〔2026〕0001号.
    hazard_number_prefix: str = "长宁隐"
    hazard_deadline_days_general: int = 7
    hazard_deadline_days_major: int = 60
    hazard_due_soon_days: float = 3
    hazard_escalation_interval_days: float = 7
    #: industry → the department whose supervisors close (销号) its tickets.
    hazard_responsible_departments: Mapping[str, str] = field(default_factory=dict)
    hazard_default_department: str = "emergency"
    review_photo_time_tolerance_minutes: float = 120
    #: a device time this far in the server's future is refused (time.in_future)
    device_clock_skew_minutes: float = 5
    #: a check-in farther than this from the enterprise's location is flagged (not refused)
    checkin_max_distance_m: float = 500
    review_photo_max_distance_m: float = 500
    public_report_max_photo_bytes: int = 2 * 1024 * 1024
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = ""
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 30
    webhook_backoff_max_seconds: float = 6 * 3600
    webhook_timeout_seconds: float = 10
    webhook_lease_seconds: float = 60
    worker_poll_seconds: float = 2
    worker_sweep_seconds: float = 3600
    #: A 双随机 draw whose frozen population has more enterprises than this is handed to the
    #: worker (POST …/draw answers 202 and the plan shows its progress; docs/sampling.md).
    draw_inline_max_population: int = 10_000
    #: Where the QR code of a document points: <this>/public/documents/<code> (docs/documents.md).
    document_public_url: str = "http://127.0.0.1:5000"
    #: The bodies a document's remedies notice names (行政复议, 行政诉讼).
    document_review_body: str = "上海市长宁区人民政府"
    document_court: str = "上海铁路运输法院"
    #: The CJK font the PDFs embed (AR PL UMing, installed by `make fonts`).
    document_font: str = "/usr/share/fonts/truetype/arphic/uming.ttc"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Parse the settings out of an app config (keys are the field names upper-cased)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = f.name.upper()
            if key not in config:
                continue
            raw = config[key]
            if f.name == "hazard_responsible_departments":
                values[f.name] = _departments(raw)
            elif f.name == "webhook_urls":
                values[f.name] = _urls(raw)
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = str(raw or "")
        return cls(**values)

    def deadline_days(self, grade: str) -> int:
        """Return the default rectification period in days for a grade (general, major)."""
        if grade == "major":
            return self.hazard_deadline_days_major
        return self.hazard_deadline_days_general

    def responsible_department(self, industry: str) -> str:
        """Return the department whose supervisors close tickets of ``industry``."""
        return self.hazard_responsible_departments.get(industry) or self.hazard_default_department


def init_settings(app: Flask) -> Settings:
    """Parse the app's settings once and keep them on the app (called by create_app)."""
    settings = Settings.from_config(app.config)
    app.extensions[EXTENSION_KEY] = settings
    return settings


def get_settings() -> Settings:
    """Return the current app's settings."""
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def override_settings(app: Flask, **changes: Any) -> Settings:
    """Replace some of an app's settings (for tests and one-off commands); return the new ones."""
    settings = dataclasses.replace(app.extensions[EXTENSION_KEY], **changes)
    app.extensions[EXTENSION_KEY] = settings
    return settings
