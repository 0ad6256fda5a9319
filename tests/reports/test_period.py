"""Report periods: China calendar days (Asia/Shanghai), inclusive dates, default this month."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.clock import utcnow
from app.errors import DomainError
from app.reports.services import resolve_period


def test_default_is_the_china_month_not_the_utc_month():
    # 2026-03-31 17:00 UTC is already 1 April in China.
    p = resolve_period({}, datetime(2026, 3, 31, 17, 0, tzinfo=UTC))
    assert (p.first, p.last) == (date(2026, 4, 1), date(2026, 4, 30))
    assert p.start == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert p.end == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    # 2026-03-31 15:59 UTC is still 31 March in China.
    p = resolve_period({}, datetime(2026, 3, 31, 15, 59, tzinfo=UTC))
    assert (p.first, p.last) == (date(2026, 3, 1), date(2026, 3, 31))


def test_month_handles_year_end_and_leap_years():
    p = resolve_period({"month": date(2025, 12, 1)}, utcnow())
    assert (p.first, p.last) == (date(2025, 12, 1), date(2025, 12, 31))
    assert p.end == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    p = resolve_period({"month": date(2028, 2, 1)}, utcnow())
    assert p.last == date(2028, 2, 29)


def test_from_and_to_are_inclusive_china_days():
    p = resolve_period({"from_": date(2026, 1, 1), "to": date(2026, 1, 1)}, utcnow())
    assert p.start == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert p.end == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    now = datetime(2026, 5, 10, tzinfo=UTC)
    only_from = resolve_period({"from_": date(2026, 1, 15)}, now)
    assert (only_from.first, only_from.last) == (date(2026, 1, 15), date(2026, 5, 31))
    only_to = resolve_period({"to": date(2026, 2, 10)}, now)
    assert (only_to.first, only_to.last) == (date(2026, 2, 1), date(2026, 2, 10))


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(DomainError) as err:
        resolve_period({"from_": date(2026, 3, 2), "to": date(2026, 3, 1)}, utcnow())
    assert err.value.status == 422
    assert "to" in (err.value.errors or {})
