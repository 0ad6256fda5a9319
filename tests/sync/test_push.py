"""POST /api/v1/sync/push: exactly once, gaps, rejections without effect, merge rules."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.sync.conftest import Site

SHA = "b" * 64


class Push:
    """Pushes for one user and client id, numbering mutations like a device."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.client_id = str(uuid.uuid4())
        self.next_id = 1

    def send(self, *mutations: tuple[str, dict[str, Any]], first_id: int | None = None) -> Any:
        start = self.next_id if first_id is None else first_id
        body = {
            "client_id": self.client_id,
            "mutations": [
                {"id": start + i, "name": name, "args": args}
                for i, (name, args) in enumerate(mutations)
            ],
        }
        # Encoded with \u escapes, as a device's JSON library would send a lone surrogate.
        resp = self.client.post(
            "/api/v1/sync/push",
            data=json.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )
        if resp.status_code == 200:
            self.next_id = max(self.next_id, start + len(mutations))
        return resp


def check_in(site: Site, lat: float = 31.2195, lon: float = 121.4265) -> tuple[str, dict]:
    return (
        "inspection.check_in",
        {
            "inspection_id": str(site.inspection_id),
            "at": site.at(),
            "location": {"lat": lat, "lon": lon, "accuracy": 6},
        },
    )


def put(site: Site, fid: str | None = None, **fields: Any) -> tuple[str, dict]:
    args = {
        "id": fid or str(uuid.uuid4()),
        "inspection_id": str(site.inspection_id),
        "item_code": site.item_codes[0],
        "result": "pass",
        "recorded_at": site.at(),
    }
    args.update(fields)
    return "finding.put", args


def findings(site: Site) -> list[Any]:
    from app.db import session
    from app.inspections.models import Finding

    with site.app.app_context():
        rows = session.execute(
            select(Finding).where(Finding.inspection_id == site.inspection_id).order_by(Finding.id)
        ).scalars()
        out = [{c.key: getattr(f, c.key) for c in Finding.__table__.columns} for f in rows]
    return out


def count(site: Site, model: Any, *where: Any) -> int:
    from app.db import session

    with site.app.app_context():
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def team(client: FlaskClient, site: Site, n: int = 0) -> Push:
    return Push(client, site.headers[site.inspectors[n].username])


def test_check_in_then_findings_apply(client: FlaskClient, site: Site) -> None:
    dev = team(client, site)
    fid = str(uuid.uuid4())
    resp = dev.send(check_in(site), put(site, fid, result="fail", note="软管老化"))
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["last_mutation_id"] == 2
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    assert body["results"][1]["entity"] == {"type": "finding", "id": fid, "version": 1}
    [finding] = findings(site)
    assert finding["result"] == "fail" and finding["note"] == "软管老化"
    assert finding["grade"] == "major"  # the checklist item's grade
    assert finding["recorded_by"] == site.inspectors[0].id


def test_check_in_far_from_site_is_flagged_not_refused(client: FlaskClient, site: Site) -> None:
    from app.db import session
    from app.inspections.models import Inspection

    resp = team(client, site).send(check_in(site, lat=31.2295, lon=121.4265))
    assert resp.json["results"][0]["status"] == "applied"
    with site.app.app_context():
        insp = session.get(Inspection, site.inspection_id)
        assert insp.status == "in_progress"
        assert 1100 < insp.check_in_distance_m < 1120  # 0.01° of latitude
        assert insp.check_in_far is True
        assert insp.check_in_received_at == site.clock.now
        assert insp.checklist_version is not None


def test_replay_returns_stored_results_and_applies_nothing(client: FlaskClient, site: Site) -> None:
    dev = team(client, site)
    muts = (check_in(site), put(site), put(site, item_code="NOPE-1"))
    first = dev.send(*muts).json
    again = dev.send(*muts, first_id=1)
    assert again.status_code == 200
    assert again.json == first
    assert len(findings(site)) == 1


def test_gap_answers_409_with_expected_id_and_applies_nothing(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    dev.send(check_in(site))
    resp = dev.send(put(site), first_id=3)
    assert resp.status_code == 409
    assert resp.json["code"] == "sync.mutation_gap"
    assert resp.json["expected_id"] == 2
    assert findings(site) == []


def test_push_overlapping_a_replay_applies_only_the_new_part(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    a, b = put(site), put(site, item_code=site.item_codes[1])
    dev.send(check_in(site), a)
    resp = dev.send(check_in(site), a, b, first_id=1)
    assert resp.json["last_mutation_id"] == 3
    assert [r["id"] for r in resp.json["results"]] == [1, 2, 3]
    assert len(findings(site)) == 2


def test_rejected_mutation_advances_counter_and_leaves_no_effect(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    good = put(site)
    resp = dev.send(
        check_in(site),
        put(site, item_code="GAS-999"),
        ("finding.put", {"id": "not-a-uuid"}),
        ("inspection.teleport", {}),
        good,
    )
    results = resp.json["results"]
    assert resp.json["last_mutation_id"] == 5
    assert [r["status"] for r in results] == [
        "applied",
        "rejected",
        "rejected",
        "rejected",
        "applied",
    ]
    assert results[1]["code"] == "finding.unknown_item"
    assert results[2]["code"] == "validation_error"
    assert set(results[2]["errors"]) >= {"id", "inspection_id"}
    assert results[3]["code"] == "sync.unknown_mutation"
    assert [f["id"] for f in findings(site)] == [uuid.UUID(good[1]["id"])]


def test_findings_wait_for_check_in(client: FlaskClient, site: Site) -> None:
    resp = team(client, site).send(put(site))
    assert resp.json["results"][0]["code"] == "inspection.not_checked_in"


def test_unassigned_inspector_gets_not_found(
    client: FlaskClient, site: Site, make: Any, login: Any
) -> None:
    stranger = make.user("inspector", jurisdiction="huayanglu")
    dev = Push(client, login(stranger))
    resp = dev.send(check_in(site), put(site))
    assert [r["code"] for r in resp.json["results"]] == ["inspection.not_found"] * 2


def test_fields_merge_last_writer_wins_and_overwrites_are_audited(
    client: FlaskClient, site: Site
) -> None:
    from app.audit.models import AuditEntry
    from app.db import session

    one, two = team(client, site, 0), team(client, site, 1)
    fid = str(uuid.uuid4())
    one.send(check_in(site), put(site, fid, result="fail", note="first"))
    # The second inspector edited an older copy: only the fields it sent change.
    name, args = put(site, fid, result="fail", photos=[SHA], base_version=1)
    args.pop("note", None)
    r2 = two.send((name, args))
    assert r2.json["results"][0]["entity"]["version"] == 2
    one.send(put(site, fid, result="pass", note="rectified on the spot"))
    [f] = findings(site)
    assert (f["result"], f["note"], f["photos"], f["version"]) == (
        "pass",
        "rectified on the spot",
        [SHA],
        3,
    )
    with site.app.app_context():
        merges = (
            session.execute(
                select(AuditEntry.data)
                .where(AuditEntry.action == "finding.merge")
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    assert merges[0]["overwritten"] == {"photos": []}
    assert merges[1]["overwritten"] == {"result": "fail", "note": "first"}


def test_delete_beats_edit(client: FlaskClient, site: Site) -> None:
    one, two = team(client, site, 0), team(client, site, 1)
    fid = str(uuid.uuid4())
    one.send(check_in(site), put(site, fid))
    assert one.send(("finding.delete", {"id": fid})).json["results"][0]["status"] == "applied"
    resp = two.send(put(site, fid, result="fail"))
    assert resp.json["results"][0]["code"] == "finding.deleted"
    [f] = findings(site)
    assert f["deleted"] is True and f["result"] == "pass"


def test_submit_locks_findings_except_needs_info(client: FlaskClient, site: Site) -> None:
    from app.db import session
    from app.inspections.models import Finding

    dev = team(client, site)
    sent_back, other = str(uuid.uuid4()), str(uuid.uuid4())
    submitted = dev.send(
        check_in(site),
        put(site, sent_back, result="fail", photos=[SHA]),
        put(site, other, item_code=site.item_codes[1]),
        *site.passes(site.item_codes[0], site.item_codes[1]),
        ("inspection.submit", {"inspection_id": str(site.inspection_id), "at": site.at()}),
    )
    assert {r["status"] for r in submitted.json["results"]} == {"applied"}, submitted.json
    locked = dev.send(put(site, other, item_code=site.item_codes[1], result="fail"))
    assert locked.json["results"][0]["code"] == "inspection.locked"
    # A supervisor asks for more on one finding.
    with site.app.app_context():
        session.get(Finding, uuid.UUID(sent_back)).review_status = "needs_info"
        session.commit()
    amended = dev.send(put(site, sent_back, result="fail", note="照片补充", photos=[SHA]))
    assert amended.json["results"][0]["status"] == "applied"
    again = dev.send(
        ("inspection.submit", {"inspection_id": str(site.inspection_id), "at": site.at()})
    )
    assert again.json["results"][0]["status"] == "applied"
    by_id = {str(f["id"]): f for f in findings(site)}
    assert by_id[sent_back]["note"] == "照片补充"
    assert by_id[sent_back]["review_status"] == "pending"
    assert by_id[other]["result"] == "pass"
    late = dev.send(put(site, sent_back, note="too late"))
    assert late.json["results"][0]["code"] == "inspection.locked"


def test_missing_media_until_photos_arrive(client: FlaskClient, site: Site) -> None:
    dev = team(client, site)
    resp = dev.send(check_in(site), put(site, photos=[SHA]))
    assert resp.json["missing_media"] == [SHA]
    [f] = findings(site)
    assert f["media_pending"] is True


def test_patrol_created_on_device(client: FlaskClient, site: Site) -> None:
    from app.db import session
    from app.inspections.models import Inspection

    dev = team(client, site)
    pid = str(uuid.uuid4())
    create = (
        "inspection.create",
        {
            "id": pid,
            "enterprise_id": str(site.enterprise_id),
            "industry": "gas_catering",
            "type": "routine",
        },
    )
    resp = dev.send(create)
    assert resp.json["results"][0]["status"] == "applied"
    with site.app.app_context():
        insp = session.get(Inspection, uuid.UUID(pid))
        assert insp.type == "routine" and insp.inspector_ids == [site.inspectors[0].id]
    # A retry under a new mutation id (e.g. after a device reset) is harmless.
    assert dev.send(create).json["results"][0]["status"] == "applied"


def test_unstorable_text_or_time_rejects_only_that_mutation(
    client: FlaskClient, site: Site
) -> None:
    """A NUL in a note or a time UTC cannot hold rejects that mutation; the outbox moves on."""
    dev = team(client, site)
    resp = dev.send(
        check_in(site),
        put(site, note="软管老化\u0000"),
        put(site, recorded_at="0001-01-01T00:00:00+14:00"),
        ("finding.put\u0000", {}),
        ("finding.delete", {"id": str(uuid.uuid4()), "\ud800": 1}),
        put(site, note="正常"),
    )
    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["applied"] + ["rejected"] * 4 + ["applied"]
    assert results[1]["code"] == results[2]["code"] == "validation_error"
    assert "note" in str(results[1]) and "recorded_at" in str(results[2])
    assert results[3]["code"] == "sync.unknown_mutation"
    assert results[4]["errors"] == {"?": ["Unknown field."]}
    assert resp.json["last_mutation_id"] == 6
    assert [f["note"] for f in findings(site)] == ["正常"]


def test_malformed_envelope_is_422(client: FlaskClient, site: Site) -> None:
    headers = site.headers[site.inspectors[0].username]
    for body in (
        {"client_id": "x", "mutations": []},
        {"client_id": str(uuid.uuid4()), "mutations": [{"id": 0, "name": "a", "args": {}}]},
        {"client_id": str(uuid.uuid4())},
        [1, 2],
    ):
        resp = client.post("/api/v1/sync/push", json=body, headers=headers)
        assert resp.status_code == 422, body
        assert resp.json["code"] == "validation_error"


def test_client_id_of_another_user_is_refused(client: FlaskClient, site: Site) -> None:
    one = team(client, site, 0)
    one.send(check_in(site))
    thief = team(client, site, 1)
    thief.client_id = one.client_id
    resp = thief.send(put(site), first_id=1)
    assert resp.status_code == 409
    assert resp.json["code"] == "sync.client_taken"


def test_push_needs_a_token(client: FlaskClient) -> None:
    resp = client.post("/api/v1/sync/push", json={"client_id": str(uuid.uuid4()), "mutations": []})
    assert resp.status_code == 401


def test_every_field_of_a_new_finding_is_stored_as_sent(client: FlaskClient, site: Site) -> None:
    """The batch insert keeps each value exactly: text, JSON, times to the microsecond."""
    from app.db import session
    from app.inspections.models import Finding

    dev = team(client, site)
    full, bare = str(uuid.uuid4()), str(uuid.uuid4())
    note = 'a "quoted" \\ back\\slash, a\nnew line, 表情 🚒 and \u2028'
    resp = dev.send(
        check_in(site),
        put(
            site,
            full,
            result="fail",
            note=note,
            grade="general",
            photos=["b" * 64, "a" * 64, "b" * 64],
            location={"lat": -12.5, "lon": 179.999999, "accuracy": 0},
            recorded_at="2026-03-01T10:11:12.345678+08:00",
        ),
        put(site, bare, item_code=site.item_codes[1], location=None, note=None),
    )
    assert [r["status"] for r in resp.json["results"]] == ["applied"] * 3
    with site.app.app_context():
        stored = session.get(Finding, uuid.UUID(full))
        assert stored is not None
        assert (stored.result, stored.note, stored.grade) == ("fail", note, "general")
        assert stored.photos == ["b" * 64, "a" * 64]
        assert stored.location == {"lat": -12.5, "lon": 179.999999, "accuracy": 0.0}
        assert stored.recorded_at == datetime(2026, 3, 1, 2, 11, 12, 345678, tzinfo=UTC)
        assert stored.received_at == stored.updated_at
        assert (stored.review_status, stored.deleted, stored.version) == ("pending", False, 1)
        assert stored.media_pending is True  # neither photo is on the server yet
        assert stored.recorded_by == site.inspectors[0].id
        empty = session.get(Finding, uuid.UUID(bare))
        assert empty is not None
        assert (empty.note, empty.location, empty.photos, empty.media_pending) == (
            "",
            None,
            [],
            False,
        )


def test_measured_values_round_trip_and_follow_the_items_range(
    client: FlaskClient, site: Site
) -> None:
    """GAS-09 asks for the distance in m (0–8): kept as sent, required, and a fail outside."""
    from app.db import session
    from app.inspections.models import Finding

    dev = team(client, site)
    ok, over, bare, plain, partial = (str(uuid.uuid4()) for _ in range(5))
    resp = dev.send(
        check_in(site),
        put(site, ok, item_code="GAS-09", result="pass", value=6.5),
        put(site, over, item_code="GAS-09", result="pass", value=9.2),
        put(site, bare, item_code="GAS-09", result="fail"),
        put(site, plain, item_code="GAS-01", result="pass", value=1),
        put(site, str(uuid.uuid4()), item_code="GAS-09", result="fail", value=9.2),
        put(site, str(uuid.uuid4()), item_code="GAS-09", result="na"),
        put(site, partial, item_code="GAS-16", result="pass", value="3"),
    )
    results = resp.json["results"]
    assert [r["status"] for r in results] == [
        "applied",
        "applied",
        "rejected",
        "rejected",
        "rejected",
        "applied",
        "applied",
        "rejected",
    ]
    assert results[2]["code"] == "finding.value_out_of_range" and "GAS-09" in results[2]["message"]
    assert results[2]["errors"] == {"result": ["A value outside 0–8 m is a fail."]}
    assert results[3]["code"] == "finding.value_required" and "GAS-09" in results[3]["message"]
    assert results[4]["code"] == "finding.value_not_expected" and "GAS-01" in results[4]["message"]
    assert results[7]["code"] == "validation_error" and "value" in results[7]["errors"]
    with site.app.app_context():
        assert session.get(Finding, uuid.UUID(ok)).value == 6.5
        assert all(session.get(Finding, uuid.UUID(f)) is None for f in (over, bare, plain))
    pulled = client.get(
        "/api/v1/sync/pull",
        query_string={"client_id": dev.client_id, "limit": 1000},
        headers=dev.headers,
    ).json["changes"]
    assert [c["data"]["value"] for c in pulled if c["id"] == ok] == [6.5]

    # An update that leaves value out keeps it, and is checked against it: 6.5 m cannot
    # become a pass-with-no-value, and a fail keeps the measured 6.5.
    again = dev.send(
        put(site, ok, item_code="GAS-09", result="fail", note="报警器被遮挡", base_version=1)
    )
    assert again.json["results"][0]["status"] == "applied", again.json
    with site.app.app_context():
        stored = session.get(Finding, uuid.UUID(ok))
        assert (stored.value, stored.result, stored.note) == (6.5, "fail", "报警器被遮挡")


def test_onsite_measures_round_trip_and_updates_may_leave_fields_out(
    client: FlaskClient, site: Site
) -> None:
    """Measures ordered on the spot are kept; a bare update keeps the rest; new needs the core."""
    from app.db import session
    from app.inspections.models import Finding

    dev = team(client, site)
    fid = str(uuid.uuid4())
    measures = [{"code": "stop_use", "note": "二号燃气灶"}, {"code": "evacuate"}]
    resp = dev.send(
        check_in(site),
        put(site, fid, result="fail", note="软管老化", measures=measures),
        ("finding.put", {"id": fid, "inspection_id": str(site.inspection_id), "note": "已拍照"}),
        ("finding.put", {"id": str(uuid.uuid4()), "inspection_id": str(site.inspection_id)}),
        put(site, measures=[{"code": "stop_use"}, {"code": "stop_use"}]),
        put(site, measures=[{"code": "burn_it"}]),
    )
    results = resp.json["results"]
    assert [r["status"] for r in results] == [
        "applied",
        "applied",
        "applied",
        "rejected",
        "rejected",
        "rejected",
    ], results
    assert results[3]["code"] == "finding.incomplete"
    assert set(results[3]["errors"]) == {"item_code", "result", "recorded_at"}
    assert results[4]["errors"] == {"measures.1.code": ["Listed twice."]}
    assert "measures.0.code" in results[5]["errors"]
    with site.app.app_context():
        stored = session.get(Finding, uuid.UUID(fid))
        assert (stored.result, stored.note, stored.version) == ("fail", "已拍照", 2)
        assert stored.measures == [
            {"code": "stop_use", "note": "二号燃气灶"},
            {"code": "evacuate", "note": ""},
        ]
    pulled = client.get(
        "/api/v1/sync/pull",
        query_string={"client_id": dev.client_id, "limit": 1000},
        headers=dev.headers,
    ).json["changes"]
    assert [len(c["data"]["measures"]) for c in pulled if c["id"] == fid] == [2]


def test_a_push_locks_the_audit_head_once_at_commit_and_the_chain_verifies(
    client: FlaskClient, site: Site, queries: Any
) -> None:
    """The push's summary entry waits for the commit and goes with the bindings: the head is
    locked and written once, at the end, instead of from the summary until the commit."""
    from app.audit.models import AuditEntry
    from app.audit.services import verify_chain
    from app.db import session

    dev = team(client, site)
    assert dev.send(check_in(site)).status_code == 200
    with queries:
        resp = dev.send(put(site, result="pass"))
    assert resp.status_code == 200 and resp.json["results"][0]["status"] == "applied"
    # (SELECT … FOR UPDATE on PostgreSQL; SQLite serialises writers at BEGIN instead.)
    head_locks = [s for s in queries.statements if "FROM audit_head" in s]
    # (On PostgreSQL the head's UPDATE is a CTE of the entries' INSERT.)
    head_writes = [s for s in queries.statements if "UPDATE AUDIT_HEAD" in s.upper()]
    assert len(head_locks) == 1 and len(head_writes) == 1
    with site.app.app_context():
        last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2))
        bind, summary = list(last.scalars())
        assert (summary.action, bind.action) == ("sync.push", "audit.bind")
        assert summary.actor_id == bind.actor_id == site.inspectors[0].id
        assert summary.data["applied"] == 1
        assert verify_chain(session).ok


def test_a_kept_statement_reads_the_time_of_each_push(
    client: FlaskClient, site: Site, make: Any
) -> None:
    """The statement loading what a caller may work on is built once per caller and kept
    (``fieldwork._kept``): the time it checks the dispatch against is each push's own."""
    ent = make.enterprise(jurisdiction="huayanglu", industry="gas_catering")
    later = make.inspection(
        ent.id, site.inspectors, site.clock.now, dispatch_at=site.clock.now + timedelta(minutes=10)
    )
    dev = team(client, site)
    early = dev.send(check_in(site))  # the caller's statement is built and kept here
    assert early.json["results"][0]["status"] == "applied"
    args = {**check_in(site)[1], "inspection_id": str(later)}
    refused = dev.send(("inspection.check_in", args))
    assert refused.json["results"][0]["code"] == "inspection.not_found"
    site.clock.advance(minutes=20)
    args = {**check_in(site)[1], "inspection_id": str(later)}
    applied = dev.send(("inspection.check_in", args))
    assert applied.status_code == 200, applied.json
    assert applied.json["results"][0]["status"] == "applied", applied.json
