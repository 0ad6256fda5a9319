"""Rows that tell a case's story are bound to the audit chain: a change in SQL is found and named.

Each test builds the demo district (tickets and their timelines, findings, reviews, draws,
inspections checked in and submitted) plus a revoked device, then tampers with one covered
table three ways (UPDATE, DELETE, INSERT) with SQL that bypasses the application, each
inside a savepoint that is rolled back before the next.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from app.audit.bindings import COVERED
from app.audit.models import AuditEntry
from app.audit.services import verify_chain
from app.clock import utcnow
from app.db import Base

#: One UPDATE per table that changes a bound column of the row ``:id``.
EDITS = {
    "hazard_events": "UPDATE hazard_events SET note = 'rewritten' WHERE id = :id",
    "findings": "UPDATE findings SET note = 'rewritten' WHERE id = :id",
    "finding_reviews": "UPDATE finding_reviews SET comment = 'rewritten' WHERE id = :id",
    "inspections": "UPDATE inspections SET status = 'cancelled' WHERE id = :id",
    "sampling_draws": "UPDATE sampling_draws SET reason = 'rewritten' WHERE id = :id",
    "devices": "UPDATE devices SET revoked_at = NULL WHERE id = :id",
    "hazards": "UPDATE hazards SET status = 'closed', assignee_id = NULL WHERE id = :id",
}
#: Values an inserted copy needs to pass the table's unique constraints.
UNIQUE = {
    "hazard_events": {"seq": 9999},
    "hazards": {
        "number": "伪造〔2026〕9999号",
        "seq": 9999,
        "finding_id": None,
        "public_report_id": None,
    },
    "sampling_draws": {"number": 999},
}


@pytest.fixture
def story(app: Any, make: Any, login: Callable[..., dict[str, str]]) -> Any:
    """Load the demo district, review one of its findings, revoke a device; return the app."""
    from app.auth.models import Device
    from app.auth.services import revoke_device
    from app.db import session
    from app.demo import load_demo
    from app.inspections.models import Finding
    from app.org.models import User
    from app.review.services import review_finding

    with app.app_context():
        load_demo()
    # Usernames of their own: the demo already has inspector1, admin … (the factory counts from 1).
    inspector = make.user("inspector", username="story-inspector")
    login(inspector)
    admin = make.user("admin", username="story-admin")
    supervisor = make.user(
        "supervisor", username="story-supervisor", department_code="construction"
    )
    with app.app_context():
        pending = session.scalars(
            select(Finding.id).where(Finding.review_status == "pending", Finding.result == "fail")
        ).first()
        assert pending is not None, "the demo has no finding waiting for review"
        review_finding(
            session.get(User, supervisor.id),
            pending,
            {"decision": "needs_info", "comment": "补拍照片"},
            now=utcnow(),
        )
        device = session.scalars(select(Device).where(Device.user_id == inspector.id)).one()
        revoke_device(session.get(User, admin.id), device.id, now=utcnow())
        session.commit()
    return app


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _pick(db: Session, table: str) -> uuid.UUID:
    t = _table(table)
    stmt = select(t.c.id).order_by(t.c.id).limit(1)
    if table == "devices":
        stmt = stmt.where(t.c.revoked_at.is_not(None))
    if table in ("inspections", "hazards"):
        stmt = stmt.where(t.c.status.not_in(("cancelled", "closed")))
    found = db.scalar(stmt)
    assert found is not None, f"the story has no {table} row to tamper with"
    return found


def _delete_tree(db: Session, table: str, ids: list[Any]) -> set[tuple[str, str]]:
    """Delete rows and, first, every row referring to them; return the covered ones deleted."""
    gone: set[tuple[str, str]] = set()
    t = _table(table)
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is not t:
                continue
            if "id" in other.c:
                dep = list(db.scalars(select(other.c.id).where(fk.parent.in_(ids))))
                if dep:
                    gone |= _delete_tree(db, other.name, dep)
            else:
                db.execute(delete(other).where(fk.parent.in_(ids)))
    db.execute(delete(t).where(t.c.id.in_(ids)))
    if table in COVERED:
        gone |= {(table, str(i)) for i in ids}
    return gone


def _broken(db: Session) -> Any:
    result = verify_chain(db, batch=7)
    assert not result.ok
    return result


@pytest.mark.parametrize("table", sorted(COVERED))
def test_each_kind_of_tampering_is_named(story: Any, db_session: Session, table: str) -> None:
    assert db_session.scalar(select(func.count()).select_from(_table(table))) > 0
    assert verify_chain(db_session, batch=7).ok
    row_id = _pick(db_session, table)
    t = _table(table)

    # UPDATE of a bound column
    savepoint = db_session.begin_nested()
    db_session.execute(text(EDITS[table]).bindparams(id=row_id).columns(), {})
    result = _broken(db_session)
    assert (result.table, result.row_id, result.rows_broken) == (table, str(row_id), 1)
    assert result.reason.startswith("edited")
    savepoint.rollback()

    # DELETE (with whatever refers to the row)
    savepoint = db_session.begin_nested()
    gone = _delete_tree(db_session, table, [row_id])
    result = _broken(db_session)
    assert result.rows_broken == len(gone)
    named = {(p.table, p.row_id) for p in result.problems}
    assert named <= gone
    assert (table, str(row_id)) in named or len(named) == 10
    assert all(p.reason.startswith("deleted") for p in result.problems)
    savepoint.rollback()

    # INSERT of a copy under a new id
    savepoint = db_session.begin_nested()
    row = dict(db_session.execute(select(t).where(t.c.id == row_id)).mappings().one())
    new_id = uuid.uuid4()
    row |= {"id": new_id} | UNIQUE.get(table, {})
    db_session.execute(insert(t).values(**row))
    result = _broken(db_session)
    assert (result.table, result.row_id, result.rows_broken) == (table, str(new_id), 1)
    assert result.broken_seq is None and "inserted" in result.reason
    savepoint.rollback()

    assert verify_chain(db_session).ok


def test_cli_names_the_edited_row(story: Any, db_session: Session) -> None:
    row_id = _pick(db_session, "hazard_events")
    db_session.execute(text(EDITS["hazard_events"]).bindparams(id=row_id))
    db_session.commit()
    result = story.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"hazard_events id={row_id}: edited" in result.output


def test_demo_verifies_intact_and_binds_every_story_row(story: Any, db_session: Session) -> None:
    result = verify_chain(db_session)
    assert result.ok, result.reason
    total = sum(
        db_session.scalar(select(func.count()).select_from(_table(name))) for name in COVERED
    )
    assert result.rows_checked == total
    result = story.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"{total} bound rows match" in result.output


def test_a_commit_without_story_rows_adds_no_binding(app: Any, db_session: Session) -> None:
    from app.audit.services import record
    from app.db import session

    with app.app_context():
        record("test.event", "thing", "t1", actor=None)
        session.commit()
    actions = db_session.scalars(select(AuditEntry.action)).all()
    assert "audit.bind" not in actions


def test_bind_existing_binds_only_rows_never_bound(story: Any, db_session: Session) -> None:
    """An upgraded database binds its old rows once; an edited bound row stays broken."""

    edited = _pick(db_session, "findings")
    db_session.execute(text(EDITS["findings"]).bindparams(id=edited))
    old = _pick(db_session, "hazard_events")
    t = _table("hazard_events")
    row = dict(db_session.execute(select(t).where(t.c.id == old)).mappings().one())
    legacy = uuid.uuid4()
    db_session.execute(insert(t).values(**(row | {"id": legacy, "seq": 9999})))
    db_session.commit()
    assert verify_chain(db_session).rows_broken == 2

    runner = story.test_cli_runner()
    result = runner.invoke(args=["audit", "bind-existing"])
    assert result.exit_code == 0, result.output
    assert "bound 1 rows" in result.output
    after = verify_chain(db_session)
    assert (after.table, after.row_id, after.rows_broken) == ("findings", str(edited), 1)
    assert runner.invoke(args=["audit", "bind-existing"]).output.startswith("bound 0 rows")
