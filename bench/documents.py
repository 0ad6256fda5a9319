"""Bench: building the 现场检查记录 of a big inspection against a bare PDF of its photos.

    .venv/bin/python bench/documents.py [--runs 3]

1. Builds, in a temp folder (file SQLite, local storage), a checked-in factory/warehouse
   inspection with 20 failing findings (each with its note and legal basis) and 40 photos
   stored through the media pipeline (1024×768 JPEGs, thumbnails made as on upload).
2. Times building its 现场检查记录 as the API does: gather the record, word the content,
   read the 40 printed-size photos from storage, lay out and write the PDF (fonts embedded,
   the QR code drawn).
3. In the same run, with the same library (ReportLab), times writing the same 40 photo files
   into a bare A4 PDF, two to a page: the least any PDF of those photos costs.
4. Prints both times (the median and the best of ``--runs``, wall clock, and the median CPU
   time of the process, steadier on a shared machine), the record's time without its photos
   (what the text, the fonts and the QR code cost), and the ratio of the medians (bar: at most
   2×), with the ratio of the best times and of the CPU times beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BAR = 2.0
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def _arrange(app: object) -> tuple[uuid.UUID, list[str]]:
    """Create the inspection, its 24 answers (20 failing) and 40 stored photos."""
    from app.checklists.services import get_checklist, load_library
    from app.db import session
    from app.demo.fieldwork import Shot, draw_photo
    from app.demo.org import load_org
    from app.inspections.models import Finding, Inspection, InspectionInspector
    from app.media.services import store_photo
    from app.org.models import User
    from app.registry.models import Enterprise

    load_org()
    load_library(now=T0)
    ent = Enterprise(
        name="长宁物流仓储有限公司",
        uscc="91310105MA1FL0001X",
        industry="factory_warehouse",
        jurisdiction_code="xinhualu",
        address="上海市长宁区新华路100号",
        principal_name="陈建国",
        principal_phone="021-62000001",
    )
    officers = [
        User(
            username=f"bench{n}",
            password_hash="x",
            role="inspector",
            name=name,
            jurisdiction_code="changning",
            department_code="emergency",
            certificate_no=f"3101052000{n}",
            conflicts=[],
        )
        for n, name in enumerate(("李明", "王芳"))
    ]
    session.add_all([ent, *officers])
    session.flush()
    checklist = get_checklist("factory_warehouse")
    insp = Inspection(
        type="routine",
        status="submitted",
        enterprise_id=ent.id,
        jurisdiction_code=ent.jurisdiction_code,
        industry=ent.industry,
        checklist_version=checklist.version,
        check_in_at=T0,
        check_in_received_at=T0,
        submitted_at=T0 + timedelta(hours=2),
    )
    session.add(insp)
    session.flush()
    session.add_all(InspectionInspector(inspection_id=insp.id, user_id=u.id) for u in officers)
    photos: list[str] = []
    scenes = ("stove", "hose", "detector", "pipe")
    for n, item in enumerate(checklist.content["items"]):
        shots = []
        if n < 20:
            for k in range(2):
                shot = Shot(scenes[(2 * n + k) % 4], f"{item['code']} photo {k + 1}", T0, None)
                data = draw_photo(shot)
                sha = hashlib.sha256(data).hexdigest()
                store_photo(data, sha256=sha, actor=officers[0], now=T0, via="bench")
                shots.append(sha)
                photos.append(sha)
        session.add(
            Finding(
                id=uuid.uuid4(),
                inspection_id=insp.id,
                item_code=item["code"],
                checklist_version=checklist.version,
                result="fail" if n < 20 else "pass",
                note=f"现场发现：{item['text']}的要求未落实，详见附图。" if n < 20 else "",
                grade=item.get("grade", "general"),
                photos=shots,
                recorded_at=T0 + timedelta(minutes=n),
                recorded_by=officers[0].id,
            )
        )
    session.commit()
    return insp.id, photos


def _bare_pdf(files: list[Path], sizes: list[tuple[int, int]]) -> bytes:
    """The same photo files in a bare A4 PDF, two to a page, with ReportLab's canvas.

    Drawn from files by name, ReportLab copies each JPEG's bytes into the PDF as they are
    (no decoding): the cheapest way the library has to put a photo on a page.
    """
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    # The record's photos go in as binary streams (app.documents.pdf sets useA85 off when it
    # registers its font, before this runs): so do these, or the baseline would pay for
    # ReportLab's pure-Python ASCII85 encoding that the record does not.
    assert not rl_config.useA85, "the bare PDF must write binary streams, as the record does"
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)
    for n, (path, (w, h)) in enumerate(zip(files, sizes, strict=True)):
        scale = min(150 * mm / w, 95 * mm / h)
        y = A4[1] - 30 * mm - (n % 2 + 1) * 120 * mm
        canvas.drawImage(str(path), 28 * mm, y, w * scale, h * scale)
        if n % 2:
            canvas.showPage()
    canvas.save()
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from app import create_app
    from app.db import get_db
    from app.models import metadata

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "SECRET_KEY": "bench",
                "MEDIA_ROOT": f"{tmp}/media",
                "MEDIA_SPOOL": f"{tmp}/spool",
            }
        )
        with app.app_context():
            metadata.create_all(get_db().engine)
            inspection_id, photos = _arrange(app)

            from PIL import Image

            from app.db import session
            from app.documents import render
            from app.documents.content import build
            from app.inspections.models import Inspection

            insp = session.get(Inspection, inspection_id)
            assert insp is not None
            render.render(build(render.gather(insp, "inspection_record", "N", "C", "emergency")))
            document_times: list[tuple[float, float]] = []
            bare_times: list[tuple[float, float]] = []
            text_times: list[tuple[float, float]] = []
            size = bare_size = 0
            for _run in range(args.runs):
                started, cpu = time.perf_counter(), time.process_time()
                content = build(
                    render.gather(
                        insp,
                        "inspection_record",
                        "区应急管理局检记〔2026〕0001号",
                        "BENCH23456",
                        "emergency",
                    )
                )
                pdf = render.render(content)
                document_times.append(_since(started, cpu))
                size = len(pdf)
                started, cpu = time.perf_counter(), time.process_time()
                render.render(dataclasses.replace(content, photos=()))
                text_times.append(_since(started, cpu))
                files, sizes = [], []
                for n, data in enumerate(render.photo_bytes(photos).values()):
                    files.append(Path(tmp) / f"photo{n}.jpg")
                    files[-1].write_bytes(data)
                    with Image.open(io.BytesIO(data)) as im:
                        sizes.append(im.size)
                started, cpu = time.perf_counter(), time.process_time()
                bare = _bare_pdf(files, sizes)
                bare_times.append(_since(started, cpu))
                bare_size = len(bare)
            assert len(content.photos) == 40, len(content.photos)
            get_db().engine.dispose()
    document, text, baseline = _summary(document_times), _summary(text_times), _summary(bare_times)
    ratio = document[0] / baseline[0]
    print(f"{args.runs} runs: median / best wall clock, median CPU time (ms)")
    print(f"现场检查记录, 20 findings, 40 photos: {_ms(document)} ({size // 1024} KiB)")
    print(f"  the same without its photos:       {_ms(text)}")
    print(f"bare PDF of the same 40 photos:      {_ms(baseline)} ({bare_size // 1024} KiB)")
    print(
        f"ratio: {ratio:.2f}x of the medians (best {document[1] / baseline[1]:.2f}x, "
        f"CPU {document[2] / baseline[2]:.2f}x; bar: <= {BAR:.0f}x) "
        + ("OK" if ratio <= BAR else "OVER")
    )


def _since(started: float, cpu: float) -> tuple[float, float]:
    """The wall-clock and CPU seconds since ``started`` and ``cpu``."""
    return time.perf_counter() - started, time.process_time() - cpu


def _summary(times: list[tuple[float, float]]) -> tuple[float, float, float]:
    """The median and the best wall-clock time, and the median CPU time."""
    wall = [w for w, _cpu in times]
    return statistics.median(wall), min(wall), statistics.median(c for _w, c in times)


def _ms(summary: tuple[float, float, float]) -> str:
    median, best, cpu = summary
    return f"{median * 1000:5.0f} / {best * 1000:4.0f} ms, CPU {cpu * 1000:4.0f} ms"


if __name__ == "__main__":
    main()
