"""Documents in the console: an inspection's and a ticket's documents, the enterprise's own,
the PDF behind the session, issuing where the API allows it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.db import session
from app.documents.models import Document
from tests.documents.conftest import T0, build_case
from tests.hazards.helpers import Clock


def doc_count(app) -> int:
    with app.app_context():
        return session.scalar(select(func.count(Document.id))) or 0


def test_issuing_and_listing_documents_in_the_console(app, client, make, login, console):
    app.config["CLOCK"] = Clock(T0 + timedelta(hours=2))
    app.config["ACCESS_TOKEN_TTL"] = 400 * 24 * 3600
    case = build_case(app, client, make, login)
    inspector = console(case.inspectors[0], accept_language="zh")
    page = f"/console/inspections/{case.inspection_id}"
    assert 'id="issue-form"' in inspector.get(page).get_data(as_text=True)
    refused = inspector.post(f"{page}/documents", {"kind": "recheck_opinion"})
    assert refused.status_code == 409 and doc_count(app) == 0
    assert inspector.post(f"{page}/documents", {"kind": "nonsense"}).status_code == 404
    for kind in ("inspection_record", "rectification_order"):
        assert inspector.post(f"{page}/documents", {"kind": kind}).status_code == 302
    listed = inspector.get(page).get_data(as_text=True)
    assert listed.count("/pdf") == 2
    with app.app_context():
        order = session.scalars(
            select(Document).where(Document.kind == "rectification_order")
        ).one()
        order_id, number = order.id, order.number
    pdf = inspector.get(f"/console/documents/{order_id}/pdf")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    ticket = inspector.get(f"/console/hazards/{case.hazard_ids[0]}").get_data(as_text=True)
    assert number in ticket and f"/console/documents/{order_id}/pdf" in ticket
    # the enterprise: its ticket's order and its documents, no issuing
    owner = console(
        make.user(
            "enterprise",
            jurisdiction=case.enterprise.jurisdiction_code,
            enterprise_id=case.enterprise.id,
        )
    )
    mine = owner.get("/console/documents").get_data(as_text=True)
    assert number in mine
    assert number in owner.get(f"/console/hazards/{case.hazard_ids[0]}").get_data(as_text=True)
    assert owner.get(f"/console/documents/{order_id}/pdf").status_code == 200
    assert owner.post(f"{page}/documents", {"kind": "inspection_record"}).status_code == 403
    # someone else's enterprise sees none of it
    other = make.enterprise(jurisdiction="xinhualu")
    stranger = console(make.user("enterprise", jurisdiction="xinhualu", enterprise_id=other.id))
    assert stranger.get(f"/console/documents/{order_id}/pdf").status_code == 404
    assert stranger.get(page).status_code == 404
    assert number not in stranger.get("/console/documents").get_data(as_text=True)
