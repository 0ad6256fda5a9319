"""Demo tickets: one or more in every state, some overdue and escalated, and public reports.

Idempotent: tickets have fixed ids (uuid5), so a second run finds them and adds nothing.
Built through the services (issue, then real actions by the right people), so timelines,
audit entries and notifications look like the real thing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.auth.services import hash_password
from app.clock import utcnow
from app.db import session
from app.demo.org import DEMO_PASSWORD
from app.hazards.models import Hazard
from app.hazards.services import apply_action, issue_hazard
from app.org.models import User
from app.public_reports.models import PublicReport
from app.public_reports.services import verify_public_report
from app.registry.models import Enterprise
from app.settings import get_settings

NAMESPACE = uuid.UUID("6f1d2c1e-2b0a-4f43-9d8e-7d1b8b0c9a11")

#: Supervisors of the other responsible departments, so every demo ticket can be closed.
EXTRA_ACCOUNTS = [
    ("supervisor_fire", "fire", "消防 审核员"),
    ("supervisor_construction", "construction", "建管委 审核员"),
]

PLAN = {
    "goals": "消除重大事故隐患，恢复安全生产条件",
    "measures": "拆除违规设置的设施，按规范重新设计施工",
    "funds_and_materials": "专项资金20万元",
    "people_and_duties": "企业主要负责人牵头，安全员每日巡查",
    "safety_measures": "整改期间停止相关作业，设置警戒区",
    "emergency_plan": "修订现场处置方案并组织演练",
}


def _id(label: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, label)


def _user(username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def _extra_accounts() -> None:

    for username, dept, name in EXTRA_ACCOUNTS:
        exists = session.execute(select(User.id).where(User.username == username)).first()
        if exists is None:
            session.add(
                User(
                    username=username,
                    password_hash=hash_password(DEMO_PASSWORD),
                    role="supervisor",
                    name=name,
                    jurisdiction_code="changning",
                    department_code=dept,
                    conflicts=[],
                )
            )
    session.flush()


def load_hazards_demo() -> dict[str, int]:
    """Create the demo tickets and reports unless they exist; return counts."""
    _extra_accounts()
    if session.get(Hazard, _id("ticket-1")) is not None:
        return {"hazards": 0, "public_reports": 0}
    now = utcnow()
    coordinator, inspector = _user("coordinator"), _user("inspector1")
    enterprise_user = _user("enterprise1")
    own = session.get(Enterprise, enterprise_user.enterprise_id)
    assert own is not None
    by_industry: dict[str, list[Enterprise]] = {}
    for ent in session.execute(select(Enterprise).order_by(Enterprise.uscc)).scalars():
        by_industry.setdefault(ent.industry, []).append(ent)
    supervisors = {
        "emergency": _user("supervisor"),
        "fire": _user("supervisor_fire"),
        "construction": _user("supervisor_construction"),
    }

    def ticket(
        n: int,
        ent: Enterprise,
        grade: str,
        text: str,
        source: str = "supervision",
        deadline_days: float | None = None,
        actor: User | None = None,
        found_days_ago: float = 20,
    ) -> Hazard:
        h = issue_hazard(
            source=source,
            enterprise=ent,
            grade=grade,
            description=text,
            actor=actor or inspector,
            found_at=now - timedelta(days=found_days_ago),
            deadline=now + timedelta(days=deadline_days) if deadline_days is not None else None,
            hazard_id=_id(f"ticket-{n}"),  # fixed ids keep the loader idempotent
            now=now,
        )
        return h

    def act(h: Hazard, user: User, **data: Any) -> None:
        apply_action(user, h.id, data, now=now)

    def closer(h: Hazard) -> User:
        department = get_settings().responsible_department(h.industry)
        return supervisors.get(department, supervisors["emergency"])

    photo = "0" * 64  # demo tickets reference no stored photo bytes
    gas = by_industry["gas_catering"]
    chem = by_industry["hazardous_chemicals"]
    ebike = by_industry["ebike_charging"]
    warehouse = by_industry["factory_warehouse"]
    mall = by_industry["commercial_complex"]
    confined = by_industry["confined_space"]

    # 1 open: the demo enterprise's own self-report.
    ticket(1, own, "general", "后厨灭火器压力不足", source="self_report", actor=enterprise_user)
    # 2 rectifying (major, listed, with its plan), the demo enterprise's, assigned to inspector1.
    h = ticket(2, own, "major", "燃气管道设置在地下室且未设置泄漏报警装置", deadline_days=40)
    act(h, coordinator, action="assign", assignee_id=inspector.id)
    act(h, enterprise_user, action="start", plan=PLAN)
    # 3 rectified: evidence submitted, waiting for the recheck.
    h = ticket(3, gas[0], "general", "燃气软管超过两米且穿墙敷设")
    act(h, coordinator, action="assign", assignee_id=inspector.id)
    act(h, inspector, action="start")
    act(h, inspector, action="submit_rectification", note="已更换为金属波纹管", photos=[photo])
    # 4 verified: a general hazard fixed on the spot.
    h = ticket(4, ebike[0], "general", "充电区堆放可燃杂物")
    act(h, coordinator, action="assign", assignee_id=inspector.id)
    act(h, inspector, action="recheck", result="pass", note="现场清理完毕", photos=[photo])
    # 5 closed: the whole loop, with one failed recheck on the way.
    h = ticket(5, chem[0], "general", "危化品仓库未张贴安全周知卡")
    act(h, coordinator, action="assign", assignee_id=inspector.id)
    act(h, inspector, action="start")
    act(h, inspector, action="submit_rectification", note="已张贴", photos=[photo])
    act(h, inspector, action="recheck", result="fail", note="部分区域仍未张贴", photos=[])
    act(h, inspector, action="submit_rectification", note="全部补齐", photos=[photo])
    act(h, inspector, action="recheck", result="pass", note="复查合格", photos=[photo])
    act(h, closer(h), action="close", note="审核同意销号")
    # 6 overdue by ten days, escalated twice (函告, 通报).
    h = ticket(6, warehouse[0], "general", "仓库安全出口被货物堵塞", deadline_days=-10)
    act(h, coordinator, action="escalate", note="逾期未整改，函告企业")
    act(h, coordinator, action="escalate", note="逾期仍未整改，通报")
    # 7 a major hazard a month overdue, escalated to the top (曝光): found three months ago.
    h = ticket(
        7,
        mall[0],
        "major",
        "商业综合体疏散指示标志损坏率超过规定",
        deadline_days=-30,
        found_days_ago=90,
    )
    act(h, coordinator, action="assign", assignee_id=inspector.id)
    act(h, inspector, action="start", plan=PLAN)
    for note in ("函告", "通报", "约谈企业主要负责人", "向社会曝光"):
        act(h, coordinator, action="escalate", note=note)
    # 8 open with an extension request waiting for the coordinator.
    h = ticket(8, confined[0], "general", "有限空间未设置安全警示标志", deadline_days=5)
    act(h, coordinator, action="assign", assignee_id=inspector.id)
    act(
        h,
        inspector,
        action="request_extension",
        until=h.deadline + timedelta(days=14),
        reason="警示标志定制中",
    )
    # 9 due in two days.
    ticket(9, gas[1], "general", "燃气报警器未与切断阀联动", deadline_days=2)

    # Public reports: one verified into a ticket, one pending, one rejected.
    reports = []
    for n, (text, street) in enumerate(
        [
            ("小区地下车库有电动自行车充电", "tianshanlu"),
            ("餐馆门口堆放液化气钢瓶", "xinhualu"),
            ("工地夜间电焊无人看护", "hongqiao"),
        ],
        start=1,
    ):
        report = PublicReport(
            id=_id(f"report-{n}"),
            description=text,
            address=f"长宁区{text[:4]}附近",
            jurisdiction_code=street,
            status="pending",
            received_at=now - timedelta(days=n),
        )
        session.add(report)
        reports.append(report)
    session.flush()
    verify_public_report(
        coordinator,
        reports[0].id,
        {"enterprise_id": ebike[1].id, "grade": "general", "note": "现场查实"},
        now=now,
    )
    reports[2].status, reports[2].decided_by, reports[2].decided_at = (
        "rejected",
        coordinator.id,
        now,
    )
    reports[2].decision_note = "现场核查无此情况"
    session.flush()
    return {"hazards": 10, "public_reports": 3}
