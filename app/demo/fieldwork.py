"""Demo work for the review step: two submitted inspections waiting in the supervisor's queue.

Built the way real work arrives: the planner's inspection (team inspector1 + inspector2), then
the inspector's device pushes its outbox through the sync engine (``inspection.check_in`` with
a GPS fix near the site, ``finding.put`` for each checklist answer), uploads the photos through
the media pipeline (``store_photo``: hash check, sniffing, EXIF, thumbnails, storage, the
stored-photo hooks and the audit entry, as the upload endpoints do), and pushes
``inspection.submit``. The device times lie a few hours back, as if the device synced its
outbox on reconnecting; the server times are the time of loading.

The photos are real JPEGs drawn with Pillow. Their evidence is chosen so the queue shows each
flag a newcomer should learn to read: most carry EXIF time and GPS from the visit, one has no
EXIF at all (``photo_no_exif``), one was taken 2 km away (``photo_far_from_site``), and the
second inspection cites a photo of the first (``photo_reused``).

Idempotent and resumable: inspections, findings and the devices' client ids are fixed uuid5s;
each step runs only while the inspection has not reached it, and a photo's bytes derive from
the stored check-in time, so a resumed run regenerates the same SHA-256s; resuming is what
makes an interrupted load safe to run again.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from app.audit.services import record
from app.changelog import record_changes
from app.checklists.services import get_checklist
from app.clock import utcnow
from app.db import session
from app.inspections.models import Inspection
from app.inspections.services import (
    CHINA_TZ,
    check_team,
    china_today,
    latest_checklist_versions,
    new_inspection,
)
from app.media.models import MediaObject
from app.media.services import store_photo
from app.org.models import User
from app.registry.models import Enterprise
from app.sync.models import SyncClient
from app.sync.services import push
from sync.protocol import PushRequest, RawMutation

NAMESPACE = uuid.UUID("0b7e3c52-58a4-4f0e-9d1a-3c6f2a9e8b47")
#: Metres per degree of latitude (and of longitude at Changning's latitude).
M_PER_DEG_LAT = 111_195.0
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(31.22))


def _id(label: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, label)


def _user(username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def _near(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """Return the point ``north_m`` north and ``east_m`` east of (lat, lon), 7 decimals."""
    return (
        round(lat + north_m / M_PER_DEG_LAT, 7),
        round(lon + east_m / M_PER_DEG_LON, 7),
    )


# --------------------------------------------------------------------------- photos


@dataclass(frozen=True)
class Shot:
    """One photo to draw: its scene, caption, capture time and place (None: no EXIF)."""

    scene: str
    caption: str
    taken_at: datetime | None
    gps: tuple[float, float] | None


def _font(size: int) -> Any:
    return ImageFont.load_default(size=size)


def _background(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    """A tiled kitchen wall and floor; the seed varies the tiles so every photo differs."""
    wall = (rng.randrange(190, 235), rng.randrange(190, 235), rng.randrange(180, 225))
    draw.rectangle((0, 0, w, h * 2 // 3), fill=wall)
    tile = rng.randrange(40, 90)
    for x in range(0, w, tile):
        draw.line((x, 0, x, h * 2 // 3), fill=(150, 150, 150), width=2)
    for y in range(0, h * 2 // 3, tile):
        draw.line((0, y, w, y), fill=(150, 150, 150), width=2)
    floor = (rng.randrange(90, 140), rng.randrange(70, 110), rng.randrange(50, 90))
    draw.rectangle((0, h * 2 // 3, w, h), fill=floor)
    for _ in range(6):  # clutter, so the perceptual hashes of the scenes lie far apart
        x, y = rng.randrange(w), rng.randrange(h * 2 // 3, h)
        s = rng.randrange(30, 110)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + s, y + s // 2), fill=colour)


def _stove(draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A commercial stove fed through a red rubber hose (no flame-failure device)."""
    draw.rectangle((w // 5, h // 2, w * 4 // 5, h * 5 // 6), fill=(70, 70, 75))
    for cx in (w * 2 // 5, w * 3 // 5):
        draw.ellipse((cx - 70, h // 2 - 30, cx + 70, h // 2 + 30), fill=(30, 30, 30))
        draw.ellipse((cx - 40, h // 2 - 15, cx + 40, h // 2 + 15), outline=(40, 90, 220), width=6)
    draw.line(
        [(w * 4 // 5, h * 2 // 3), (w * 7 // 8, h // 2), (w - 40, h // 5)],
        fill=(200, 30, 30),
        width=14,
        joint="curve",
    )
    draw.ellipse((w - 70, h // 5 - 30, w - 10, h // 5 + 30), fill=(230, 200, 40))


def _hose(draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A close-up of the rubber hose pushed onto the valve without a clamp."""
    draw.rectangle((0, h // 3, w * 2 // 5, h // 3 + 70), fill=(190, 160, 40))
    draw.ellipse((w * 2 // 5 - 60, h // 3 - 40, w * 2 // 5 + 60, h // 3 + 110), fill=(160, 20, 20))
    points = [
        (w * 2 // 5 + (i * w) // 14, h // 3 + 35 + int(90 * math.sin(i / 1.5))) for i in range(9)
    ]
    draw.line(points, fill=(210, 40, 40), width=36, joint="curve")


def _detector(draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A gas detector on the wall, hung over with a cloth (alarm blocked)."""
    draw.rectangle((w // 2 - 90, h // 6, w // 2 + 90, h // 6 + 200), fill=(245, 245, 245))
    draw.ellipse((w // 2 - 20, h // 6 + 30, w // 2 + 20, h // 6 + 70), fill=(40, 180, 60))
    draw.polygon(
        [
            (w // 2 - 160, h // 6 - 20),
            (w // 2 + 170, h // 6 - 10),
            (w // 2 + 120, h // 2 + 40),
            (w // 2 - 130, h // 2 + 60),
        ],
        fill=(70, 110, 170),
    )


def _pipe(draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A yellow gas pipe along the wall with woks and ladles hanging from it."""
    draw.rectangle((0, h // 4, w, h // 4 + 34), fill=(230, 190, 30))
    for i, x in enumerate(range(w // 8, w, w // 5)):
        draw.line((x, h // 4 + 34, x, h // 4 + 110), fill=(60, 60, 60), width=5)
        if i % 2:
            draw.ellipse((x - 80, h // 4 + 100, x + 80, h // 4 + 190), fill=(45, 45, 50))
        else:
            draw.ellipse((x - 30, h // 4 + 100, x + 30, h // 4 + 150), fill=(170, 170, 175))
            draw.line((x, h // 4 + 150, x, h // 4 + 300), fill=(170, 170, 175), width=10)


SCENES = {"stove": _stove, "hose": _hose, "detector": _detector, "pipe": _pipe}


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 3)
    return (float(degrees), float(minutes), seconds)


def _exif(shot: Shot) -> bytes:
    """An EXIF block as a phone writes it: make, model, local time with offset, GPS."""
    exif = Image.Exif()
    exif[0x010F] = "HUAWEI"  # Make
    exif[0x0110] = "Mate 60"  # Model
    ifd = exif.get_ifd(0x8769)
    if shot.taken_at is not None:
        local = shot.taken_at.astimezone(CHINA_TZ)
        ifd[0x9003] = local.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
        ifd[0x9011] = "+08:00"  # OffsetTimeOriginal
    if shot.gps is not None:
        lat, lon = shot.gps
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
        gps[5], gps[6] = b"\x00", 6.0
    return exif.tobytes()


def draw_photo(shot: Shot, with_exif: bool = True) -> bytes:
    """Return the JPEG bytes of a shot; the same shot always gives the same bytes."""
    w, h = 1024, 768
    rng = random.Random(f"{shot.scene}/{shot.caption}")
    im = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(im)
    _background(draw, rng, w, h)
    SCENES[shot.scene](draw, w, h)
    draw.rectangle((0, h - 56, w, h), fill=(0, 0, 0))
    draw.text((16, h - 48), shot.caption, fill=(255, 255, 255), font=_font(32))
    out = io.BytesIO()
    options: dict[str, Any] = {"quality": 85}
    if with_exif:
        options["exif"] = _exif(shot)
    im.save(out, format="JPEG", **options)
    return out.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the device


def _push(user: User, mutations: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """Push mutations from the user's demo device through the sync engine; all must apply."""
    client_id = _id(f"device/{user.username}")
    last = session.execute(
        select(SyncClient.last_mutation_id).where(SyncClient.client_id == client_id)
    ).scalar()
    first = int(last or 0) + 1
    request = PushRequest(
        client_id=client_id,
        mutations=tuple(
            RawMutation(first + n, name, args) for n, (name, args) in enumerate(mutations)
        ),
    )
    outcome = push(user, request, now=now)
    refused = [r for r in outcome.results if r["status"] != "applied"]
    if refused:
        raise RuntimeError(f"review demo: the sync engine refused {refused}")


def _upload(user: User, photos: dict[str, bytes], now: datetime) -> int:
    """Store the photos not stored yet, as the device's upload does after its push; return how
    many (through the one photo-storing function, so waiting findings leave media_pending)."""
    stored = 0
    for sha, data in photos.items():
        if session.get(MediaObject, sha) is not None:
            continue
        store_photo(data, sha256=sha, actor=user, now=now, via="demo")
        stored += 1
    return stored


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- inspections


@dataclass(frozen=True)
class Answer:
    """One checklist answer: minutes after check-in, result, note, its photos."""

    code: str
    minutes: int
    result: str
    note: str
    shots: tuple[str, ...] = ()
    #: measures ordered on the spot ``{"code", "note"}`` (the documents demo's 现场处理措施)
    measures: tuple[dict[str, str], ...] = ()


def _plan(
    label: str,
    kind: str,
    enterprise: Enterprise,
    planner: User,
    team: list[User],
    at: datetime,
    now: datetime,
) -> Inspection:
    """Return the planner's inspection of ``enterprise`` (created once, dispatched a day early)."""
    insp = session.get(Inspection, _id(label))
    if insp is not None:
        return insp
    dispatch = at - timedelta(days=1)
    window_end = at + timedelta(days=13)
    check_team([u.id for u in team], enterprise, max(china_today(now), china_today(window_end)))
    insp = new_inspection(
        type=kind,
        enterprise=enterprise,
        industry=enterprise.industry,
        planner_id=planner.id,
        inspector_ids=[u.id for u in team],
        window_start=dispatch,
        window_end=window_end,
        dispatch_at=dispatch,
        checklist_version=latest_checklist_versions(china_today(now)).get(enterprise.industry),
        now=now,
    )
    insp.id = _id(label)  # fixed, so a second run finds it
    insp.created_at = insp.updated_at = dispatch
    session.flush()
    record_changes("inspection", [insp])
    record(
        "inspection.create",
        "inspection",
        insp.id,
        {
            "type": kind,
            "enterprise_id": str(enterprise.id),
            "inspector_ids": [str(u.id) for u in team],
            "dispatch_at": dispatch,
            "via": "demo",
        },
        actor=planner,
    )
    return insp


def _carry_out(
    insp: Inspection,
    label: str,
    inspector: User,
    start: datetime,
    answers: list[Answer],
    photos: dict[str, bytes],
    submit_after: int,
    now: datetime,
) -> bool:
    """Check in, record the answers, upload their photos and submit; False when already done."""
    if insp.status not in ("planned", "dispatched", "in_progress"):
        return False
    ent = session.get(Enterprise, insp.enterprise_id)
    assert ent is not None and ent.lat is not None and ent.lon is not None
    here = _near(ent.lat, ent.lon, 14, -9)
    mutations: list[tuple[str, dict[str, Any]]] = [
        (
            "inspection.check_in",
            {
                "inspection_id": str(insp.id),
                "at": _iso(start),
                "location": {"lat": here[0], "lon": here[1], "accuracy": 8.0},
            },
        )
    ]
    for n, a in enumerate(answers):
        spot = _near(ent.lat, ent.lon, 6 + 3 * n, 4 - 2 * n)
        mutations.append(
            (
                "finding.put",
                {
                    "id": str(_id(f"{label}/finding/{a.code}")),
                    "inspection_id": str(insp.id),
                    "item_code": a.code,
                    "result": a.result,
                    "note": a.note,
                    "photos": list(a.shots),
                    "location": {"lat": spot[0], "lon": spot[1], "accuracy": 6.0},
                    "recorded_at": _iso(start + timedelta(minutes=a.minutes)),
                    **({"measures": list(a.measures)} if a.measures else {}),
                },
            )
        )
    # every other item of the checklist passed, as a device records them (submit needs them all)
    answered = {a.code for a in answers}
    checklist = get_checklist(insp.industry, insp.checklist_version)
    for item in checklist.content.get("items", []):
        if item["code"] in answered:
            continue
        put: dict[str, Any] = {
            "id": str(_id(f"{label}/finding/{item['code']}")),
            "inspection_id": str(insp.id),
            "item_code": item["code"],
            "result": "pass",
            "recorded_at": _iso(start + timedelta(minutes=submit_after - 1)),
        }
        if item.get("unit"):
            low, high = item.get("min"), item.get("max")
            put["value"] = low if low is not None else high if high is not None else 0
        mutations.append(("finding.put", put))
    _push(inspector, mutations, now)
    wanted = {sha for a in answers for sha in a.shots}
    _upload(inspector, {sha: photos[sha] for sha in sorted(wanted)}, now)
    at = start + timedelta(minutes=submit_after)
    _push(inspector, [("inspection.submit", {"inspection_id": str(insp.id), "at": _iso(at)})], now)
    return True


def _enterprises() -> tuple[Enterprise, Enterprise]:
    """Two restaurants no other demo touches (a fixed choice: the demo registry is fixed).

    The hazards demo uses the first two restaurants by USCC; huayanglu is the planning demo's
    street (its inspector3 must see none of the demo visits) and holds enterprise1's company.
    """
    gas = session.execute(
        select(Enterprise)
        .where(Enterprise.industry == "gas_catering", Enterprise.lat.is_not(None))
        .order_by(Enterprise.uscc)
    ).scalars()
    free = [e for e in list(gas)[2:] if e.jurisdiction_code != "huayanglu"]
    return free[0], free[1]


def load_review_demo() -> dict[str, int]:
    """Create the two submitted demo inspections unless done; return counts."""
    planner = _user("planner")
    inspector1, inspector2 = _user("inspector1"), _user("inspector2")
    team = [inspector1, inspector2]
    first_ent, second_ent = _enterprises()
    started = utcnow()  # the clock, read once: the time the demo's services act at
    now = started.replace(second=0, microsecond=0)

    # 1. An unannounced (四不两直) visit to a restaurant kitchen, three hours ago.
    first = _plan(
        "inspection-1", "unannounced", first_ent, planner, team, now - timedelta(hours=3), started
    )
    t1 = first.check_in_at or now - timedelta(hours=3)
    lat, lon = first_ent.lat, first_ent.lon
    assert lat is not None and lon is not None
    shots = {
        "stove": Shot(
            "stove",
            "GAS-04 stove without flame-failure device",
            t1 + timedelta(minutes=11),
            _near(lat, lon, 8, 5),
        ),
        "hose": Shot("hose", "GAS-04 rubber hose, no clamp", None, None),
        "detector": Shot(
            "detector",
            "GAS-08 detector covered",
            t1 + timedelta(minutes=24),
            _near(lat, lon, 2200, -600),
        ),
        "pipe": Shot(
            "pipe",
            "GAS-14 cookware hung on the gas pipe",
            t1 + timedelta(minutes=33),
            _near(lat, lon, -6, 10),
        ),
    }
    data = {
        "stove": draw_photo(shots["stove"]),
        # forwarded through a chat app, which strips EXIF: no time, no place
        "hose": draw_photo(shots["hose"], with_exif=False),
        # taken back at the office from the paper notes: GPS 2 km off
        "detector": draw_photo(shots["detector"]),
        "pipe": draw_photo(shots["pipe"]),
    }
    sha = {name: _sha256(b) for name, b in data.items()}
    photos = {sha[name]: b for name, b in data.items()}
    answers1 = [
        Answer("GAS-01", 5, "pass", "液化石油气瓶组设于室外专用间，地下室无燃气设施"),
        Answer(
            "GAS-04",
            12,
            "fail",
            "后厨三眼灶无熄火保护装置，灶具与管道间使用橡胶软管连接且未设管卡",
            (sha["stove"], sha["hose"]),
        ),
        Answer(
            "GAS-08", 25, "fail", "燃气浓度报警器被抹布遮挡，按测试键无声光报警", (sha["detector"],)
        ),
        Answer("GAS-14", 34, "fail", "燃气管道上悬挂炒锅、汤勺等厨具", (sha["pipe"],)),
        Answer("GAS-11", 45, "pass", "查阅燃气安全管理制度及本年度培训签到记录，齐全"),
    ]
    done = 0
    if _carry_out(first, "inspection-1", inspector1, t1, answers1, photos, 55, started):
        done += 1

    # 2. A routine visit to another restaurant, ninety minutes ago: inspector2 cites
    #    the pipe photo of the first visit instead of taking a new one.
    second = _plan(
        "inspection-2", "routine", second_ent, planner, team, now - timedelta(minutes=90), started
    )
    t2 = second.check_in_at or now - timedelta(minutes=90)
    answers2 = [
        Answer("GAS-05", 8, "pass", "户内燃气管道未穿越配电室、楼梯间等场所"),
        Answer("GAS-14", 15, "fail", "燃气立管上悬挂厨具", (sha["pipe"],)),
    ]
    if _carry_out(second, "inspection-2", inspector2, t2, answers2, photos, 30, started):
        done += 1
    return {"review demo inspections": 2, "review demo submitted": done}
