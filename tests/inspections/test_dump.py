"""The written-out dumps of inspections and findings (the sync feed's) equal the schemas'."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import session
from app.documents.models import Document
from app.fields import DumpContext
from app.inspections.models import Finding, Inspection
from app.inspections.schemas import FindingSchema, InspectionSchema, dump_finding, dump_inspection

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
SHA = "ab" * 32


def _document(inspection_id: uuid.UUID, **content: Any) -> Document:
    return Document(
        id=uuid.uuid4(),
        kind="rectification_order",
        inspection_id=inspection_id,
        number="长应急责改〔2026〕第0007号",
        version=2,
        content=content,
        code="K7Q2M9XW",
        sha256=SHA,
        issued_at=NOW - timedelta(minutes=5, microseconds=17),
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},  # planned, no window, not checked in, no documents
        {"dispatch_at": NOW + timedelta(days=1)},  # planned, not yet dispatched
        {"window_start": NOW, "window_end": None},  # half a window
        {
            "status": "submitted",
            "window_start": NOW - timedelta(hours=2),
            "window_end": NOW + timedelta(hours=6),
            "dispatch_at": NOW - timedelta(hours=3),
            "check_in_at": NOW - timedelta(hours=1, microseconds=5),
            "check_in_received_at": NOW - timedelta(minutes=59),
            "check_in_lat": 31.2195,
            "check_in_lon": 121.4265,
            "check_in_accuracy": 6.5,
            "check_in_distance_m": 12.25,
            "check_in_far": False,
            "submitted_at": NOW,
            "checklist_version": 3,
            "sampling_plan_id": uuid.uuid4(),
        },
        {"check_in_received_at": NOW, "check_in_lat": None},  # a check-in without a location
    ],
)
@pytest.mark.parametrize("located", [True, False])
def test_dump_inspection_equals_the_schema(
    app: Flask, make: Any, fields: dict[str, Any], located: bool
) -> None:
    where = {} if located else {"lat": None, "lon": None}
    ent = make.enterprise(name="长宁区“老上海”面馆", address="华阳路12弄3号", **where)
    inspectors = [make.user(), make.user()]
    inspection_id = make.inspection(ent.id, inspectors, NOW)
    with app.app_context():
        insp = session.get(Inspection, inspection_id)
        assert insp is not None
        for name, value in fields.items():
            setattr(insp, name, value)
        if "check_in_at" in fields:
            insp.check_in_by = inspectors[0].id
        session.flush()
        insp.recheck_hazard_ids = sorted([uuid.uuid4(), uuid.uuid4()])  # type: ignore[attr-defined]
        insp.documents = (  # type: ignore[attr-defined]
            [
                _document(insp.id, title="责令限期整改指令书", verify_url="https://x/public/K7"),
                _document(insp.id),
            ]
            if fields
            else []
        )
        with DumpContext({"now": NOW}):
            expected = InspectionSchema().dump(insp)
        assert dump_inspection(insp, NOW) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"result": "pass"},  # nothing but a result: no photos, no location, no value
        {
            "result": "fail",
            "grade": "major",
            "note": "燃气报警器未安装；软管老化开裂，长度超过2米。",
            "photos": [SHA, "cd" * 32],
            "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 6},
            "value": 2.5,
            "measures": [{"code": "stop_use", "note": "立即停止使用"}, {"code": "evacuate"}],
            "review_status": "confirmed",
            "review_comment": "属实",
            "media_pending": True,
            "checklist_version": 2,
        },
        {"result": "na", "value": 0.0, "photos": [], "measures": [], "location": None},
    ],
)
def test_dump_finding_equals_the_schema(app: Flask, make: Any, fields: dict[str, Any]) -> None:
    ent = make.enterprise()
    inspector = make.user()
    inspection_id = make.inspection(ent.id, [inspector, make.user()], NOW)
    with app.app_context():
        finding = Finding(
            id=uuid.uuid4(),
            inspection_id=inspection_id,
            item_code="GC-01",
            grade=fields.pop("grade", "general"),
            recorded_at=NOW - timedelta(minutes=3, microseconds=250),
            received_at=NOW,
            recorded_by=inspector.id if fields.get("photos") else None,
            **fields,
        )
        session.add(finding)
        session.commit()
        orm = session.get(Finding, finding.id)
        row = session.execute(select(*Finding.__table__.c).where(Finding.id == finding.id)).one()
        expected = FindingSchema().dump(orm)
        assert dump_finding(orm) == expected
        assert dump_finding(row) == expected
