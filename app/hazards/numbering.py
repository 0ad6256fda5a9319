"""Ticket numbers (文号): 长宁隐〔2026〕0001号, unique and gapless per year in China time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.db import next_in_counter
from app.hazards.models import HazardCounter
from app.settings import get_settings

CHINA_TZ = timezone(timedelta(hours=8))


def allocate_number(at: datetime) -> tuple[int, int, str]:
    """Take the next number of the year (China time) under a row lock; gapless if rolled back.

    The year's row in ``hazard_counters`` is locked ``FOR UPDATE`` inside the issuing
    transaction (``app.db.next_in_counter``), so a rolled-back issue rolls the counter back.
    """
    year = at.astimezone(CHINA_TZ).year
    last = next_in_counter(HazardCounter, year=year)
    prefix = get_settings().hazard_number_prefix
    return year, last, f"{prefix}〔{year}〕{last:04d}号"
