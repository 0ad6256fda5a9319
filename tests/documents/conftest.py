"""Fixtures for the document tests: a checked-in, submitted gas-catering inspection with its
answers, photos (real JPEGs through the media pipeline), tickets and on-site measures."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pdfplumber
import pytest
from flask import Flask
from PIL import Image, ImageDraw

from tests.hazards.helpers import Clock
from tests.media.conftest import s3_endpoint  # noqa: F401 - moto's S3 server, for the photos

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in China


@dataclass
class Case:
    app: Flask
    client: Any
    inspection_id: uuid.UUID
    enterprise: Any
    inspectors: list[Any]
    hazard_ids: list[uuid.UUID]
    photos: list[str]
    headers: dict[str, dict[str, str]]

    def issue(self, kind: str, who: str = "inspector") -> Any:
        return self.client.post(
            f"/api/v1/inspections/{self.inspection_id}/documents",
            json={"kind": kind},
            headers=self.headers[who],
        )

    def pdf(self, document_id: str, who: str = "inspector") -> bytes:
        resp = self.client.get(f"/api/v1/documents/{document_id}/pdf", headers=self.headers[who])
        assert resp.status_code == 200, resp.data[:300]
        return resp.data


def pdf_text(data: bytes) -> str:
    """Every page's text, as pdfplumber extracts it (spaces and line ends dropped)."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        text = "".join(page.extract_text() or "" for page in pdf.pages)
    return text.replace(" ", "").replace("\n", "")


def pdf_pages(data: bytes) -> int:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return len(pdf.pages)


def squeeze(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def signature_png(label: str = "sig") -> bytes:
    """A signature drawn as a device would send it: a PNG of strokes."""
    im = Image.new("RGBA", (400, 140), (255, 255, 255, 0))
    draw = ImageDraw.Draw(im)
    seed = sum(label.encode())
    points = [(20 + i * 30, 70 + ((i * seed) % 50) - 25) for i in range(12)]
    draw.line(points, fill=(10, 10, 60, 255), width=5)
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_case(app: Flask, client: Any, make: Any, login: Any, long_note: str = "") -> Case:
    """Arrange the record (as the sync engine and the review would have left it)."""
    from app.checklists.services import get_checklist, load_library
    from app.db import session
    from app.demo.fieldwork import Shot, draw_photo
    from app.hazards.services import issue_hazard
    from app.inspections.models import Finding, Inspection
    from app.media.services import store_photo
    from app.org.models import User
    from app.registry.models import Enterprise

    ent = make.enterprise(principal_name="张国强", principal_phone="021-62000000")
    a = make.user("inspector", name="李明", certificate_no="31010520001")
    b = make.user("inspector", name="王芳", certificate_no="31010520002")
    insp_id = make.inspection(ent.id, [a, b], T0 - timedelta(days=1))
    with app.app_context():
        load_library(now=T0)
        checklist = get_checklist("gas_catering")
        insp = session.get(Inspection, insp_id)
        insp.checklist_version = checklist.version
        insp.status = "submitted"
        insp.check_in_at = insp.check_in_received_at = T0
        insp.check_in_by = a.id
        insp.submitted_at = insp.submitted_received_at = T0 + timedelta(minutes=55)
        uploader = session.get(User, a.id)
        photos = []
        for n, scene in enumerate(("stove", "detector")):
            data = draw_photo(Shot(scene, f"test {scene}", T0 + timedelta(minutes=10 + n), None))
            sha = hashlib.sha256(data).hexdigest()
            store_photo(data, sha256=sha, actor=uploader, now=T0, via="test")
            photos.append(sha)
        failing = {
            "GAS-04": ("后厨三眼灶无熄火保护装置" + long_note, [photos[0]], []),
            "GAS-08": (
                "燃气浓度报警器被遮挡",
                [photos[1]],
                [{"code": "stop_use", "note": "停用后厨燃具"}, {"code": "evacuate", "note": ""}],
            ),
        }
        items = checklist.content["items"]
        findings = {}
        for n, item in enumerate(items):
            note, shots, measures = failing.get(item["code"], ("", [], []))
            f = Finding(
                id=uuid.uuid4(),
                inspection_id=insp.id,
                item_code=item["code"],
                checklist_version=checklist.version,
                result="fail" if item["code"] in failing else "pass",
                note=note,
                grade=item.get("grade", "general"),
                photos=shots,
                measures=measures,
                recorded_at=T0 + timedelta(minutes=n),
                recorded_by=a.id,
                review_status="confirmed" if item["code"] in failing else "pending",
            )
            session.add(f)
            findings[item["code"]] = (f, item)
        session.flush()
        hazard_ids = []
        for code in failing:
            f, item = findings[code]
            h = issue_hazard(
                source="inspection",
                enterprise=session.get(Enterprise, ent.id),
                grade=f.grade,
                description=f.note[:200],
                actor=None,
                photos=f.photos,
                found_at=T0,
                deadline=T0 + timedelta(days=7),
                item_code=code,
                basis=item.get("basis"),
                finding_id=f.id,
                inspection_id=insp.id,
                now=T0,
            )
            hazard_ids.append(h.id)
        session.commit()
    headers = {"inspector": login(a), "inspector2": login(b)}
    return Case(app, client, insp_id, ent, [a, b], hazard_ids, photos, headers)


@pytest.fixture
def clock(app: Flask) -> Clock:
    c = Clock(T0 + timedelta(hours=2))
    app.config["CLOCK"] = c
    app.config["ACCESS_TOKEN_TTL"] = 400 * 24 * 3600
    return c


@pytest.fixture
def case(app: Flask, client: Any, make: Any, login: Any, clock: Clock) -> Case:
    return build_case(app, client, make, login)
