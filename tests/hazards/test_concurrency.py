"""Concurrency on real transactions: gapless numbers, one ticket per finding.

On PostgreSQL the threads hold separate connections and really contend (row locks on the
counter, the unique index on hazards.finding_id); on SQLite writers are serialised, and the same
assertions must hold too.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from flask import g
from sqlalchemy import func, select

from app.clock import utcnow
from app.db import session
from app.hazards.models import Hazard, HazardCounter
from tests.factories import Factories
from tests.hazards.helpers import T0, sha


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


def _submitted_fail_finding(app, ent_id, inspector_id) -> tuple[uuid.UUID, uuid.UUID]:
    from app.inspections.models import Finding, Inspection, InspectionInspector

    with app.app_context():
        insp = Inspection(
            type="routine",
            status="submitted",
            enterprise_id=ent_id,
            jurisdiction_code="huayanglu",
            industry="gas_catering",
            check_in_at=T0,
            check_in_received_at=T0,
            submitted_at=T0,
        )
        session.add(insp)
        session.flush()
        session.add(InspectionInspector(inspection_id=insp.id, user_id=inspector_id))
        finding = Finding(
            id=uuid.uuid4(),
            inspection_id=insp.id,
            item_code="GAS-01",
            result="fail",
            note="软管老化",
            grade="general",
            photos=[sha("f")],
            recorded_at=T0,
        )
        session.add(finding)
        session.commit()
        return insp.id, finding.id


def test_numbers_have_no_gap_or_duplicate_under_concurrent_issue(committed_app):
    from app.hazards.services import issue_hazard
    from app.registry.models import Enterprise

    app = committed_app
    app.config["CLOCK"] = lambda: T0
    ent = Factories(app).enterprise()

    def work(i: int) -> str | None:
        with app.app_context():
            h = issue_hazard(
                source="supervision",
                enterprise=session.get(Enterprise, ent.id),
                grade="general",
                description=f"concurrent {i}",
                actor=None,
                now=utcnow(),
            )
            number = h.number
            if i % 4 == 3:
                session.rollback()  # a request that failed after numbering: no gap may remain
                return None
            session.commit()
            return number

    results, errors = _together(12, work)
    assert not errors, errors
    numbers = sorted(n for n in results if n)
    assert len(numbers) == 9
    assert numbers == [f"长宁隐〔2026〕{i:04d}号" for i in range(1, 10)]
    with app.app_context():
        assert session.get(HazardCounter, 2026).last == 9


def test_two_supervisors_confirming_at_once_make_one_ticket(committed_app):
    from app.org.models import User
    from app.review.services import review_finding

    app = committed_app
    app.config["CLOCK"] = lambda: T0
    make = Factories(app)
    ent = make.enterprise()
    inspector = make.user("inspector")
    sups = [make.user("supervisor", department_code="construction") for _ in range(2)]
    _, finding_id = _submitted_fail_finding(app, ent.id, inspector.id)

    def work(i: int) -> uuid.UUID:
        with app.test_request_context():
            g.user = session.get(User, sups[i].id)
            decision = {"decision": "confirm", "comment": f"sup {i}"}
            f = review_finding(g.user, finding_id, decision, now=utcnow())
            hazard_id = f.hazard_id
            session.commit()
            return hazard_id

    results, errors = _together(2, work)
    assert not errors, errors
    assert len(set(results)) == 1 and results[0] is not None
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(Hazard)) == 1
        assert session.get(HazardCounter, 2026).last == 1


def test_concurrent_issue_for_one_finding_loses_cleanly_to_the_unique_constraint(committed_app):
    """Bypass the review's row locks: the unique finding_id and the savepoint still hold."""
    from app.hazards.services import hazard_for_finding
    from app.inspections.models import Finding, Inspection
    from app.org.models import User

    app = committed_app
    app.config["CLOCK"] = lambda: T0
    make = Factories(app)
    ent = make.enterprise()
    inspector = make.user("inspector")
    sup = make.user("supervisor", department_code="construction")
    insp_id, finding_id = _submitted_fail_finding(app, ent.id, inspector.id)

    def work(i: int) -> uuid.UUID:
        with app.app_context():
            h = hazard_for_finding(
                session.get(Finding, finding_id),
                session.get(Inspection, insp_id),
                session.get(User, sup.id),
                "general",
                now=utcnow(),
            )
            hid = h.id
            session.commit()
            return hid

    results, errors = _together(4, work)
    assert not errors, errors
    assert len(set(results)) == 1
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(Hazard)) == 1
        # The losers' numbers were rolled back with their savepoints: no gap.
        assert session.get(HazardCounter, 2026).last == 1
