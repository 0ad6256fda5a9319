"""The audit log is hash-chained: any edit or removal in SQL is found and named."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from app.audit.models import AuditEntry
from app.audit.services import record, verify_chain


def _seed(app, n=5):
    from app.db import session

    with app.app_context():
        for i in range(n):
            record("test.event", "thing", f"t{i}", {"i": i, "text": "隐患"}, actor=None)
        session.commit()


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_intact_chain_verifies(app, db_session):
    _seed(app)
    assert verify_chain(db_session).ok
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_edited_entry_is_named(app, db_session):
    _seed(app)
    db_session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(data={"i": 99}))
    db_session.commit()
    result = _verify(app)
    assert result.exit_code == 1
    assert "seq=3" in result.output


def test_deleted_entry_is_named(app, db_session):
    _seed(app)
    db_session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    db_session.commit()
    res = verify_chain(db_session)
    assert not res.ok and res.broken_seq == 2


def test_truncated_tail_is_found(app, db_session):
    _seed(app)
    db_session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    db_session.commit()
    res = verify_chain(db_session)
    assert not res.ok and res.broken_seq == 5


def test_recomputed_hash_on_edit_still_breaks_next_link(app, db_session):
    """Rewriting an entry and its own hash is caught by the next entry's prev_hash."""
    _seed(app)
    entry = db_session.get(AuditEntry, 2)
    db_session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(hash="f" * 64))
    db_session.commit()
    assert entry is not None
    res = verify_chain(db_session)
    assert not res.ok and res.broken_seq == 2


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
