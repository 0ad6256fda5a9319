"""A push is validated as a batch: the edge cases of checking many mutations together."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from tests.sync.conftest import Site
from tests.sync.test_push import check_in, findings, put, team


def _changes(site: Site, entity_id: str) -> list[tuple[str, int]]:
    from app.changelog import SYNC_TABLES
    from app.db import session

    c = SYNC_TABLES.changes.c
    with site.app.app_context():
        rows = session.execute(
            select(c.op, c.version).where(c.entity_id == uuid.UUID(entity_id)).order_by(c.id)
        )
        return [(op, version) for op, version in rows]


def _bound(site: Site, entity_id: str) -> list[Any]:
    """The digests the audit chain's bindings hold for one finding, oldest first."""
    from app.audit.models import AuditEntry
    from app.db import session

    with site.app.app_context():
        data = session.execute(
            select(AuditEntry.data)
            .where(AuditEntry.action == "audit.bind")
            .order_by(AuditEntry.seq)
        ).scalars()
        return [
            d for entry in data for t, i, d in entry["rows"] if (t, i) == ("findings", entity_id)
        ]


def test_two_puts_of_one_finding_in_one_push_apply_in_order(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    fid = str(uuid.uuid4())
    resp = dev.send(
        check_in(site),
        put(site, fid, result="fail", note="no alarm"),
        put(site, fid, result="pass", note="fixed on the spot"),
        put(site, fid, result="pass", note="fixed on the spot"),  # the same again: no change
    )
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["applied"] * 4
    # Each applied change has its version; the third changed nothing, so it keeps version 2.
    assert [r["entity"]["version"] for r in results[1:]] == [2, 2, 2]
    [f] = findings(site)
    assert (f["result"], f["note"], f["version"]) == ("pass", "fixed on the spot", 2)
    # The feed sees the finding once, at the version it has now; the chain binds that row.
    assert _changes(site, fid) == [("put", 2)]
    assert len(_bound(site, fid)) == 1


def test_new_findings_are_bound_as_stored_also_one_written_again_in_the_push(
    client: FlaskClient, site: Site
) -> None:
    """The findings' INSERT returns their bound columns, which the commit binds without
    reading the rows again (on PostgreSQL); a later run of the same push that writes one of
    them again (here a delete) makes the commit bind that one as it is then."""
    from app.audit.bindings import COVERED, row_digest
    from app.audit.services import verify_chain
    from app.db import session
    from app.inspections.models import Finding

    dev = team(client, site)
    deleted, kept = str(uuid.uuid4()), str(uuid.uuid4())
    resp = dev.send(
        check_in(site),
        put(site, deleted, result="fail"),
        put(site, kept, item_code=site.item_codes[1]),
        ("finding.delete", {"id": deleted}),
    )
    assert [r["status"] for r in resp.json["results"]] == ["applied"] * 4
    t = Finding.__table__
    with site.app.app_context():
        assert verify_chain(session).ok
        for fid in (deleted, kept):
            row = session.execute(
                select(*(t.c[name] for name in COVERED["findings"])).where(t.c.id == uuid.UUID(fid))
            ).one()
            assert _bound(site, fid) == [row_digest("findings", row)]
            assert row.deleted == (fid == deleted)


def test_a_later_put_of_one_finding_is_checked_against_the_earlier_one(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    fid = str(uuid.uuid4())
    other = str(uuid.uuid4())
    resp = dev.send(
        check_in(site),
        put(site, fid),
        # the same id on another item: refused, checked against the put just before it
        put(site, fid, item_code=site.item_codes[1]),
        # an update leaving out item_code and recorded_at: complete because of the first put
        ("finding.put", {"id": fid, "inspection_id": str(site.inspection_id), "note": "ok"}),
        # a new finding without its item: refused, although the id before it was complete
        ("finding.put", {"id": other, "inspection_id": str(site.inspection_id), "note": "x"}),
    )
    results = resp.json["results"]
    assert [r["status"] for r in results] == [
        "applied",
        "applied",
        "rejected",
        "applied",
        "rejected",
    ]
    assert results[2]["code"] == "finding.conflict"
    assert results[4]["code"] == "finding.incomplete"
    [f] = findings(site)
    assert (str(f["id"]), f["item_code"], f["note"]) == (fid, site.item_codes[0], "ok")


def test_a_refused_put_in_the_middle_of_a_batch_leaves_nothing_and_the_others_apply(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    before = [put(site, item_code=code) for code in site.item_codes[:2]]
    refused = put(site, item_code="GAS-999")
    after = [put(site, item_code=code) for code in site.item_codes[2:4]]
    resp = dev.send(check_in(site), *before, refused, *after)
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["applied"] * 3 + ["rejected"] + ["applied"] * 2
    assert results[3]["code"] == "finding.unknown_item"
    assert resp.json["last_mutation_id"] == 6
    stored = {str(f["id"]) for f in findings(site)}
    assert stored == {args["id"] for _name, args in before + after}
    # Nothing of the refused one: no row, no change for the feed, no binding.
    assert _changes(site, refused[1]["id"]) == []
    assert _bound(site, refused[1]["id"]) == []
    for _name, args in before + after:
        assert _changes(site, args["id"]) == [("put", 1)]


def test_a_replayed_batch_answers_the_first_results_word_for_word(
    client: FlaskClient, site: Site
) -> None:
    dev = team(client, site)
    fid = str(uuid.uuid4())
    muts = (
        check_in(site),
        put(site, fid, result="fail"),
        put(site, item_code="GAS-999"),
        put(site, fid, result="pass"),
        ("finding.delete", {"id": fid}),
        put(site, fid, result="fail"),  # after the delete: refused
    )
    first = dev.send(*muts).json
    assert [r["status"] for r in first["results"]] == [
        "applied",
        "applied",
        "rejected",
        "applied",
        "applied",
        "rejected",
    ]
    assert first["results"][5]["code"] == "finding.deleted"
    changes = _changes(site, fid)
    again = dev.send(*muts, first_id=1)
    assert again.status_code == 200 and again.json == first
    assert _changes(site, fid) == changes  # nothing applied twice


def test_a_push_costs_the_same_statements_for_one_finding_as_for_nineteen(
    client: FlaskClient, site: Site, queries: Any
) -> None:
    dev = team(client, site)
    assert dev.send(check_in(site)).status_code == 200
    # The checklist's items are cached per process by digest: the first push that needs them
    # reads them once (whichever test runs first), so warm the cache before counting.
    assert dev.send(put(site, item_code=site.item_codes[0])).status_code == 200
    counts = []
    for codes in (site.item_codes[1:2], site.item_codes[2:21]):
        with queries:
            resp = dev.send(*(put(site, item_code=code) for code in codes))
        assert [r["status"] for r in resp.json["results"]] == ["applied"] * len(codes)
        counts.append(queries.count)
    # token; client lock; inspections with their checklist; findings; insert findings;
    # results; counter; change log; audit: bound rows, chain head, entry number, entries,
    # head (savepoints apart). On PostgreSQL the findings' INSERT returns their bound columns
    # (no read of them at commit), the results' INSERT advances the counter and appends the
    # change rows, the head's lock takes the entry number and the entries' INSERT moves the
    # head: five fewer.
    postgres = site.app.extensions["db"].engine.dialect.name == "postgresql"
    expected = 8 if postgres else 13
    assert counts == [expected, expected], "\n".join(s[:70] for s in queries.statements)


def test_a_write_the_database_refuses_redoes_the_push_and_rejects_only_that_one(
    client: FlaskClient, site: Site
) -> None:
    """Field work goes without a savepoint per run; when the database refuses a write anyway,
    the whole push is rolled back and applied again run by run, so only that one is refused."""
    from dataclasses import replace

    from sqlalchemy import text

    from app.audit.services import verify_chain
    from app.db import session

    specs = site.app.extensions["sync_mutations"]
    real = specs["finding.put"]
    calls = []

    def refused_by_the_database(db: Any, ctx: Any, items: Any) -> Any:
        calls.append([item.id for item in items])
        results = real.handler(db, ctx, items)
        if any(item.args.note == "unstorable" for item in items):
            # a duplicate primary key: the database refuses it on either dialect
            db.execute(
                text(
                    "INSERT INTO sync_clients (client_id, user_id, last_mutation_id, created_at,"
                    " updated_at) SELECT client_id, user_id, 0, created_at, updated_at"
                    " FROM sync_clients LIMIT 1"
                )
            )
        return results

    site.app.extensions["sync_mutations"] = {
        **specs,
        "finding.put": replace(real, handler=refused_by_the_database),
    }
    dev = team(client, site)
    good = put(site)
    bad = put(site, item_code=site.item_codes[1], note="unstorable")
    resp = dev.send(check_in(site), good, bad)
    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["code"] == "sync.write_conflict"
    # once without savepoints, then the run in its savepoint, then one mutation at a time
    assert calls == [[2, 3], [2, 3], [2], [3]]
    assert {str(f["id"]) for f in findings(site)} == {good[1]["id"]}
    assert _changes(site, good[1]["id"]) == [("put", 1)]
    assert _changes(site, bad[1]["id"]) == []
    # checked in once (version 1 was its dispatch)
    assert _changes(site, str(site.inspection_id)) == [("put", 1), ("put", 2)]
    with site.app.app_context():
        assert verify_chain(session).ok
