"""The pull's reconcile of a street's device reads its street, not the district (PostgreSQL).

A supervisor's device compares its known set with the inspections and findings the rule lets
them see on every pull page. As one ``OR`` (planner, assigned, or started in the street) that
set was read by scanning every inspection and every finding of the district; as the rule's
union (``app.inspections.visibility.visible_ids``) each part reads its own index. The plans
are PostgreSQL's, so this runs there only; ``bench/sync_pull.py`` measures them at scale.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import Select, select, text

from app.clock import utcnow
from app.db import session
from app.inspections.models import Inspection
from app.inspections.visibility import visibility_clause
from app.org.models import User
from app.sync.scope import UserScope
from tests.conftest import requires_postgres

pytestmark = requires_postgres

STREET, OTHER = "huayanglu", "jiangsulu"
#: checked-in inspections and their findings (recorded together, as a device pushes them), in
#: each street: the other street stands for the rest of the district
SIZES = {STREET: (2, 40), OTHER: (2000, 60000)}

DATA = """
INSERT INTO enterprises (id, name, uscc, industry, jurisdiction_code, address, risk_level,
                         created_at, updated_at, version)
SELECT md5(:street || '-e')::uuid, :street, left(md5(:street), 18), 'gas_catering', :street, '',
       'low', now(), now(), 1;
INSERT INTO inspections (id, type, status, enterprise_id, jurisdiction_code, industry,
                         check_in_received_at, created_at, updated_at, version)
SELECT md5(:street || '-i' || k)::uuid, 'routine', 'submitted', md5(:street || '-e')::uuid,
       :street, 'gas_catering', now(), now(), now(), 1
FROM generate_series(1, :inspections) AS k;
INSERT INTO findings (id, inspection_id, item_code, result, note, grade, photos, measures,
                      recorded_at, received_at, review_status, review_comment, media_pending,
                      deleted, updated_at, version)
SELECT md5(:street || '-f' || f)::uuid,
       md5(:street || '-i' || (1 + (f - 1) / (:findings / :inspections)))::uuid,
       'A1', 'pass', '', '', '[]', '[]', now(), now(), 'pending', '', false, false, now(), 1
FROM generate_series(1, :findings) AS f;
"""


def _rows_read(plan: dict[str, Any], table: str) -> int:
    """The rows the plan's scans of ``table`` produced or filtered out, over all loops."""
    own = 0
    if plan.get("Relation Name") == table:
        loops = plan.get("Actual Loops", 1)
        kept = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        own = kept * loops
    return own + sum(_rows_read(p, table) for p in plan.get("Plans", ()))


def _explain(stmt: Select[Any]) -> dict[str, Any]:
    compiled = stmt.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = session.connection().exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params
    )
    value = raw.scalar_one()
    return (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]  # type: ignore[no-any-return]


def _explain_sql(statement: str, params: Any) -> dict[str, Any]:
    """The plan of a statement a pull ran, as it ran (``EXPLAIN ANALYZE`` runs it again)."""
    raw = session.connection().exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
    )
    value = raw.scalar_one()
    return (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]  # type: ignore[no-any-return]


def _fill_streets() -> None:
    """The two streets of ``SIZES``, analysed."""
    for street, (inspections, findings) in SIZES.items():
        for sql in DATA.strip().split(";\n"):
            session.execute(
                text(sql), {"street": street, "inspections": inspections, "findings": findings}
            )
    session.execute(text("ANALYZE enterprises, inspections, findings"))


def _pull(
    app: Flask, user: User, client_id: Any, token: str | None, limit: int, now: Any, marker: str
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """One pull page, and the statements it ran whose text holds ``marker``."""
    from sqlalchemy import event

    from app.sync import services

    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if marker in statement:
            captured.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with app.test_request_context():
            page = services.pull(user, client_id, token, limit, now=now)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return page, captured


def test_a_supervisors_reconcile_reads_the_street_not_the_district(app: Flask, make: Any) -> None:
    supervisor = make.user("supervisor", STREET)
    with app.app_context():
        _fill_streets()
        user = session.get(User, supervisor.id)
        assert user is not None
        scope = UserScope(session, user, utcnow())

        inspections = scope.visible("inspection")
        findings = scope.visible("finding")
        # the same set as the rule's one condition
        by_rule = select(Inspection.id).where(visibility_clause(user, scope.now))
        assert set(session.scalars(inspections)) == set(session.scalars(by_rule))
        assert len(session.scalars(findings).all()) == SIZES[STREET][1]

        # Twice the street's rows at most (an index probe may see a row twice), where the
        # district's one OR read all 2,010 inspections and 60,200 findings.
        street_inspections, street_findings = SIZES[STREET]
        assert _rows_read(_explain(inspections), "inspections") <= 2 * street_inspections
        assert _rows_read(_explain(findings), "findings") <= 2 * street_findings
        assert _rows_read(_explain(findings), "inspections") <= 2 * street_inspections


def test_a_caught_up_page_looks_the_known_set_up_by_key(app: Flask, make: Any) -> None:
    """A device that holds the district (a coordinator's: every finding) has its known set
    read on every caught-up page twice: the removals it has confirmed, which the page forgets,
    and whether it holds what the log page names. Each is read by key (the removals through
    ``ix_sync_known_removed``, the names by type and id): by the client alone, each read all
    the device holds, 38 ms and 23 ms at 10,000,000 change rows (``bench/sync_pull.py``)."""
    import uuid

    from app.changelog import SYNC_TABLES
    from app.sync import services
    from sync.cursor import Cursor, Position, load_state

    coordinator = make.user("coordinator")
    cid = uuid.uuid4()
    held, removed = 60_000, 6
    with app.app_context():
        c = SYNC_TABLES.changes.c
        top = session.execute(select(c.xid, c.id).order_by(c.xid.desc(), c.id.desc())).first()
    make.enterprise(jurisdiction=STREET, industry="gas_catering")  # the page's one change
    with app.app_context():
        session.execute(
            text(
                "INSERT INTO sync_known (client_id, entity_type, entity_id, gen_added, gen_removed)"
                " SELECT :cid, 'finding', md5('held' || g)::uuid, 1,"
                " CASE WHEN g % (:held / :removed) = 0 THEN 1 END"
                " FROM generate_series(1, :held) AS g"
            ),
            {"cid": cid, "held": held, "removed": removed},
        )
        session.execute(text("ANALYZE sync_known"))
        user = session.get(User, coordinator.id)
        assert user is not None
        now = utcnow()
        state = load_state(session, SYNC_TABLES, now)
        position = Position(int(top.xid), int(top.id)) if top else Position(0, 0)
        # caught up: the cursor carries the scope's fingerprint, so the page reads the log
        fingerprint = UserScope(session, user, now).fingerprint()
        token = services.cursor_codec().encode(
            Cursor(state.epoch, position, now, 2, f"{cid}:{user.id}", 0, scope=fingerprint)
        )
        page, captured = _pull(app, user, cid, token, 500, now, "sync_known")
        assert [ch["type"] for ch in page["changes"]] == ["enterprise"]
        reads = [s for s, _ in captured if s.lstrip().upper().startswith(("DELETE", "SELECT"))]
        assert any(s.lstrip().upper().startswith("DELETE") for s in reads)
        assert any(s.lstrip().upper().startswith("SELECT") for s in reads)
        kept = session.scalar(text("SELECT count(*) FROM sync_known"))
        # the page forgot the confirmed removals and now holds the enterprise it sent
        assert kept == held - removed + 1
        for statement, params in captured:
            if not statement.lstrip().upper().startswith(("DELETE", "SELECT")):
                continue
            savepoint = session.begin_nested()  # EXPLAIN ANALYZE runs the DELETE: undo it
            plan = _explain_sql(statement, params)
            savepoint.rollback()
            assert session.scalar(text("SELECT count(*) FROM sync_known")) == kept
            assert _rows_read(plan, "sync_known") <= 10 * removed, statement[:120]


def test_a_page_the_first_types_fill_does_not_read_the_later_ones(app: Flask, make: Any) -> None:
    """A full download's first pages are filled by the first types (checklists, then
    enterprises); the reconcile reads at most a page in all, so PostgreSQL never runs the
    parts of the later types: a street's findings were joined and sorted on every such page
    (80 ms of a supervisor's first page at 200,000 findings, ``bench/sync_pull.py``)."""
    import uuid

    from app.checklists.models import ChecklistVersion
    from app.checklists.services import load_library

    supervisor = make.user("supervisor", STREET)
    with app.app_context():
        load_library(now=utcnow())
        _fill_streets()
        checklists = len(session.scalars(select(ChecklistVersion.id)).all())
        assert checklists >= 2
        user = session.get(User, supervisor.id)
        assert user is not None
        page, captured = _pull(app, user, uuid.uuid4(), None, checklists - 1, utcnow(), "UNION ALL")
        assert page["has_more"]
        assert [ch["type"] for ch in page["changes"]] == ["checklist"] * (checklists - 1)
        ((statement, params),) = captured
        plan = _explain_sql(statement, params)
        assert _rows_read(plan, "enterprises") == 0
        assert _rows_read(plan, "inspections") == 0
        assert _rows_read(plan, "findings") == 0
