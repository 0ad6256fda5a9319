"""The staff console through Flask's test client: signing in and out, CSRF, the idle timeout,
scope (404) and roles (403), each action's effect through the same services as the API, and
pages whose number of SQL statements does not grow with the data."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select

from app.db import session
from app.hazards.models import Hazard
from app.hazards.services import etag_of
from app.inspections.models import Finding, Inspection, InspectionInspector
from app.org.models import User
from app.registry.models import Enterprise
from app.review.models import FindingReview
from tests.conftest import make_test_app
from tests.factories import Factories
from tests.hazards.helpers import T0, sha
from tests.registry.test_import import HEADER, as_xlsx, rows
from tests.staff.conftest import PASSWORD, csrf_of


def submitted(world: Any, n_findings: int = 2, result: str = "fail") -> uuid.UUID:
    """A submitted inspection in huayanglu with pending findings (as tests/review arranges)."""
    ent = world.make.enterprise(industry="gas_catering", jurisdiction="huayanglu")
    with world.app.app_context():
        insp = Inspection(
            type="routine",
            status="submitted",
            enterprise_id=ent.id,
            jurisdiction_code=ent.jurisdiction_code,
            industry="gas_catering",
            check_in_at=T0,
            check_in_received_at=T0 + timedelta(seconds=5),
            check_in_lat=31.2195,
            check_in_lon=121.4265,
            check_in_distance_m=12.0,
            check_in_far=False,
            submitted_at=T0 + timedelta(hours=1),
        )
        session.add(insp)
        session.flush()
        session.add(
            InspectionInspector(inspection_id=insp.id, user_id=world.users["inspector_other"].id)
        )
        for i in range(n_findings):
            session.add(
                Finding(
                    id=uuid.uuid4(),
                    inspection_id=insp.id,
                    item_code=f"GAS-0{i + 1}",
                    result=result,
                    note="漏气",
                    grade="general",
                    photos=[sha(f"{insp.id}-{i}")],
                    recorded_at=T0 + timedelta(minutes=20),
                )
            )
        session.commit()
        return insp.id


def findings_of(app: Any, inspection_id: uuid.UUID) -> list[Finding]:
    with app.app_context():
        rows = session.execute(
            select(Finding)
            .where(Finding.inspection_id == inspection_id)
            .order_by(Finding.item_code)
        ).scalars()
        return [session.merge(f) for f in rows]


def hazard(app: Any, hazard_id: uuid.UUID) -> Hazard:
    with app.app_context():
        found = session.get(Hazard, hazard_id)
        assert found is not None
        found.events  # noqa: B018 - loaded before the session goes
        session.expunge(found)
        return found


def _etag(app: Any, hazard_id: uuid.UUID) -> str:
    with app.app_context():
        found = session.get(Hazard, hazard_id)
        assert found is not None
        return etag_of(found)


# --------------------------------------------------------------------------- signing in


def test_the_site_root_leads_to_the_sign_in_page(client):
    assert client.get("/").headers["Location"] == "/console/"
    answer = client.get("/console/work")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/console/login?next=/console/work")


def test_signing_in_and_out(world, console):
    me = console(world.users["coordinator"])
    page = me.get("/console/work")
    assert page.status_code == 200
    assert "My work" in page.get_data(as_text=True)
    assert me.post("/console/logout").status_code == 302
    assert me.get("/console/work").status_code == 302  # signed out: back to the sign-in page


def test_signing_in_follows_only_a_path_of_this_site(world, app):
    for target, lands in (
        ("/console/hazards?grade=major", "/console/hazards?grade=major"),
        ("//elsewhere.example/x", "/console/"),
        ("/\\elsewhere.example/x", "/console/"),
        ("https://elsewhere.example/", "/console/"),
    ):
        client = app.test_client()
        answer = client.post(
            "/console/login",
            data={
                "username": world.users["coordinator"].username,
                "password": PASSWORD,
                "next": target,
                "csrf_token": csrf_of(client),
            },
        )
        assert answer.headers["Location"] == lands, target


def test_a_wrong_password_redisplays_the_form_in_chinese(world, app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    token = csrf_of(client)
    answer = client.post(
        "/console/login",
        data={
            "username": world.users["coordinator"].username,
            "password": "x",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 401
    assert "用户名或密码错误。" in answer.get_data(as_text=True)
    assert client.get("/console/work").status_code == 302


def test_the_session_cookie_is_httponly_and_lax(world, app):
    client = app.test_client()
    client.get("/console/login")
    cookie = client.get_cookie("fieldsafe_console")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False  # development; production sets it


def test_production_sends_the_cookie_over_https_only(test_db, tmp_path):
    app = make_test_app(
        test_db,
        tmp_path,
        ENV="production",
        ALLOW_SQLITE=True,
        ALLOW_MEMORY_RATE_LIMITS=True,
        ALLOW_LOCAL_MEDIA=True,
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_post_without_the_csrf_token_is_refused(world, app, console):
    client = app.test_client()
    client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"username": world.users["coordinator"].username, "password": PASSWORD},
    )
    assert answer.status_code == 400
    assert client.get("/console/work").status_code == 302  # not signed in
    me = console(world.users["coordinator"])
    hid = world.hazard(assignee=None)
    answer = me.client.post(
        f"/console/hazards/{hid}/comment", data={"note": "x", "csrf_token": "forged"}
    )
    assert answer.status_code == 400
    assert len(hazard(world.app, hid).events) == 1  # only its issue: nothing written


def test_the_api_takes_no_csrf_token(world):
    hid = world.hazard(assignee=None)
    answer = world.client.post(
        f"/api/v1/hazards/{hid}/actions",
        json={"action": "comment", "note": "来自接口"},
        headers={**world.headers("coordinator"), "If-Match": _etag(world.app, hid)},
    )
    assert answer.status_code == 200, answer.json


def test_an_idle_session_lapses(world, console, clock):
    me = console(world.users["coordinator"])
    clock.advance(minutes=29)
    assert me.get("/console/work").status_code == 200  # each request restarts the idle clock
    clock.advance(minutes=29)
    assert me.get("/console/work").status_code == 200
    clock.advance(minutes=31)
    answer = me.get("/console/work")
    assert answer.status_code == 302 and "/console/login" in answer.headers["Location"]


def test_failed_sign_ins_meet_the_login_limits(test_db, tmp_path):
    app = make_test_app(test_db, tmp_path, LOGIN_ACCOUNT_FAILURE_LIMIT="2 per minute")
    with app.app_context():
        from app.demo.org import load_org

        load_org()
        session.commit()
    user = Factories(app).user("coordinator")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    token = csrf_of(client)
    bad = {"username": user.username, "password": "wrong", "csrf_token": token}
    assert client.post("/console/login", data=bad).status_code == 401
    assert client.post("/console/login", data=bad).status_code == 401
    limited = client.post("/console/login", data=bad)
    assert limited.status_code == 429
    assert "登录尝试次数过多" in limited.get_data(as_text=True)


def test_the_language_switch_sets_the_users_own_language(world, console, app):
    me = console(world.users["coordinator"])  # the client asks for English
    assert "My work" in me.get("/console/work").get_data(as_text=True)
    assert (
        me.post("/console/language", data={"locale": "zh", "next": "/console/work"}).status_code
        == 302
    )
    assert "我的待办" in me.get("/console/work").get_data(as_text=True)
    with app.app_context():
        assert session.get(User, world.users["coordinator"].id).locale == "zh"
    assert me.post("/console/language", data={"locale": "fr"}).status_code == 422


# --------------------------------------------------------------------------- scope and roles


def test_a_ticket_outside_the_callers_scope_is_a_404_page(world, console):
    hid = world.hazard(enterprise=world.other_ent)  # xinhualu
    street = world.make.user("inspector", jurisdiction="huayanglu")
    assert console(street).get(f"/console/hazards/{hid}").status_code == 404
    assert console(world.users["enterprise"]).get(f"/console/hazards/{hid}").status_code == 404
    assert console(world.users["coordinator"]).get(f"/console/hazards/{hid}").status_code == 200


def test_an_unknown_console_address_is_the_consoles_404_page(world, console):
    page = console(world.users["coordinator"]).get("/console/no/such/page")
    assert page.status_code == 404 and "There is no such page here." in page.get_data(as_text=True)


def test_the_review_pages_are_for_supervisors(world, console):
    insp = submitted(world)
    finding = findings_of(world.app, insp)[0]
    me = console(world.users["coordinator"])
    assert me.get("/console/review").status_code == 403
    assert me.get(f"/console/review/findings/{finding.id}").status_code == 403
    street = world.make.user("supervisor", jurisdiction="xinhualu")
    assert console(street).get(f"/console/review/findings/{finding.id}").status_code == 404
    assert console(street).get(f"/console/review/findings/{uuid.uuid4()}").status_code == 404


# --------------------------------------------------------------------------- review


def test_confirming_a_failure_issues_its_ticket(world, console):
    insp = submitted(world)
    first, second = findings_of(world.app, insp)
    me = console(world.users["supervisor_other"])
    queue = me.get("/console/review").get_data(as_text=True)
    assert str(first.id) in queue and str(second.id) in queue
    page = me.get(f"/console/review/findings/{first.id}").get_data(as_text=True)
    assert "漏气" in page and f'data-next="/console/review/findings/{second.id}"' in page
    answer = me.post(
        f"/console/review/findings/{first.id}", {"decision": "confirm", "next_id": str(second.id)}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/console/review/findings/{second.id}"
    with world.app.app_context():
        assert session.get(Finding, first.id).review_status == "confirmed"
        ticket = session.execute(select(Hazard).where(Hazard.finding_id == first.id)).scalar_one()
        number = ticket.number
    assert number in me.get(answer.headers["Location"]).get_data(as_text=True)  # the flash


def test_rejecting_needs_a_reason_and_writes_nothing_without_one(world, console):
    insp = submitted(world, 1)
    (finding,) = findings_of(world.app, insp)
    me = console(world.users["supervisor_other"])
    refused = me.post(f"/console/review/findings/{finding.id}", {"decision": "reject"})
    assert refused.status_code == 422
    assert "Write the reason" in refused.get_data(as_text=True)
    with world.app.app_context():
        assert session.get(Finding, finding.id).review_status == "pending"
        assert session.scalar(select(FindingReview.id).limit(1)) is None
    answer = me.post(
        f"/console/review/findings/{finding.id}", {"decision": "reject", "comment": "照片不清"}
    )
    assert answer.status_code == 302
    with world.app.app_context():
        assert session.get(Finding, finding.id).review_status == "rejected"


def test_needs_info_sends_the_finding_back_with_the_comment(world, console):
    insp = submitted(world, 1)
    (finding,) = findings_of(world.app, insp)
    me = console(world.users["supervisor_other"])
    me.post(f"/console/review/findings/{finding.id}", {"decision": "needs_info", "comment": "补拍"})
    with world.app.app_context():
        row = session.get(Finding, finding.id)
        assert (row.review_status, row.review_comment) == ("needs_info", "补拍")


def test_changing_the_grade_needs_its_reason(world, console):
    insp = submitted(world, 1)
    (finding,) = findings_of(world.app, insp)
    me = console(world.users["supervisor_other"])
    path = f"/console/review/findings/{finding.id}"
    refused = me.post(path, {"decision": "confirm", "grade": "major"})
    assert refused.status_code == 422
    with world.app.app_context():
        assert session.get(Finding, finding.id).review_status == "pending"
    me.post(path, {"decision": "confirm", "grade": "major", "grade_reason": "第九条"})
    with world.app.app_context():
        assert session.get(Finding, finding.id).grade == "major"
        assert session.execute(select(Hazard.grade)).scalar_one() == "major"


def test_confirming_the_passes_at_once(world, console):
    insp = submitted(world, 3, result="pass")
    me = console(world.users["supervisor_other"])
    answer = me.post(
        f"/console/review/inspections/{insp}/confirm-passes", {"next": "/console/review"}
    )
    assert answer.status_code == 302
    assert {f.review_status for f in findings_of(world.app, insp)} == {"confirmed"}


def test_the_queue_costs_the_same_statements_however_long(world, console, queries):
    me = console(world.users["supervisor_other"])
    submitted(world, 2)
    with queries:
        assert me.get("/console/review").status_code == 200
    small = queries.count
    for _ in range(4):
        submitted(world, 4)
    with queries:
        page = me.get("/console/review")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('data-href="/console/review/findings/') == 18
    assert queries.count == small


# --------------------------------------------------------------------------- tickets


def test_assigning_by_name_with_a_deadline_at_the_end_of_a_beijing_day(world, console):
    hid = world.hazard(assignee=None)
    me = console(world.users["coordinator"])
    page = me.get(f"/console/hazards/{hid}").get_data(as_text=True)
    who = world.users["inspector_assignee"]
    assert who.name in page  # the picker names people
    answer = me.post(
        f"/console/hazards/{hid}/assign",
        {"assignee_id": str(who.id), "deadline": "2026-03-20", "etag": _etag(world.app, hid)},
    )
    assert answer.status_code == 302
    h = hazard(world.app, hid)
    assert h.assignee_id == who.id
    assert h.deadline == datetime(2026, 3, 20, 15, 59, 59, tzinfo=UTC)


def test_a_bad_date_or_a_stale_page_redisplays_and_writes_nothing(world, console):
    hid = world.hazard(assignee=None)
    me = console(world.users["coordinator"])
    who = str(world.users["inspector_assignee"].id)
    stale = me.post(
        f"/console/hazards/{hid}/assign",
        {"assignee_id": who, "deadline": "2026-03-20", "etag": '"old"'},
    )
    assert stale.status_code == 422
    assert "changed this ticket meanwhile" in stale.get_data(as_text=True)
    bad = me.post(
        f"/console/hazards/{hid}/assign",
        {"assignee_id": who, "deadline": "20. März", "etag": _etag(world.app, hid)},
    )
    assert bad.status_code == 422
    assert hazard(world.app, hid).assignee_id is None


def test_comments_escalation_and_extensions(world, console):
    hid = world.hazard(extension=True)
    me = console(world.users["coordinator"])
    me.post(f"/console/hazards/{hid}/comment", {"note": "请尽快", "etag": _etag(world.app, hid)})
    me.post(f"/console/hazards/{hid}/escalate", {"note": "逾期未改", "etag": _etag(world.app, hid)})
    me.post(
        f"/console/hazards/{hid}/decide_extension",
        {"approve": "1", "note": "同意", "etag": _etag(world.app, hid)},
    )
    h = hazard(world.app, hid)
    assert [e.action for e in h.events][-3:] == ["comment", "escalate", "decide_extension"]
    assert h.escalation_level == 1 and h.extension_request is None


def test_only_the_responsible_supervisor_closes(world, console):
    hid = world.hazard(status="verified")
    other = console(world.users["supervisor_other"])
    refused = other.post(
        f"/console/hazards/{hid}/close", {"note": "销号", "etag": _etag(world.app, hid)}
    )
    assert refused.status_code == 422
    assert hazard(world.app, hid).status == "verified"
    me = console(world.users["supervisor_resp"])
    assert hid.hex[:8] in me.get("/console/work").get_data(as_text=True).replace("-", "")
    answer = me.post(
        f"/console/hazards/{hid}/close", {"note": "销号", "etag": _etag(world.app, hid)}
    )
    assert answer.status_code == 302
    assert hazard(world.app, hid).status == "closed"


def test_the_ledger_filters_and_costs_the_same_statements_however_long(world, console, queries):
    me = console(world.users["coordinator"])
    world.hazard(grade="major")
    world.hazard()
    with queries:
        page = me.get("/console/hazards?grade=major")
    small = queries.count
    assert page.get_data(as_text=True).count('<tr class="') == 1
    for _ in range(6):
        world.hazard(grade="major")
    with queries:
        page = me.get("/console/hazards?grade=major")
    assert page.get_data(as_text=True).count('<tr class="') == 7
    assert queries.count == small


def test_every_filter_of_the_ledger_is_accepted(world, console):
    world.hazard()
    me = console(world.users["coordinator"])
    query = (
        "status=open&grade=general&jurisdiction=huayanglu&industry=gas_catering&source=supervision"
        "&overdue=0&listed=0&escalation_level=1&assignee=me&page=1"
    )
    assert me.get(f"/console/hazards?{query}").status_code == 200
    assert me.get("/console/hazards?page=x&overdue=maybe").status_code == 200


def test_the_browsers_photo_upload_is_the_apis_tus_upload_behind_the_session(world, console):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    metadata = "sha256 " + base64.b64encode(digest.encode()).decode()
    me = console(world.users["enterprise"])
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata}
    forged = me.client.post("/console/media/uploads", headers={**tus, "X-CSRF-Token": "forged"})
    assert forged.status_code == 400
    created = me.client.post("/console/media/uploads", headers={**tus, "X-CSRF-Token": me.csrf})
    assert created.status_code == 201, created.get_data(as_text=True)
    location = created.headers["Location"]
    assert location.startswith("/console/media/uploads/")
    done = me.client.patch(
        location,
        data=data,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "X-CSRF-Token": me.csrf,
        },
    )
    assert done.status_code == 204, done.get_data(as_text=True)
    hid = world.hazard(status="rectifying", assignee=None)
    answer = me.post(
        f"/console/hazards/{hid}/submit_rectification",
        {"note": "已整改", "photos": digest, "etag": _etag(world.app, hid)},
    )
    assert answer.status_code == 302
    h = hazard(world.app, hid)
    assert h.status == "rectified" and h.events[-1].photos == [digest]


def test_the_planner_imports_a_workbook_and_sees_the_bad_row_beside_its_cells(world, console):
    good = rows(2)
    bad = rows(1)[0]
    bad[1] = "NOT-A-USCC"
    me = console(world.users["planner"], accept_language="zh")
    assert me.get("/console/registry/import").status_code == 200
    refused = me.post(
        "/console/registry/import",
        {"file": (io.BytesIO(as_xlsx([HEADER, *good, bad])), "名录.xlsx")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "NOT-A-USCC" in page and 'class="cell-error"' in page
    with world.app.app_context():
        assert session.scalar(select(Enterprise.id).where(Enterprise.name == good[0][0])) is None
    done = me.post(
        "/console/registry/import",
        {"file": (io.BytesIO(as_xlsx([HEADER, *good])), "名录.xlsx")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 200
    assert 'id="import-summary"' in done.get_data(as_text=True)
    assert console(world.users["coordinator"]).get("/console/registry/import").status_code == 403


def test_the_flags_are_explained_in_the_readers_language(world, console):
    insp = submitted(world, 1)
    (finding,) = findings_of(world.app, insp)
    with world.app.app_context():
        row = session.get(Finding, finding.id)
        row.recorded_at = T0 - timedelta(hours=3)  # three hours before the check-in
        session.commit()
    me = console(world.users["supervisor_other"], accept_language="zh")
    page = me.get(f"/console/review/findings/{finding.id}").get_data(as_text=True)
    assert "记录时间早于签到" in page  # the flag
    assert "记录时间比签到早 3 小时 0 分钟。" in page  # its reason


def test_the_enterprise_reports_a_hazard_of_its_own(world, console):
    me = console(world.users["enterprise"])
    assert me.get("/console/hazards/new").status_code == 200
    empty = me.post("/console/hazards/new", {"grade": "general", "description": ""})
    assert empty.status_code == 422
    answer = me.post(
        "/console/hazards/new",
        {"grade": "general", "description": "消防通道堆放杂物", "deadline": "2026-03-10"},
    )
    assert answer.status_code == 302
    with world.app.app_context():
        h = session.execute(select(Hazard).where(Hazard.source == "self_report")).scalar_one()
        assert h.enterprise_id == world.ent.id
        assert h.deadline == datetime(2026, 3, 10, 15, 59, 59, tzinfo=UTC)
    assert console(world.users["coordinator"]).get("/console/hazards/new").status_code == 403
