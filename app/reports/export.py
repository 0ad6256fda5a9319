"""XLSX rendering of the reports: one data sheet with Chinese headers, one 说明 sheet.

The data sheet has the headers in row 1 and one row per group (then a 合计 row), so it can be
filtered, pivoted and pasted into the monthly return as it is. Times are China time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.audit.services import record
from app.clock import CHINA_TZ, isoformat
from app.hazards.models import ESCALATION_LEVELS
from app.inspections.models import INSPECTION_TYPES
from app.org.models import User
from app.reports.services import (
    FILE_STEMS,
    SOURCE_NAMES,
    STATUS_NAMES,
    TYPE_NAMES,
    china_date,
    hazards_report,
    inspections_report,
    major_hazards_report,
)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GROUP_HEADERS = {
    "jurisdiction": ("辖区代码", "街道/镇"),
    "industry": ("行业代码", "行业"),
    "grade": ("等级代码", "隐患等级"),
    "source": ("来源代码", "隐患来源"),
    "type": ("检查方式代码", "检查方式"),
}
SCOPE_ALL = "全区"

HAZARD_COLUMNS: list[tuple[str, str]] = [
    ("found", "发现隐患数"),
    ("closed", "已销号"),
    ("open", "未销号"),
    ("overdue", "逾期未整改"),
    ("rectification_rate", "整改率"),
    ("major_found", "重大隐患数"),
    ("major_closed", "重大隐患已销号"),
    ("major_open", "重大隐患未销号"),
    ("major_rectification_rate", "重大隐患整改率"),
    ("listed", "挂牌督办"),
    ("escalated", "督办升级"),
    *[(f"level_{lv}", f"{label}（{lv}级）") for lv, label in ESCALATION_LEVELS.items()],
    ("closed_in_period", "本期销号"),
]

INSPECTION_COLUMNS: list[tuple[str, str]] = [
    ("inspections", "执法检查家次"),
    ("enterprises", "检查企业数"),
    ("planned", "计划检查"),
    ("triggered", "触发检查"),
    *[(f"type_{t}", TYPE_NAMES[t]) for t in INSPECTION_TYPES],
    ("findings_failed", "发现问题项次"),
    ("findings_confirmed", "确认问题项次"),
    ("findings_pending_review", "待审核问题项次"),
    ("hazards_issued", "下达隐患数"),
    ("major_hazards_issued", "查处重大事故隐患项次"),
    ("inspected_no_hazards", "只检查未下达隐患"),
]

MAJOR_HAZARD_HEADERS = [
    "隐患编号",
    "企业名称",
    "统一社会信用代码",
    "街道/镇",
    "行业",
    "隐患来源",
    "状态",
    "隐患描述",
    "发现时间",
    "已挂账天数",
    "整改期限",
    "是否逾期",
    "逾期天数",
    "督办等级",
    "挂牌督办",
    "治理方案",
]

RATE_KEYS = {"rectification_rate", "major_rectification_rate"}


def _china_time(value: datetime | None) -> datetime | None:
    """Return a naive China-time datetime for a cell (Excel has no time zones)."""
    return value.astimezone(CHINA_TZ).replace(tzinfo=None) if value is not None else None


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def _flatten(stats: dict[str, Any]) -> dict[str, Any]:
    flat = dict(stats)
    for lv, n in (stats.get("escalation_levels") or {}).items():
        flat[f"level_{lv}"] = n
    for t, n in (stats.get("by_type") or {}).items():
        flat[f"type_{t}"] = n
    return flat


def _cell(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return _yes_no(value)
    return value


def _printable(value: Any) -> Any:
    """Drop control characters a device or a report form may have sent: XLSX cannot hold them."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet(
    wb: Workbook,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    rate_columns: Sequence[int] = (),
    datetime_columns: Sequence[int] = (),
) -> None:
    ws = wb.active
    assert ws is not None
    ws.title = title
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_printable(value) for value in row])
    # Stored text is data, never a formula: "=HYPERLINK(…)" in a description stays text.
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            if cell.data_type == "f":
                cell.data_type = "s"
    for col in rate_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = "0.0%"
    for col in datetime_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = "yyyy-mm-dd hh:mm"
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, 2 * len(header) + 2)
    ws.freeze_panes = "A2"


def _notes(wb: Workbook, report: dict[str, Any], title: str, definitions: list[str]) -> None:
    ws = wb.create_sheet("说明")
    scope = report["scope"]
    ws.append(["报表", title])
    if "period" in report:
        p = report["period"]
        span = f"{p['from'].isoformat()} 至 {p['to'].isoformat()}"
        ws.append(["统计期间", f"{span}（北京时间，含首尾两日）"])
    if "by" in report:
        ws.append(["分组", GROUP_HEADERS[report["by"]][1]])
    ws.append(["数据截至", f"{_china_time(report['as_of']):%Y-%m-%d %H:%M}（北京时间）"])
    where = scope.get("jurisdiction_name") or scope["jurisdiction"]
    ws.append(["范围", SCOPE_ALL if scope["district_level"] else where])
    ws.append(["as_of (UTC)", isoformat(report["as_of"])])
    ws.append([])
    ws.append(["口径说明"])
    for line in definitions:
        ws.append([line])
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 60


def _grouped_workbook(
    report: dict[str, Any],
    title: str,
    columns: list[tuple[str, str]],
    definitions: list[str],
) -> bytes:
    code_header, name_header = GROUP_HEADERS[report["by"]]
    headers = [code_header, name_header, *[h for _, h in columns]]
    rows = []
    for row in report["rows"]:
        flat = _flatten(row)
        rows.append([row["key"], row["name"], *[_cell(k, flat.get(k)) for k, _ in columns]])
    totals = _flatten(report["totals"])
    rows.append(["", "合计", *[_cell(k, totals.get(k)) for k, _ in columns]])
    rate_columns = [i + 3 for i, (k, _) in enumerate(columns) if k in RATE_KEYS]
    wb = Workbook()
    _sheet(wb, title, headers, rows, rate_columns=rate_columns)
    _notes(wb, report, title, definitions)
    return _save(wb)


def hazards_workbook(report: dict[str, Any]) -> bytes:
    """Render the hazard ledger statistics."""
    return _grouped_workbook(
        report,
        "隐患统计",
        HAZARD_COLUMNS,
        [
            "发现隐患数：发现时间在统计期间内的隐患；已销号、未销号、逾期、督办等均指这些隐患截至数据截至时间的状态。",
            "逾期未整改：状态为已下达或整改中且已过整改期限。",
            "整改率 = 已销号 / 发现隐患数。",
            "督办升级：至少升级一次；函告、通报、约谈、曝光为当前所处督办等级。",
            "本期销号：销号时间在统计期间内的隐患（不论何时发现）。",
        ],
    )


def inspections_workbook(report: dict[str, Any]) -> bytes:
    """Render the inspection statistics."""
    return _grouped_workbook(
        report,
        "执法检查统计",
        INSPECTION_COLUMNS,
        [
            "执法检查家次：统计期间内已到场签到（检查中、已提交、已审核、已办结）的检查；"
            "计划中、已派发、已取消的检查不计入，以保证四不两直、双随机检查计划保密。",
            "计划检查：四不两直、日常检查、双随机；触发检查：举报投诉、复查。",
            "发现问题项次：这些检查中结果为不合格的检查项（含待审核）。",
            "下达隐患数：由这些检查确认的问题下达的隐患整改单。",
            "只检查未下达隐患：有检查但未下达任何隐患（“只检查不处罚”提示，须结合待审核数判断）。",
        ],
    )


def major_hazards_workbook(report: dict[str, Any]) -> bytes:
    """Render the open major hazards list (重大事故隐患动态清零)."""
    rows = []
    for r in report["rows"]:
        level = r["escalation_level"]
        rows.append(
            [
                r["number"],
                r["enterprise"]["name"],
                r["enterprise"]["uscc"],
                r["jurisdiction_name"],
                r["industry_name"],
                SOURCE_NAMES.get(r["source"], r["source"]),
                STATUS_NAMES.get(r["status"], r["status"]),
                r["description"],
                _china_time(r["found_at"]),
                r["days_open"],
                _china_time(r["deadline"]),
                _yes_no(r["overdue"]),
                r["days_overdue"],
                f"{level}级 {r['escalation']}" if level else "未升级",
                _yes_no(r["listed"]),
                "已制定" if r["has_plan"] else "未制定",
            ]
        )
    wb = Workbook()
    _sheet(wb, "重大隐患清单", MAJOR_HAZARD_HEADERS, rows, datetime_columns=(9, 11))
    _notes(
        wb,
        report,
        "重大事故隐患动态清零清单",
        [
            "所有未销号的重大事故隐患，逾期最久的在前。",
            "逾期：状态为已下达或整改中且已过整改期限；已挂账天数、逾期天数按整日计。",
        ],
    )
    return _save(wb)


def export_report(
    user: User, name: str, args: dict[str, Any], *, now: datetime
) -> tuple[bytes, str]:
    """Return one report as an XLSX workbook (Chinese headers) and its file name; audit-logged."""
    builders = {
        "hazards": (hazards_report, hazards_workbook),
        "inspections": (inspections_report, inspections_workbook),
        "major_hazards": (major_hazards_report, major_hazards_workbook),
    }
    build, render = builders[name]
    report = build(user, args, now=now)
    content = render(report)
    if "period" in report:
        p = report["period"]
        stem = f"{FILE_STEMS[name]}-by-{report['by']}-{p['from'].isoformat()}_{p['to'].isoformat()}"
    else:
        stem = f"{FILE_STEMS[name]}-{china_date(report['as_of']).isoformat()}"
    record(
        "report.export",
        "report",
        None,
        {"report": name, "args": {k: str(v) for k, v in args.items()}, "rows": len(report["rows"])},
        actor=user,
    )
    return content, f"{stem}.xlsx"
