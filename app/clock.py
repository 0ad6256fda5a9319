"""The clock seam: every service asks here for the time, so tests can fix it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from flask import current_app, has_app_context

#: China time (UTC+8, no daylight saving since 1991): deadlines, report periods, 文号 years.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def utcnow() -> datetime:
    """Return the current time, aware and in UTC (the app's `CLOCK` callable if configured)."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """Format a datetime as RFC 3339 UTC with a trailing Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
