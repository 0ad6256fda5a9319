"""Read-only statistics over the hazard ledger, inspections and findings.

Everything is counted by the database with one GROUP BY per measure family (never a Python loop
over data rows); Python only merges the few group rows and fills groups that have no data with
zeros, so a street or an industry with nothing to show is still visible (零检查, 零处罚).

Periods are calendar days in China time (Asia/Shanghai, UTC+8, no daylight saving): ``from`` and
``to`` are inclusive dates, so ``from=2026-03-01&to=2026-03-31`` covers
[2026-02-28T16:00Z, 2026-03-31T16:00Z). The default is the current China month.

Confidentiality (四不两直, 双随机): an inspection is counted only once it is checked in, i.e. its
status is ``in_progress``, ``submitted``, ``reviewed`` or ``closed``; planned, dispatched and
cancelled inspections are never counted, so no number moves when a visit is planned.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func, select

from app.clock import CHINA_TZ, isoformat
from app.db import session
from app.errors import DomainError
from app.hazards.models import (
    ACTIVE_STATES,
    ESCALATION_LEVELS,
    HAZARD_GRADES,
    HAZARD_SOURCES,
    Hazard,
)
from app.i18n import _, either
from app.inspections.models import INSPECTION_TYPES, Finding, Inspection
from app.inspections.visibility import STARTED_STATES, started_clause
from app.inspections.visibility import visibility_clause as inspection_visibility
from app.org.models import ROLE_NAMES, Jurisdiction, User
from app.org.services import is_district_level, jurisdiction_filter
from app.registry.models import Enterprise
from app.registry.services import INDUSTRY_NAMES

#: Who may read reports: staff who plan, supervise or coordinate (not inspectors, not enterprises).
REPORT_ROLES = ("planner", "supervisor", "coordinator", "admin")
#: Inspection states that count: checked in or later. Never planned, dispatched or cancelled.
COUNTED_STATES = STARTED_STATES
#: 计划检查 (planned ahead) and 触发检查 (triggered by a complaint or a hazard to recheck).
PLANNED_TYPES = ("unannounced", "routine", "double_random")
TRIGGERED_TYPES = ("complaint", "recheck")
#: Findings a supervisor has not yet decided on.
UNDECIDED_REVIEW = ("pending", "needs_info")

GRADE_NAMES = {"general": "一般隐患", "major": "重大隐患"}
SOURCE_NAMES = {
    "inspection": "督导检查发现",
    "self_report": "企业自查上报",
    "public_report": "群众举报查实",
    "supervision": "日常监管发现",
}
TYPE_NAMES = {
    "unannounced": "四不两直",
    "routine": "日常检查",
    "double_random": "双随机",
    "complaint": "举报投诉",
    "recheck": "复查",
}
STATUS_NAMES = {
    "open": "已下达",
    "rectifying": "整改中",
    "rectified": "待复查",
    "verified": "复查通过",
    "closed": "已销号",
}
FILE_STEMS = {"hazards": "hazards", "inspections": "inspections", "major_hazards": "major-hazards"}
HAZARD_GROUPS = ("jurisdiction", "industry", "grade", "source")
INSPECTION_GROUPS = ("jurisdiction", "industry", "type")


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """Inclusive China dates and the matching half-open UTC interval [start, end)."""

    first: date
    last: date
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, Any]:
        """Return the period as the API shows it."""
        return {
            "from": self.first,
            "to": self.last,
            "timezone": "Asia/Shanghai",
            "start": isoformat(self.start),
            "end": isoformat(self.end),
        }


def china_date(value: datetime) -> date:
    """Return the calendar date in China of an aware datetime."""
    return value.astimezone(CHINA_TZ).date()


def china_midnight(day: date) -> datetime:
    """Return the UTC instant at which `day` begins in China."""
    return datetime.combine(day, time(0), tzinfo=CHINA_TZ).astimezone(UTC)


def month_bounds(day: date) -> tuple[date, date]:
    """Return the first and last day of `day`'s month."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def resolve_period(args: dict[str, Any], now: datetime) -> Period:
    """Turn ``from``/``to``/``month`` query arguments into a Period (default: this China month).

    ``month`` (YYYY-MM) is that month. Without ``from``, the period starts on the first day of
    ``to``'s month (or of this month); without ``to``, it ends on the last day of this month.
    """
    today = china_date(now)
    this_first, this_last = month_bounds(today)
    if args.get("month"):
        first, last = month_bounds(args["month"])
    else:
        last = args.get("to") or this_last
        first = args.get("from_") or (month_bounds(last)[0] if args.get("to") else this_first)
    if first > last:
        raise DomainError(
            "validation_error",
            422,
            _("The period ends before it starts; give `from` on or before `to`."),
            {"to": [_("Must be on or after `from`.")]},
        )
    return Period(first, last, china_midnight(first), china_midnight(last + timedelta(days=1)))


# --------------------------------------------------------------------------- helpers


def _count(*conds: ColumnElement[bool]) -> ColumnElement[int]:
    """SQL: how many rows of the group meet every condition (0, never NULL)."""
    cond = conds[0] if len(conds) == 1 else and_(*conds)
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _require_report_role(user: User) -> None:
    if user.role not in REPORT_ROLES:
        raise DomainError(
            "auth.forbidden",
            403,
            _(
                "Reports need one of the roles: %(roles)s.",
                roles=either(ROLE_NAMES[r] for r in REPORT_ROLES),
            ),
        )


def _scope(user: User) -> dict[str, Any]:
    return {
        "jurisdiction": user.jurisdiction_code,
        "jurisdiction_name": session.scalar(
            select(Jurisdiction.name).where(Jurisdiction.code == user.jurisdiction_code)
        ),
        "district_level": is_district_level(user),
    }


def _jurisdiction_names() -> dict[str, str]:
    return dict(session.execute(select(Jurisdiction.code, Jurisdiction.name)).all())


def _group_keys(user: User, by: str) -> list[tuple[str, str]]:
    """Return every (key, name) a report groups by, so that empty groups show as zeros."""
    if by == "jurisdiction":
        stmt = (
            select(Jurisdiction.code, Jurisdiction.name)
            .where(
                Jurisdiction.level == "street",
                jurisdiction_filter(user, Jurisdiction.code),
            )
            .order_by(Jurisdiction.code)
        )
        return [(code, name) for code, name in session.execute(stmt)]
    names = {
        "industry": INDUSTRY_NAMES,
        "grade": GRADE_NAMES,
        "source": SOURCE_NAMES,
        "type": TYPE_NAMES,
    }[by]
    order = {
        "industry": tuple(INDUSTRY_NAMES),
        "grade": HAZARD_GRADES,
        "source": HAZARD_SOURCES,
        "type": INSPECTION_TYPES,
    }[by]
    return [(key, names[key]) for key in order]


def _label(by: str, key: str, jurisdictions: dict[str, str]) -> str:
    names = {
        "jurisdiction": jurisdictions,
        "industry": INDUSTRY_NAMES,
        "grade": GRADE_NAMES,
        "source": SOURCE_NAMES,
        "type": TYPE_NAMES,
    }[by]
    return names.get(key, key)


def _grouped(
    stmt_columns: Sequence[ColumnElement[Any]],
    key: Any,
    where: Iterable[ColumnElement[bool]],
    joins: Sequence[tuple[Any, ColumnElement[bool]]] = (),
    select_from: Any = None,
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Run one aggregate twice: GROUP BY `key`, and over everything (the totals)."""
    where = list(where)

    def build(columns: Sequence[Any]) -> Any:
        stmt = select(*columns)
        if select_from is not None:
            stmt = stmt.select_from(select_from)
        for target, on in joins:
            stmt = stmt.join(target, on)
        return stmt.where(*where)

    groups: dict[str, dict[str, int]] = {}
    for row in session.execute(build([key.label("key"), *stmt_columns]).group_by(key)).mappings():
        groups[row["key"]] = {k: int(v or 0) for k, v in row.items() if k != "key"}
    total_row = session.execute(build(stmt_columns)).mappings().one()
    totals = {k: int(v or 0) for k, v in total_row.items()}
    return groups, totals


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _rows(
    user: User,
    by: str,
    groups: dict[str, dict[str, Any]],
    zero: dict[str, Any],
) -> list[dict[str, Any]]:
    """Return one row per group: every group of the caller's scope, then any others seen."""
    jurisdictions = _jurisdiction_names()
    keys = _group_keys(user, by)
    known = {k for k, _name in keys}
    keys += [(k, _label(by, k, jurisdictions)) for k in sorted(groups) if k not in known]
    return [{"key": k, "name": name, **groups.get(k, zero)} for k, name in keys]


# --------------------------------------------------------------------------- hazards


def _hazard_measures(period: Period, now: datetime) -> list[ColumnElement[Any]]:
    found = and_(Hazard.found_at >= period.start, Hazard.found_at < period.end)
    closed = Hazard.status == "closed"
    still_open = Hazard.status != "closed"
    major = Hazard.grade == "major"
    overdue = and_(Hazard.status.in_(ACTIVE_STATES), Hazard.deadline <= now)
    closed_in_period = and_(Hazard.closed_at >= period.start, Hazard.closed_at < period.end)
    return [
        _count(found).label("found"),
        _count(found, closed).label("closed"),
        _count(found, still_open).label("open"),
        _count(found, overdue).label("overdue"),
        _count(found, major).label("major_found"),
        _count(found, major, closed).label("major_closed"),
        _count(found, major, still_open).label("major_open"),
        _count(found, Hazard.escalation_level >= 1).label("escalated"),
        *[
            _count(found, Hazard.escalation_level == level).label(f"level_{level}")
            for level in ESCALATION_LEVELS
        ],
        _count(found, Hazard.listed.is_(True)).label("listed"),
        _count(closed_in_period).label("closed_in_period"),
    ]


def _hazard_stats(raw: dict[str, int]) -> dict[str, Any]:
    stats: dict[str, Any] = {k: v for k, v in raw.items() if not k.startswith("level_")}
    stats["escalation_levels"] = {str(lv): raw.get(f"level_{lv}", 0) for lv in ESCALATION_LEVELS}
    stats["rectification_rate"] = _rate(raw.get("closed", 0), raw.get("found", 0))
    stats["major_rectification_rate"] = _rate(raw.get("major_closed", 0), raw.get("major_found", 0))
    return stats


def hazards_report(user: User, args: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Return the hazard ledger statistics of a period, grouped by jurisdiction, industry, …"""
    _require_report_role(user)
    period = resolve_period(args, now)
    by = args.get("by") or "jurisdiction"
    key = {
        "jurisdiction": Hazard.jurisdiction_code,
        "industry": Hazard.industry,
        "grade": Hazard.grade,
        "source": Hazard.source,
    }[by]
    in_period = (Hazard.found_at >= period.start) & (Hazard.found_at < period.end)
    closed_in_period = (Hazard.closed_at >= period.start) & (Hazard.closed_at < period.end)
    groups, totals = _grouped(
        _hazard_measures(period, now),
        key,
        [jurisdiction_filter(user, Hazard.jurisdiction_code), in_period | closed_in_period],
    )
    zero = _hazard_stats({k: 0 for k in totals})
    return {
        "report": "hazards",
        "by": by,
        "period": period.as_dict(),
        "as_of": now,
        "scope": _scope(user),
        "rows": _rows(user, by, {k: _hazard_stats(v) for k, v in groups.items()}, zero),
        "totals": _hazard_stats(totals),
    }


def stock_and_increment(user: User, args: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Return 存量 and 增量 of a period (one statement): the stock is the tickets found before
    the period and still not closed when it began; the increment those found in it. Of each,
    how many were closed (销号) within the period and how many are still open now."""
    _require_report_role(user)
    period = resolve_period(args, now)
    before = Hazard.found_at < period.start
    open_at_start = before & (Hazard.closed_at.is_(None) | (Hazard.closed_at >= period.start))
    found = (Hazard.found_at >= period.start) & (Hazard.found_at < period.end)
    closed_in = (Hazard.closed_at >= period.start) & (Hazard.closed_at < period.end)
    still_open = Hazard.status != "closed"
    measures = {
        "stock": _count(open_at_start),
        "stock_closed": _count(open_at_start, closed_in),
        "stock_open": _count(open_at_start, still_open),
        "increment": _count(found),
        "increment_closed": _count(found, closed_in),
        "increment_open": _count(found, still_open),
    }
    row = (
        session.execute(
            select(*(m.label(k) for k, m in measures.items())).where(
                jurisdiction_filter(user, Hazard.jurisdiction_code), open_at_start | found
            )
        )
        .mappings()
        .one()
    )
    figures = {k: int(v or 0) for k, v in row.items()}
    return {"period": period.as_dict(), "as_of": now, **figures}


# --------------------------------------------------------------------------- inspections


def checked_in_at() -> ColumnElement[datetime]:
    """SQL: when an inspection started (server receipt of the check-in; the device's time or
    the creation time only for rows that lack it)."""
    return func.coalesce(
        Inspection.check_in_received_at, Inspection.check_in_at, Inspection.created_at
    )


def counted_inspections(user: User, period: Period, now: datetime) -> list[ColumnElement[bool]]:
    """SQL conditions: the inspections a report may count for `user` in `period`.

    The inspections package's visibility rule, and on top of it: inside the caller's
    jurisdiction scope (a planner's own inspection elsewhere is not in their street's report),
    checked in (never a planned or dispatched visit, whoever asks, its planner included), and
    not cancelled.
    """
    started = checked_in_at()
    return [
        inspection_visibility(user, now),
        jurisdiction_filter(user, Inspection.jurisdiction_code),
        started_clause(),
        Inspection.status.in_(COUNTED_STATES),
        started >= period.start,
        started < period.end,
    ]


def _inspection_stats(raw: dict[str, int]) -> dict[str, Any]:
    stats: dict[str, Any] = {
        k: raw.get(k, 0)
        for k in (
            "inspections",
            "enterprises",
            "planned",
            "triggered",
            "findings_failed",
            "findings_confirmed",
            "findings_pending_review",
            "hazards_issued",
            "major_hazards_issued",
        )
    }
    stats["by_type"] = {t: raw.get(f"type_{t}", 0) for t in INSPECTION_TYPES}
    stats["inspected_no_hazards"] = stats["inspections"] > 0 and stats["hazards_issued"] == 0
    return stats


def inspections_report(user: User, args: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Return 执法检查家次 and what they found, grouped by jurisdiction, industry or type."""
    _require_report_role(user)
    period = resolve_period(args, now)
    by = args.get("by") or "jurisdiction"
    key = {
        "jurisdiction": Inspection.jurisdiction_code,
        "industry": Inspection.industry,
        "type": Inspection.type,
    }[by]
    counted = counted_inspections(user, period, now)
    fail = Finding.result == "fail"

    visits, visit_totals = _grouped(
        [
            func.count(Inspection.id).label("inspections"),
            func.count(distinct(Inspection.enterprise_id)).label("enterprises"),
            _count(Inspection.type.in_(PLANNED_TYPES)).label("planned"),
            _count(Inspection.type.in_(TRIGGERED_TYPES)).label("triggered"),
            *[_count(Inspection.type == t).label(f"type_{t}") for t in INSPECTION_TYPES],
        ],
        key,
        counted,
    )
    findings, finding_totals = _grouped(
        [
            _count(fail).label("findings_failed"),
            _count(fail, Finding.review_status == "confirmed").label("findings_confirmed"),
            _count(fail, Finding.review_status.in_(UNDECIDED_REVIEW)).label(
                "findings_pending_review"
            ),
        ],
        key,
        [*counted, Finding.deleted.is_(False)],
        joins=[(Inspection, Inspection.id == Finding.inspection_id)],
        select_from=Finding,
    )
    hazards, hazard_totals = _grouped(
        [
            func.count(Hazard.id).label("hazards_issued"),
            _count(Hazard.grade == "major").label("major_hazards_issued"),
        ],
        key,
        counted,
        joins=[(Inspection, Inspection.id == Hazard.inspection_id)],
        select_from=Hazard,
    )
    merged = {
        k: _inspection_stats({**visits.get(k, {}), **findings.get(k, {}), **hazards.get(k, {})})
        for k in {*visits, *findings, *hazards}
    }
    return {
        "report": "inspections",
        "by": by,
        "period": period.as_dict(),
        "as_of": now,
        "scope": _scope(user),
        "rows": _rows(user, by, merged, _inspection_stats({})),
        "totals": _inspection_stats({**visit_totals, **finding_totals, **hazard_totals}),
    }


# --------------------------------------------------------------------------- major hazards


def major_hazards_report(user: User, args: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Return every open (not 销号) major hazard in scope, most overdue first (动态清零)."""
    _require_report_role(user)
    overdue = and_(Hazard.status.in_(ACTIVE_STATES), Hazard.deadline <= now)
    stmt = (
        select(
            Hazard.id,
            Hazard.number,
            Hazard.enterprise_id,
            Enterprise.name.label("enterprise_name"),
            Enterprise.uscc.label("enterprise_uscc"),
            Hazard.jurisdiction_code,
            Jurisdiction.name.label("jurisdiction_name"),
            Hazard.industry,
            Hazard.source,
            Hazard.status,
            Hazard.description,
            Hazard.found_at,
            Hazard.deadline,
            Hazard.escalation_level,
            Hazard.listed,
            Hazard.plan,
            Hazard.assignee_id,
        )
        .join(Enterprise, Enterprise.id == Hazard.enterprise_id)
        .join(Jurisdiction, Jurisdiction.code == Hazard.jurisdiction_code)
        .where(
            Hazard.grade == "major",
            Hazard.status != "closed",
            jurisdiction_filter(user, Hazard.jurisdiction_code),
        )
        .order_by(case((overdue, 0), else_=1), Hazard.deadline, Hazard.number)
    )
    if args.get("jurisdiction"):
        stmt = stmt.where(Hazard.jurisdiction_code == args["jurisdiction"])
    if args.get("industry"):
        stmt = stmt.where(Hazard.industry == args["industry"])
    rows = []
    for r in session.execute(stmt).mappings():
        is_overdue = r["status"] in ACTIVE_STATES and r["deadline"] <= now
        rows.append(
            {
                "hazard_id": r["id"],
                "number": r["number"],
                "enterprise": {
                    "id": r["enterprise_id"],
                    "name": r["enterprise_name"],
                    "uscc": r["enterprise_uscc"],
                },
                "jurisdiction": r["jurisdiction_code"],
                "jurisdiction_name": r["jurisdiction_name"],
                "industry": r["industry"],
                "industry_name": INDUSTRY_NAMES.get(r["industry"], r["industry"]),
                "source": r["source"],
                "status": r["status"],
                "description": r["description"],
                "found_at": r["found_at"],
                "days_open": max((now - r["found_at"]).days, 0),
                "deadline": r["deadline"],
                "overdue": is_overdue,
                "days_overdue": (now - r["deadline"]).days if is_overdue else 0,
                "escalation_level": r["escalation_level"],
                "escalation": ESCALATION_LEVELS.get(r["escalation_level"]),
                "listed": bool(r["listed"]),
                "has_plan": bool(r["plan"]),
                "assignee_id": r["assignee_id"],
            }
        )
    totals = {
        "open": len(rows),
        "overdue": sum(1 for r in rows if r["overdue"]),
        "listed": sum(1 for r in rows if r["listed"]),
        "without_plan": sum(1 for r in rows if not r["has_plan"]),
        "escalation_levels": {
            str(lv): sum(1 for r in rows if r["escalation_level"] == lv) for lv in ESCALATION_LEVELS
        },
    }
    return {
        "report": "major_hazards",
        "as_of": now,
        "scope": _scope(user),
        "rows": rows,
        "totals": totals,
    }
