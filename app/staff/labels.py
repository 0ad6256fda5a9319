"""What the console calls each code: statuses, grades, sources, flags, decisions, actions.

English source texts marked with ``_l``, worded in the reader's language where shown (the Chinese
is in app/translations/zh); a code with no entry is shown as it is.
"""

from __future__ import annotations

from typing import Any

from app.i18n import _l

STATUS = {
    "open": _l("Issued"),
    "rectifying": _l("Being rectified"),
    "rectified": _l("Awaiting recheck"),
    "verified": _l("Recheck passed"),
    "closed": _l("Closed (销号)"),
}
GRADE = {"general": _l("General hazard"), "major": _l("Major hazard")}
SOURCE = {
    "inspection": _l("Found by inspection"),
    "self_report": _l("Reported by the enterprise"),
    "public_report": _l("Public report, verified"),
    "supervision": _l("Found in routine supervision"),
}
INSPECTION_TYPE = {
    "unannounced": _l("Unannounced (四不两直)"),
    "routine": _l("Routine"),
    "double_random": _l("Double random (双随机)"),
    "complaint": _l("Complaint"),
    "recheck": _l("Recheck"),
}
RESULT = {"pass": _l("Compliant"), "fail": _l("Non-compliant"), "na": _l("Not applicable")}
REVIEW_STATUS = {
    "pending": _l("Waiting for review"),
    "confirmed": _l("Confirmed"),
    "rejected": _l("Rejected"),
    "needs_info": _l("Sent back for information"),
}
FLAG = {
    "photo_time_mismatch": _l("A photo was taken outside the visit"),
    "photo_far_from_site": _l("A photo was taken far from the site"),
    "photo_reused": _l("A photo is also evidence in another inspection"),
    "photo_no_exif": _l("A photo has no EXIF time or place"),
    "check_in_far_from_site": _l("The check-in was far from the site"),
    "check_in_outside_window": _l("The check-in was outside the planned window"),
    "recorded_before_check_in": _l("Recorded before the check-in"),
    "recorded_outside_window": _l("Recorded outside the planned window"),
    "recorded_far_from_photo_time": _l("Recorded long before or after its photo was taken"),
}
ACTION = {
    "issue": _l("Issued"),
    "assign": _l("Assigned"),
    "start": _l("Rectification started"),
    "submit_rectification": _l("Rectification submitted"),
    "recheck": _l("Rechecked"),
    "close": _l("Closed (销号)"),
    "escalate": _l("Escalated"),
    "overdue": _l("Overdue"),
    "request_extension": _l("Extension requested"),
    "decide_extension": _l("Extension decided"),
    "comment": _l("Comment"),
}
ESCALATION = {
    0: _l("None"),
    1: _l("Letter (函告)"),
    2: _l("Circular (通报)"),
    3: _l("Summons (约谈)"),
    4: _l("Public exposure (曝光)"),
}
ROLE = {
    "inspector": _l("Inspector"),
    "supervisor": _l("Supervisor"),
    "coordinator": _l("Coordinator (工作专班)"),
    "planner": _l("Planner"),
    "enterprise": _l("Enterprise account"),
    "admin": _l("Administrator"),
}
PLAN_STATUS = {
    "draft": _l("Draft"),
    "committed": _l("Committed, not yet drawn"),
    "drawn": _l("Drawn"),
}
DRAW_STATUS = {
    "committed": _l("Committed"),
    "drawn": _l("Drawn"),
    "superseded": _l("Superseded by a redraw"),
}
RISK = {"high": _l("High risk"), "medium": _l("Medium risk"), "low": _l("Low risk")}
INSPECTION_STATUS = {
    "planned": _l("Planned"),
    "dispatched": _l("Dispatched"),
    "in_progress": _l("Under way"),
    "submitted": _l("Submitted"),
    "reviewed": _l("Reviewed"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}
RECHECK_RESULT = {
    "pass": _l("Recheck passed"),
    "fail": _l("Recheck failed"),
    None: _l("Waiting for the visit"),
}

DOCUMENT_KIND = {
    "inspection_record": _l("Inspection record (现场检查记录)"),
    "rectification_order": _l("Rectification order (责令限期整改指令书)"),
    "onsite_measures": _l("On-site measures decision (现场处理措施决定书)"),
    "recheck_opinion": _l("Recheck opinion (整改复查意见书)"),
}


def label(table: dict[Any, Any], code: Any) -> str:
    """Return the words for ``code`` in ``table``, or the code itself."""
    found = table.get(code)
    return str(found) if found is not None else str(code or "")


#: The tables templates use through the ``label`` filter: ``{{ h.status|label("STATUS") }}``.
TABLES: dict[str, dict[Any, Any]] = {
    "STATUS": STATUS,
    "GRADE": GRADE,
    "SOURCE": SOURCE,
    "INSPECTION_TYPE": INSPECTION_TYPE,
    "RESULT": RESULT,
    "REVIEW_STATUS": REVIEW_STATUS,
    "FLAG": FLAG,
    "ACTION": ACTION,
    "ESCALATION": ESCALATION,
    "ROLE": ROLE,
    "PLAN_STATUS": PLAN_STATUS,
    "DRAW_STATUS": DRAW_STATUS,
    "RISK": RISK,
    "INSPECTION_STATUS": INSPECTION_STATUS,
    "DOCUMENT_KIND": DOCUMENT_KIND,
    "RECHECK_RESULT": RECHECK_RESULT,
}
