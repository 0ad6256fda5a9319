"""What the public pages call each code of a sampling plan: statuses, risk levels, reasons.

English source texts marked with ``_l``, worded in the reader's language where shown (the Chinese
is in app/translations/zh); a code with no entry is shown as it is.
"""

from __future__ import annotations

from typing import Any

from app.i18n import _l
from app.registry.services import INDUSTRY_NAMES

PLAN_STATUS = {"committed": _l("Committed, not yet drawn"), "drawn": _l("Drawn")}
DRAW_STATUS = {
    "committed": _l("Committed"),
    "drawn": _l("Drawn"),
    "superseded": _l("Superseded by a redraw"),
}
RISK_LEVEL = {"high": _l("High risk"), "medium": _l("Medium risk"), "low": _l("Low risk")}
EXCLUSION = {
    "recently_inspected": _l("Inspected recently"),
    "no_eligible_team": _l("No eligible team"),
    "certificate_missing": _l("Inspector without an enforcement certificate"),
    "certificate_expired": _l("Inspector's certificate expired"),
    "conflict": _l("Conflict of interest declared"),
    "same_jurisdiction": _l("Own-street inspectors excluded (异地交叉)"),
}
INSPECTION_STATUS = {
    "checked_in": _l("Under way"),
    "submitted": _l("Submitted"),
    "reviewed": _l("Reviewed"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}

TABLES = {
    "plan_status": PLAN_STATUS,
    "draw_status": DRAW_STATUS,
    "risk": RISK_LEVEL,
    "exclusion": EXCLUSION,
    "inspection_status": INSPECTION_STATUS,
}


def label(table: str, code: Any) -> str:
    """Return the reader's word for ``code`` in ``table`` (the code itself when unknown)."""
    if table == "industry":
        return INDUSTRY_NAMES.get(str(code), str(code))
    text = TABLES[table].get(str(code))
    return str(text) if text is not None else str(code)
