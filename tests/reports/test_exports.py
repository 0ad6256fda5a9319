"""XLSX exports: they open with openpyxl, with Chinese headers in row 1 and the report's rows."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from app.audit.models import AuditEntry

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _open(resp: Any) -> Any:
    assert resp.status_code == 200, resp.data[:300]
    assert resp.mimetype == XLSX
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
    assert resp.headers["Cache-Control"] == "private, no-store"
    return load_workbook(io.BytesIO(resp.data))


def _records(ws: Any) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    rows = list(ws.iter_rows(values_only=True))
    headers = list(rows[0])
    return headers, {r[1]: dict(zip(headers, r, strict=True)) for r in rows[1:]}


def test_hazards_export(get):
    resp = get("coordinator", "/api/v1/reports/hazards/export")
    assert (
        "hazards-by-jurisdiction-2026-03-01_2026-03-31.xlsx" in resp.headers["Content-Disposition"]
    )
    wb = _open(resp)
    assert wb.sheetnames == ["隐患统计", "说明"]
    headers, rows = _records(wb["隐患统计"])
    assert headers == [
        "辖区代码",
        "街道/镇",
        "发现隐患数",
        "已销号",
        "未销号",
        "逾期未整改",
        "整改率",
        "重大隐患数",
        "重大隐患已销号",
        "重大隐患未销号",
        "重大隐患整改率",
        "挂牌督办",
        "督办升级",
        "函告（1级）",
        "通报（2级）",
        "约谈（3级）",
        "曝光（4级）",
        "本期销号",
    ]
    assert len(rows) == 11  # ten streets and the 合计 row
    hy = rows["华阳路街道"]
    assert hy["辖区代码"] == "huayanglu"
    assert (hy["发现隐患数"], hy["已销号"], hy["未销号"], hy["逾期未整改"]) == (4, 2, 2, 1)
    assert hy["整改率"] == 0.5
    assert (hy["重大隐患数"], hy["挂牌督办"], hy["通报（2级）"], hy["本期销号"]) == (2, 2, 1, 2)
    assert rows["江苏路街道"]["整改率"] is None
    total = rows["合计"]
    assert (total["发现隐患数"], total["已销号"], total["整改率"]) == (5, 2, 0.4)
    ws = wb["隐患统计"]
    assert ws.cell(row=2, column=headers.index("整改率") + 1).number_format == "0.0%"
    notes = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True) if r and r[0]}
    assert notes["统计期间"].startswith("2026-03-01 至 2026-03-31")
    assert notes["范围"] == "全区"
    assert notes["数据截至"].startswith("2026-03-20 12:00")  # China time


def test_hazards_export_by_grade_for_street_staff(get):
    wb = _open(get("street_coordinator", "/api/v1/reports/hazards/export", by="grade"))
    headers, rows = _records(wb.active)
    assert headers[:3] == ["等级代码", "隐患等级", "发现隐患数"]
    assert list(rows) == ["一般隐患", "重大隐患", "合计"]
    assert rows["合计"]["发现隐患数"] == 4  # huayanglu only
    notes = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True) if r and r[0]}
    assert notes["范围"] == "华阳路街道"


def test_inspections_export(get):
    wb = _open(get("planner", "/api/v1/reports/inspections/export"))
    assert wb.sheetnames == ["执法检查统计", "说明"]
    headers, rows = _records(wb["执法检查统计"])
    assert headers == [
        "辖区代码",
        "街道/镇",
        "执法检查家次",
        "检查企业数",
        "计划检查",
        "触发检查",
        "四不两直",
        "日常检查",
        "举报投诉",
        "复查",
        "双随机",
        "发现问题项次",
        "确认问题项次",
        "待审核问题项次",
        "下达隐患数",
        "查处重大事故隐患项次",
        "只检查未下达隐患",
    ]
    hy, js = rows["华阳路街道"], rows["江苏路街道"]
    assert (hy["执法检查家次"], hy["发现问题项次"], hy["下达隐患数"]) == (2, 4, 2)
    assert (hy["四不两直"], hy["举报投诉"], hy["只检查未下达隐患"]) == (1, 1, "否")
    assert (js["执法检查家次"], js["双随机"], js["只检查未下达隐患"]) == (1, 1, "是")
    assert rows["新华路街道"]["执法检查家次"] == 0
    assert rows["合计"]["执法检查家次"] == 3


def test_major_hazards_export(get, world):
    resp = get("supervisor", "/api/v1/reports/major-hazards/export")
    assert "major-hazards-2026-03-20.xlsx" in resp.headers["Content-Disposition"]
    wb = _open(resp)
    assert wb.sheetnames == ["重大隐患清单", "说明"]
    rows = list(wb["重大隐患清单"].iter_rows(values_only=True))
    assert list(rows[0]) == [
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
    assert len(rows) == 4  # h6, h2, h4
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["企业名称"] == world.ents["e3"].name
    assert first["统一社会信用代码"] == world.ents["e3"].uscc
    assert (first["街道/镇"], first["行业"], first["状态"]) == ("新华路街道", "燃气餐饮", "已下达")
    assert first["隐患来源"] == "日常监管发现"
    assert first["整改期限"] == datetime(2026, 2, 10, 12, 0)  # China time
    assert (first["是否逾期"], first["逾期天数"], first["已挂账天数"]) == ("是", 38, 69)
    assert (first["督办等级"], first["挂牌督办"], first["治理方案"]) == ("4级 曝光", "是", "未制定")
    last = dict(zip(rows[0], rows[3], strict=True))
    assert (last["状态"], last["是否逾期"], last["督办等级"]) == ("待复查", "否", "1级 函告")


def test_exports_are_audited(get, db_session, world):
    get("coordinator", "/api/v1/reports/inspections/export", by="type", month="2026-02")
    entry = db_session.execute(
        select(AuditEntry).where(AuditEntry.action == "report.export")
    ).scalar_one()
    assert entry.actor_id == world.users["coordinator"].id
    assert entry.data["report"] == "inspections"
    assert entry.data["args"]["by"] == "type"


def test_export_arguments_are_validated(get):
    resp = get("coordinator", "/api/v1/reports/hazards/export", by="nonsense")
    assert resp.status_code == 422


def test_control_characters_in_stored_text_do_not_break_an_export(get, world, db_session):
    """A description with a C0 control character (sent by a device) exports without it."""
    from app.hazards.models import Hazard

    hazard = (
        db_session.execute(
            select(Hazard)
            .where(Hazard.grade == "major", Hazard.status != "closed")
            .order_by(Hazard.id)
        )
        .scalars()
        .first()
    )
    hazard.description = "燃气泄漏\x13报警器失效\x1f"
    db_session.commit()
    wb = _open(get("supervisor", "/api/v1/reports/major-hazards/export"))
    descriptions = [r[7] for r in wb["重大隐患清单"].iter_rows(min_row=2, values_only=True)]
    assert "燃气泄漏报警器失效" in descriptions


def test_text_that_looks_like_a_formula_exports_as_text(get, world, db_session):
    """A description such as =HYPERLINK(…) from a public report is never a live formula."""
    from app.hazards.models import Hazard

    hazard = (
        db_session.execute(
            select(Hazard)
            .where(Hazard.grade == "major", Hazard.status != "closed")
            .order_by(Hazard.id)
        )
        .scalars()
        .first()
    )
    hazard.description = '=HYPERLINK("http://example.invalid","点击")'
    db_session.commit()
    wb = _open(get("supervisor", "/api/v1/reports/major-hazards/export"))
    cells = [row[7] for row in wb["重大隐患清单"].iter_rows(min_row=2)]
    target = [c for c in cells if c.value == '=HYPERLINK("http://example.invalid","点击")']
    assert target and all(c.data_type == "s" for c in target)
