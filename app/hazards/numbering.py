"""Ticket numbers (文号): 长宁隐〔2026〕0001号, unique and gapless per year in China time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import session
from app.hazards.models import HazardCounter
from app.settings import get_settings

CHINA_TZ = timezone(timedelta(hours=8))


def allocate_number(at: datetime) -> tuple[int, int, str]:
    """Take the next number of the year (China time) under a row lock; gapless if rolled back.

    The year's row in ``hazard_counters`` is locked ``FOR UPDATE`` inside the issuing
    transaction, so a rolled-back issue rolls the counter back with it.
    """
    year = at.astimezone(CHINA_TZ).year
    lock = (
        select(HazardCounter)
        .where(HazardCounter.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    counter = session.execute(lock).scalar_one_or_none()
    if counter is None:
        try:
            with session.begin_nested():
                session.add(HazardCounter(year=year, last=0))
                session.flush()
        except IntegrityError:
            pass  # another transaction created the year's row first; lock theirs
        counter = session.execute(lock).scalar_one()
    counter.last += 1
    session.flush()
    prefix = get_settings().hazard_number_prefix
    return year, counter.last, f"{prefix}〔{year}〕{counter.last:04d}号"
