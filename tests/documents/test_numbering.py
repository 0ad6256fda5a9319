"""Document numbers under concurrent issue: gapless and unique per department, kind and year.

On PostgreSQL the threads hold separate connections and contend for the counter row's lock;
on SQLite writers are serialised, and the same assertions must hold.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from flask import g
from sqlalchemy import select

from app.db import session
from tests.documents.conftest import T0
from tests.factories import Factories
from tests.hazards.conftest import committed_app  # noqa: F401 - real transactions


def _together(n: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.append(work(i))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def _checked_in(app: Any, ent_id: uuid.UUID, inspector_id: uuid.UUID) -> uuid.UUID:
    from app.inspections.models import Inspection, InspectionInspector

    with app.app_context():
        insp = Inspection(
            type="routine",
            status="in_progress",
            enterprise_id=ent_id,
            jurisdiction_code="huayanglu",
            industry="gas_catering",
            check_in_at=T0,
            check_in_received_at=T0,
        )
        session.add(insp)
        session.flush()
        session.add(InspectionInspector(inspection_id=insp.id, user_id=inspector_id))
        session.commit()
        return insp.id


def test_concurrent_issues_are_numbered_without_gap_or_duplicate(committed_app: Any) -> None:  # noqa: F811
    from app.documents.models import DocumentCounter
    from app.documents.services import issue_document
    from app.org.models import User

    app = committed_app
    app.config["CLOCK"] = lambda: T0
    make = Factories(app)
    ent = make.enterprise()
    inspector = make.user("inspector")
    visits = [_checked_in(app, ent.id, inspector.id) for _ in range(10)]

    def work(i: int) -> str | None:
        with app.test_request_context():
            g.user = session.get(User, inspector.id)
            doc = issue_document(g.user, visits[i], "inspection_record", now=T0)
            number = doc.number
            if i % 4 == 3:
                session.rollback()  # a request that failed after numbering: no gap may remain
                return None
            session.commit()
            return number

    results, errors = _together(10, work)
    assert not errors, errors
    numbers = sorted(n for n in results if n)
    assert numbers == [f"区应急管理局检记〔2026〕{i:04d}号" for i in range(1, 9)]
    with app.app_context():
        assert session.get(DocumentCounter, ("emergency", "inspection_record", 2026)).last == 8
        from app.documents.models import Document

        seqs = sorted(session.execute(select(Document.seq)).scalars())
        assert seqs == list(range(1, 9))
    # the two rolled back take the next numbers when issued again: still no gap
    with app.test_request_context():
        g.user = session.get(User, inspector.id)
        again = [
            issue_document(g.user, visits[i], "inspection_record", now=T0).number for i in (3, 7)
        ]
        session.commit()
    assert again == ["区应急管理局检记〔2026〕0009号", "区应急管理局检记〔2026〕0010号"]


def test_two_issues_of_one_document_at_once_make_one_version(committed_app: Any) -> None:  # noqa: F811
    from app.documents.models import Document, DocumentCounter
    from app.documents.services import issue_document
    from app.org.models import User

    app = committed_app
    app.config["CLOCK"] = lambda: T0
    make = Factories(app)
    ent = make.enterprise()
    inspector = make.user("inspector")
    visit = _checked_in(app, ent.id, inspector.id)

    def work(i: int) -> tuple[str, int]:
        with app.test_request_context():
            g.user = session.get(User, inspector.id)
            doc = issue_document(g.user, visit, "inspection_record", now=T0)
            out = (doc.number, doc.version)
            session.commit()
            return out

    results, errors = _together(4, work)
    assert not errors, errors
    assert set(results) == {("区应急管理局检记〔2026〕0001号", 1)}
    with app.app_context():
        assert len(session.execute(select(Document.id)).all()) == 1
        assert session.get(DocumentCounter, ("emergency", "inspection_record", 2026)).last == 1
