"""The console's reports, overdue and 动态清零 pages: the reports' services behind a session."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import force_locale

from app.db import session
from app.i18n import _ as gettext
from app.org.models import User
from app.reports.services import stock_and_increment
from app.staff.routes import REFUSALS
from tests.staff.test_console import _etag


def test_the_reports_page_shows_the_statistics_and_exports(world, console, clock):
    world.hazard(grade="major", deadline=clock.now - timedelta(days=2))
    world.hazard()
    me = console(world.users["coordinator"], accept_language="zh")
    page = me.get("/console/reports")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="hazard-stats"' in text and 'id="stock"' in text and "<svg" in text
    assert 'id="major-open">1<' in text
    for by in ("industry", "grade", "source"):
        assert me.get(f"/console/reports?by={by}").status_code == 200
    xlsx = me.get("/console/reports/hazards/export?by=grade")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert me.get("/console/reports/major-hazards/export").data[:2] == b"PK"
    assert me.get("/console/reports/inspections/export?by=source").status_code == 200


def test_a_bad_period_is_the_picker_again_with_the_reason(world, console):
    me = console(world.users["coordinator"], accept_language="zh")
    bad = me.get("/console/reports?month=2026-13")
    assert bad.status_code == 422 and 'class="field-error"' in bad.get_data(as_text=True)
    backwards = me.get("/console/reports?from=2026-03-10&to=2026-03-01")
    assert backwards.status_code == 422
    assert me.get("/console/reports?by=nonsense").status_code == 422


def test_reports_are_for_report_roles(world, console):
    assert console(world.users["enterprise"]).get("/console/reports").status_code == 403
    assert console(world.users["inspector_other"]).get("/console/zero").status_code == 403


def test_the_overdue_and_zero_views(world, console, clock):
    late = world.hazard(grade="major", deadline=clock.now - timedelta(days=3))
    world.hazard(deadline=clock.now + timedelta(days=3))
    me = console(world.users["coordinator"])
    overdue = me.get("/console/overdue").get_data(as_text=True)
    assert f"/console/hazards/{late}" in overdue and overdue.count('<tr class="overdue">') == 1
    zero = me.get("/console/zero").get_data(as_text=True)
    assert f"/console/hazards/{late}" in zero and 'id="zero-count">1<' in zero


def test_the_new_pages_cost_the_same_statements_however_many_tickets(
    world, console, queries, clock
):
    me = console(world.users["coordinator"])
    world.hazard(grade="major")
    counts = {}
    for n in (1, 6):
        for _ in range(n):
            world.hazard(grade="major", deadline=clock.now - timedelta(days=1))
        for path in ("/console/reports", "/console/zero", "/console/overdue"):
            with queries:
                assert me.get(path).status_code == 200
            counts.setdefault(path, []).append(queries.count)
    for path, (small, large) in counts.items():
        assert small == large, (path, small, large)


def test_a_refusal_shows_the_services_own_words_in_chinese(world, console):
    assert "hazard.invalid_assignee" not in REFUSALS
    hid = world.hazard(assignee=None)
    me = console(world.users["coordinator"], accept_language="zh")
    outsider = world.make.user("inspector", jurisdiction="xinhualu")
    refused = me.post(
        f"/console/hazards/{hid}/assign",
        {"assignee_id": str(outsider.id), "etag": _etag(world.app, hid)},
    )
    assert refused.status_code == 422
    with world.app.test_request_context(), force_locale("zh"):
        words = gettext(
            "Assign the ticket to an active inspector, supervisor or coordinator whose "
            "jurisdiction covers it, or to the enterprise's own account."
        )
    assert words != "" and "Assign the ticket" not in words
    assert words in refused.get_data(as_text=True)


def test_stock_and_increment_of_a_period(world, clock):
    before = clock.now - timedelta(days=62)
    world.hazard(found_at=before)  # stock, still open
    world.hazard(found_at=before, status="closed", closed_at=clock.now)  # stock, closed in it
    world.hazard(found_at=before, status="closed", closed_at=before)  # neither
    world.hazard()  # increment
    with world.app.test_request_context():
        user = session.get(User, world.users["coordinator"].id)
        got = stock_and_increment(user, {}, now=clock.now)
    assert (got["stock"], got["stock_closed"], got["stock_open"]) == (2, 1, 1)
    assert (got["increment"], got["increment_closed"], got["increment_open"]) == (1, 0, 1)
