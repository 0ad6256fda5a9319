"""What the public pages call each code of a sampling plan: statuses, risk levels, reasons.

The words the console uses too come from ``app.staff.labels`` (one table per code); only the
draw's exclusion reasons, which the console does not show, are worded here. English source
texts marked with ``_l``, worded in the reader's language where shown; a code with no entry is
shown as it is.
"""

from __future__ import annotations

from typing import Any

from app.i18n import _l
from app.registry.services import INDUSTRY_NAMES
from app.staff.labels import DRAW_STATUS, INSPECTION_STATUS, PLAN_STATUS, RISK

EXCLUSION = {
    "recently_inspected": _l("Inspected recently"),
    "no_eligible_team": _l("No eligible team"),
    "certificate_missing": _l("Inspector without an enforcement certificate"),
    "certificate_expired": _l("Inspector's certificate expired"),
    "conflict": _l("Conflict of interest declared"),
    "same_jurisdiction": _l("Own-street inspectors excluded (异地交叉)"),
}

TABLES: dict[str, dict[Any, Any]] = {
    "plan_status": PLAN_STATUS,
    "draw_status": DRAW_STATUS,
    "risk": RISK,
    "exclusion": EXCLUSION,
    "inspection_status": INSPECTION_STATUS,
    "industry": INDUSTRY_NAMES,
}


def label(table: str, code: Any) -> str:
    """Return the reader's word for ``code`` in ``table`` (the code itself when unknown)."""
    text = TABLES[table].get(str(code))
    return str(text) if text is not None else str(code)
