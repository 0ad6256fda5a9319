"""The demo district: 长宁区, its streets, departments, accounts, enterprises (idempotent)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from sqlalchemy import select

from app.auth.services import hash_password
from app.db import session
from app.org.models import Department, Jurisdiction, User
from app.registry.models import Enterprise
from app.registry.uscc import make_uscc

DEMO_PASSWORD = "fieldsafe-demo"

DISTRICT = ("changning", "长宁区", 31.2200, 121.4200)
STREETS = [
    ("huayanglu", "华阳路街道", 31.2195, 121.4265),
    ("jiangsulu", "江苏路街道", 31.2215, 121.4330),
    ("xinhualu", "新华路街道", 31.2040, 121.4260),
    ("zhoujiaqiao", "周家桥街道", 31.2165, 121.4110),
    ("tianshanlu", "天山路街道", 31.2120, 121.4010),
    ("xianxiaxincun", "仙霞新村街道", 31.2050, 121.3900),
    ("hongqiao", "虹桥街道", 31.1990, 121.4120),
    ("chengjiaqiao", "程家桥街道", 31.1960, 121.3650),
    ("beixinjing", "北新泾街道", 31.2170, 121.3800),
    ("xinjingzhen", "新泾镇", 31.2150, 121.3550),
]
DEPARTMENTS = [
    ("safety_office", "区安委会办公室"),
    ("emergency", "区应急管理局"),
    ("fire", "区消防救援支队"),
    ("construction", "区建设和管理委员会"),
    ("market", "区市场监督管理局"),
    ("police", "区公安分局"),
]
INDUSTRIES = {
    "commercial_complex": ("商业广场", "购物中心", "商业中心"),
    "medical_elderly_care": ("养老院", "护理院", "社区卫生服务中心", "医院"),
    "hazardous_chemicals": ("化工贸易有限公司", "危险化学品经营部", "加油站"),
    "gas_catering": ("餐饮管理有限公司", "酒家", "面馆", "火锅店"),
    "factory_warehouse": ("仓储有限公司", "物流仓库", "机械厂"),
    "confined_space": ("污水泵站", "排水管理所", "地下车库管理处"),
    "high_rise": ("大厦", "国际公寓", "中心大楼"),
    "ebike_charging": ("电动自行车充电站", "非机动车集中充电点"),
    "construction_decoration": ("建设工程项目部", "装饰工程有限公司"),
    "hot_work": ("钢结构工程有限公司", "机电安装有限公司"),
}
NAME_PREFIXES = (
    "天山",
    "仙霞",
    "虹桥",
    "华阳",
    "江苏",
    "新华",
    "周家桥",
    "北新泾",
    "程家桥",
    "新泾",
    "愚园",
    "长宁",
    "中山",
    "遵义",
    "娄山关",
    "古北",
    "哈密",
    "茅台",
    "延安",
    "金钟",
)
ENTERPRISE_COUNT = 320

# (username, role, jurisdiction, department, display name, certificate no.)
ACCOUNTS = [
    ("admin", "admin", "changning", "safety_office", "系统管理员", None),
    ("planner", "planner", "changning", "safety_office", "区安委办 计划员", None),
    ("inspector1", "inspector", "changning", "emergency", "应急局 检查员一", "31010520230001"),
    ("inspector2", "inspector", "changning", "fire", "消防 检查员二", "31010520230002"),
    ("inspector3", "inspector", "huayanglu", "emergency", "华阳路 检查员三", "31010520230003"),
    ("supervisor", "supervisor", "changning", "emergency", "应急局 审核员", None),
    ("coordinator", "coordinator", "changning", "safety_office", "工作专班 协调员", None),
    ("enterprise1", "enterprise", "huayanglu", None, "企业账号一", None),
]


def _upsert(model: Any, key: dict[str, Any], values: dict[str, Any]) -> Any:
    obj = session.execute(select(model).filter_by(**key)).scalar_one_or_none()
    if obj is None:
        obj = model(**key, **values)
        session.add(obj)
    return obj


def load_org() -> None:
    """Create the district, its streets/towns and the departments."""
    code, name, lat, lon = DISTRICT
    _upsert(
        Jurisdiction, {"code": code}, {"name": name, "level": "district", "lat": lat, "lon": lon}
    )
    session.flush()
    for code, name, lat, lon in STREETS:
        _upsert(
            Jurisdiction,
            {"code": code},
            {"name": name, "level": "street", "parent_code": DISTRICT[0], "lat": lat, "lon": lon},
        )
    for code, name in DEPARTMENTS:
        _upsert(Department, {"code": code}, {"name": name, "jurisdiction_code": DISTRICT[0]})
    session.flush()


def load_enterprises(count: int = ENTERPRISE_COUNT) -> list[Enterprise]:
    """Create `count` enterprises across the checklist industries inside Changning."""
    rng = random.Random(20240429)  # fixed: the same demo every time, so loading is idempotent
    industries = list(INDUSTRIES)
    existing = {e.uscc: e for e in session.execute(select(Enterprise)).scalars()}
    result = []
    for i in range(count):
        industry = industries[i % len(industries)]
        street = STREETS[rng.randrange(len(STREETS))]
        uscc = make_uscc(rng)
        name = f"上海{rng.choice(NAME_PREFIXES)}{rng.choice(INDUSTRIES[industry])}（{i + 1:03d}）"
        lat = round(street[2] + rng.uniform(-0.004, 0.004), 6)
        lon = round(street[3] + rng.uniform(-0.004, 0.004), 6)
        risk = rng.choices(("high", "medium", "low"), weights=(2, 5, 3))[0]
        # Draw every value whether or not the row exists, so each run sees the same sequence.
        address = f"上海市长宁区{street[1]}{rng.choice(NAME_PREFIXES)}路{rng.randint(1, 1500)}号"
        principal = f"{rng.choice('张王李赵陈刘杨黄周吴')}{rng.choice('伟芳娜敏静丽强磊军洋')}"
        phone = f"138{rng.randint(10_000_000, 99_999_999)}"
        ent = existing.get(uscc)
        if ent is None:
            ent = Enterprise(
                uscc=uscc,
                name=name,
                industry=industry,
                jurisdiction_code=street[0],
                address=address,
                lat=lat,
                lon=lon,
                risk_level=risk,
                principal_name=principal,
                principal_phone=phone,
            )
            session.add(ent)
        result.append(ent)
    session.flush()
    return result


def load_accounts(enterprises: list[Enterprise]) -> list[User]:
    """Create the demo accounts (password fieldsafe-demo); enterprise1 owns the first enterprise."""
    users = []
    own = next(e for e in enterprises if e.jurisdiction_code == "huayanglu")
    pw_hash = None
    for username, role, juris, dept, name, cert in ACCOUNTS:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            pw_hash = pw_hash or hash_password(DEMO_PASSWORD)
            user = User(
                username=username,
                password_hash=pw_hash,
                role=role,
                name=name,
                jurisdiction_code=juris,
                department_code=dept,
                enterprise_id=own.id if role == "enterprise" else None,
                certificate_no=cert,
                certificate_expires=date(2028, 12, 31) if cert else None,
                conflicts=[],
            )
            session.add(user)
        users.append(user)
    session.flush()
    return users
