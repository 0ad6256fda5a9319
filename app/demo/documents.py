"""Demo documents (执法文书): one inspection that produces all four, signed on site.

A third restaurant is inspected the way the review demo's are (plan, check-in, every item
answered through the sync engine, photos through the media pipeline, submit); one failure has
measures ordered on the spot (停止使用). The supervisor confirms it, which opens two tickets;
the inspector issues the 现场检查记录, the 责令限期整改指令书 and the 现场处理措施决定书, and
the officers and the restaurant's manager sign the record on the device (the manager refuses
to sign the order, with a witness). The tickets are rectified, a recheck visit passes one and
fails the other, and the 整改复查意见书 is issued. Every row goes through the services, so the
audit chain binds each of them.

Idempotent: the visit has a fixed id, and ``fieldsafe demo`` loads everything in one
transaction, so once the visit exists the whole demo does.
"""

from __future__ import annotations

import io
import math
from datetime import timedelta

from PIL import Image, ImageDraw
from sqlalchemy import select

from app.clock import utcnow
from app.db import session
from app.demo.fieldwork import (
    Answer,
    Shot,
    _carry_out,
    _enterprises,
    _id,
    _iso,
    _near,
    _plan,
    _push,
    _sha256,
    _upload,
    _user,
    draw_photo,
)
from app.documents.commands import DocumentSign
from app.documents.models import Document
from app.documents.services import issue_document, sign_document
from app.hazards import rechecks
from app.hazards.models import Hazard
from app.hazards.services import apply_action
from app.inspections.models import Finding, Inspection
from app.inspections.services import create_inspection
from app.registry.models import Enterprise
from app.review.services import confirm_passes, review_finding


def signature(name: str) -> bytes:
    """A handwritten-looking signature stroke, drawn as a device's signature pad sends it."""
    im = Image.new("RGBA", (480, 160), (255, 255, 255, 0))
    draw = ImageDraw.Draw(im)
    seed = sum(name.encode())
    for stroke in range(3):
        points = [
            (
                30 + stroke * 140 + i * 12,
                80 + int(38 * math.sin((i + seed % 7) / (1.6 + stroke)) * (1 - i / 14)),
            )
            for i in range(12)
        ]
        draw.line(points, fill=(20, 20, 70, 255), width=6, joint="curve")
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def _enterprise() -> Enterprise:
    """A restaurant no other demo touches (the review demo takes the two before it)."""
    first, second = _enterprises()
    gas = session.execute(
        select(Enterprise)
        .where(Enterprise.industry == "gas_catering", Enterprise.lat.is_not(None))
        .order_by(Enterprise.uscc)
    ).scalars()
    free = [
        e
        for e in list(gas)[2:]
        if e.jurisdiction_code != "huayanglu" and e.id not in (first.id, second.id)
    ]
    return free[0]


def load_documents_demo() -> dict[str, int]:
    """Create the documents demo unless done; return counts."""
    if session.get(Inspection, _id("documents-visit")) is not None:
        return {"demo documents": 0}  # loaded in one transaction with the rest: all or nothing
    planner, coordinator = _user("planner"), _user("coordinator")
    supervisor = _user("supervisor")
    inspector1, inspector2 = _user("inspector1"), _user("inspector2")
    ent = _enterprise()
    started = utcnow()
    now = started.replace(second=0, microsecond=0)
    assert ent.lat is not None and ent.lon is not None

    # 1. The visit, five hours ago: two failures, one with measures ordered on the spot.
    insp = _plan(
        "documents-visit",
        "unannounced",
        ent,
        planner,
        [inspector1, inspector2],
        now - timedelta(hours=5),
        started,
    )
    t0 = insp.check_in_at or now - timedelta(hours=5)
    shots = {
        "detector": Shot(
            "detector",
            "GAS-08 alarm wrapped in a plastic bag",
            t0 + timedelta(minutes=14),
            _near(ent.lat, ent.lon, 5, 3),
        ),
        "pipe": Shot(
            "pipe",
            "GAS-14 woks hung on the riser",
            t0 + timedelta(minutes=22),
            _near(ent.lat, ent.lon, -4, 6),
        ),
        "fixed": Shot(
            "pipe",
            "GAS-14 riser cleared after the order",
            now - timedelta(minutes=40),
            _near(ent.lat, ent.lon, -4, 6),
        ),
    }
    data = {name: draw_photo(shot) for name, shot in shots.items()}
    sha = {name: _sha256(b) for name, b in data.items()}
    photos = {sha[name]: b for name, b in data.items()}
    answers = [
        Answer("GAS-01", 4, "pass", "瓶组间设于室外，地下室无燃气设施"),
        Answer(
            "GAS-08",
            15,
            "fail",
            "后厨燃气浓度报警器被塑料袋包裹，按测试键无声光报警；后厨燃具仍在使用",
            (sha["detector"],),
            ({"code": "stop_use", "note": "责令停止使用后厨燃具，待报警器恢复后方可使用"},),
        ),
        Answer("GAS-14", 23, "fail", "燃气立管上悬挂炒锅、漏勺等厨具", (sha["pipe"],)),
    ]
    _carry_out(
        insp,
        "documents-visit",
        inspector1,
        t0,
        answers,
        {k: photos[k] for k in (sha["detector"], sha["pipe"])},
        50,
        started,
    )

    # 2. The supervisor confirms: the passes at once, each failure opens its ticket.
    confirm_passes(supervisor, insp.id, now=started)
    fails = session.execute(
        select(Finding)
        .where(Finding.inspection_id == insp.id, Finding.review_status == "pending")
        .order_by(Finding.item_code)
    ).scalars()
    for finding in list(fails):
        review_finding(
            supervisor, finding.id, {"decision": "confirm", "comment": "情况属实"}, now=started
        )

    # 3. The documents of the visit, signed on the device.
    record = issue_document(inspector1, insp.id, "inspection_record", now=started)
    order = issue_document(inspector1, insp.id, "rectification_order", now=started)
    issue_document(inspector1, insp.id, "onsite_measures", now=started)
    signed_at = t0 + timedelta(minutes=52)
    place = ent.address or ent.name
    for who, role in (
        (inspector1, "inspector"),
        (inspector2, "inspector"),
        (None, "representative"),
    ):
        name = who.name if who else (ent.principal_name or "现场负责人")
        record = sign_document(
            inspector1,
            DocumentSign(
                document_id=record.id,
                role=role,
                signer_name=name,
                signer_id=who.id if who else None,
                signed_at=signed_at,
                image=signature(name),
                place=place,
                lat=ent.lat,
                lon=ent.lon,
                accuracy=8.0,
            ),
            now=started,
        )
    sign_document(
        inspector1,
        DocumentSign(
            document_id=order.id,
            role="representative",
            signer_name=ent.principal_name or "现场负责人",
            signed_at=signed_at + timedelta(minutes=2),
            refused=True,
            witness_name="周明（街道安全员）",
            place=place,
        ),
        now=started,
    )

    # 4. The tickets are rectified; a recheck visit passes one and fails the other.
    tickets = list(
        session.execute(
            select(Hazard).where(Hazard.inspection_id == insp.id).order_by(Hazard.seq)
        ).scalars()
    )
    for h in tickets:
        apply_action(
            coordinator, h.id, {"action": "assign", "assignee_id": inspector1.id}, now=started
        )
        apply_action(inspector1, h.id, {"action": "start"}, now=started)
        apply_action(
            inspector1,
            h.id,
            {"action": "submit_rectification", "note": "已整改", "photos": [sha["fixed"]]},
            now=started,
        )
    _upload(inspector1, {sha["fixed"]: photos[sha["fixed"]]}, started)
    visit = create_inspection(
        planner,
        {
            "type": "recheck",
            "enterprise_id": ent.id,
            "inspector_ids": [inspector1.id, inspector2.id],
            "window": {"start": now - timedelta(hours=1), "end": now + timedelta(days=7)},
            "dispatch_at": now - timedelta(hours=1),
        },
        now=started,
    )
    rechecks.cover(visit, [h.id for h in tickets])
    here = _near(ent.lat, ent.lon, 6, -4)
    _push(
        inspector1,
        [
            (
                "inspection.check_in",
                {
                    "inspection_id": str(visit.id),
                    "at": _iso(now - timedelta(minutes=30)),
                    "location": {"lat": here[0], "lon": here[1], "accuracy": 7.0},
                },
            )
        ],
        started,
    )
    passed, failed = tickets[0], tickets[-1]
    apply_action(
        inspector1,
        passed.id,
        {
            "action": "recheck",
            "result": "pass",
            "note": "报警器已恢复，测试正常",
            "photos": [sha["fixed"]],
            "inspection_id": visit.id,
        },
        now=started,
    )
    if failed.id != passed.id:
        apply_action(
            inspector1,
            failed.id,
            {
                "action": "recheck",
                "result": "fail",
                "note": "立管上仍悬挂厨具",
                "photos": [],
                "inspection_id": visit.id,
                "deadline": now + timedelta(days=5),
            },
            now=started,
        )
    issue_document(inspector1, visit.id, "recheck_opinion", now=started)
    count = session.execute(select(Document.id)).all()
    return {"demo documents": len(count)}
