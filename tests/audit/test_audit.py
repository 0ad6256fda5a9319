"""The audit log is hash-chained: any edit or removal in SQL is found and named."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from app.audit.models import AuditEntry
from app.audit.services import chain_for, record, verify_chain


def _seed(app, n=5):
    from app.db import session

    with app.app_context():
        for i in range(n):
            record("test.event", "thing", f"t{i}", {"i": i, "text": "隐患"}, actor=None)
        session.commit()


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def _seeded(db, position):
    """Return the seeded entry at ``position`` of its chain (one transaction: one chain)."""
    chain = chain_for("thing", "t0")
    return db.scalars(
        select(AuditEntry).where(AuditEntry.chain == chain, AuditEntry.chain_seq == position)
    ).one()


def test_intact_chain_verifies(app, db_session):
    _seed(app)
    assert verify_chain(db_session).ok
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_one_transactions_entries_are_one_gapless_chain(app, db_session):
    _seed(app)
    chain = chain_for("thing", "t0")
    rows = db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [(e.chain, e.chain_seq) for e in rows] == [(chain, n) for n in range(1, 6)]
    assert [e.prev_hash for e in rows[1:]] == [e.hash for e in rows[:-1]]


def test_edited_entry_is_named(app, db_session):
    _seed(app)
    seq = _seeded(db_session, 3).seq
    db_session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(data={"i": 99}))
    db_session.commit()
    result = _verify(app)
    assert result.exit_code == 1
    assert f"seq={seq} " in result.output and "#3" in result.output


def test_deleted_entry_is_named(app, db_session):
    _seed(app)
    db_session.execute(delete(AuditEntry).where(AuditEntry.seq == _seeded(db_session, 2).seq))
    db_session.commit()
    res = verify_chain(db_session)
    assert not res.ok and (res.chain, res.chain_seq) == (chain_for("thing", "t0"), 2)


def test_truncated_tail_is_found(app, db_session):
    _seed(app)
    db_session.execute(delete(AuditEntry).where(AuditEntry.seq == _seeded(db_session, 5).seq))
    db_session.commit()
    res = verify_chain(db_session)
    assert not res.ok and res.chain_seq == 5
    assert res.reason is not None and "head mismatch" in res.reason


def test_recomputed_hash_on_edit_still_breaks_next_link(app, db_session):
    """Rewriting an entry and its own hash is caught by the next entry's prev_hash."""
    _seed(app)
    entry = _seeded(db_session, 2)
    db_session.execute(update(AuditEntry).where(AuditEntry.seq == entry.seq).values(hash="f" * 64))
    db_session.commit()
    res = verify_chain(db_session)
    assert not res.ok and res.chain_seq == 2


def test_admin_reads_audit_with_filters(app, client, make, login):
    admin = make.user("admin")
    _seed(app)
    headers = login(admin)
    resp = client.get("/api/v1/audit?entity_type=thing&entity_id=t3", headers=headers)
    assert resp.status_code == 200
    assert [e["entity_id"] for e in resp.json] == ["t3"]
    resp = client.get(f"/api/v1/audit?actor={admin.username}", headers=headers)
    assert resp.status_code == 200
    assert client.get("/api/v1/audit", headers=login(make.user("planner"))).status_code == 403


def test_logins_are_audited(client, make, db_session):
    user = make.user()
    client.post("/api/v1/auth/token", json={"username": user.username, "password": "password-123"})
    rows = db_session.execute(select(AuditEntry).where(AuditEntry.action == "auth.login")).scalars()
    assert [r.actor for r in rows] == [user.username]
