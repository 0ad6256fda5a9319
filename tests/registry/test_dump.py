"""The enterprise's written-out dump (the sync feed's) equals EnterpriseSchema's, row for row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import session
from app.registry.models import Enterprise
from app.registry.schemas import EnterpriseSchema, dump_enterprise


@pytest.mark.parametrize(
    "fields",
    [
        {},  # a location, no principal, never inspected
        {"lat": None, "lon": None, "address": ""},  # no location
        {"lat": 31.2, "lon": None},  # half a location is none
        {
            "name": "上海长宁区华阳路燃气餐饮有限公司（总店）",
            "address": "长宁路1018号龙之梦购物中心B1层",
            "principal_name": "张三",
            "principal_phone": "+86 138 0013 8000",
            "risk_level": "high",
            "last_inspected_at": datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC),
        },
    ],
)
def test_dump_enterprise_equals_the_schema(app: Flask, make: Any, fields: dict[str, Any]) -> None:
    ent = make.enterprise(**fields)
    with app.app_context():
        orm = session.get(Enterprise, ent.id)
        row = session.execute(select(*Enterprise.__table__.c).where(Enterprise.id == ent.id)).one()
        expected = EnterpriseSchema().dump(orm)
        assert dump_enterprise(orm) == expected
        assert dump_enterprise(row) == expected
