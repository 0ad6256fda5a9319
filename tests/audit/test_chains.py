"""The audit log's chains: unrelated writers do not queue on one head, each chain stays gapless,
and an anchor makes cutting or rewriting a chain after it show."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import OperationalError

from app.audit.models import AuditEntry, AuditHead
from app.audit.services import ANCHOR_CHAIN, anchor, chain_for, record, verify_chain
from tests.conftest import requires_postgres
from tests.hazards.conftest import committed_app  # noqa: F401 - real transactions


def _entities_in_two_chains() -> tuple[str, str]:
    """Return two entity ids of type "thing" that fall in different chains."""
    first = "a"
    other = next(
        f"b{i}" for i in range(100) if chain_for("thing", f"b{i}") != chain_for("thing", first)
    )
    return first, other


def _entity_in_the_chain_of(entity_id: str) -> str:
    """Return another entity id of type "thing" in the same chain as ``entity_id``."""
    chain = chain_for("thing", entity_id)
    return next(f"s{i}" for i in range(1000) if chain_for("thing", f"s{i}") == chain)


def _together(n: int, work: Callable[[int], Any]) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@requires_postgres
def test_writers_of_different_chains_do_not_wait_for_each_other(committed_app: Any) -> None:  # noqa: F811
    """The first transaction holds its chain's head until it commits; the second appends to
    another chain and commits meanwhile, under a lock timeout it would hit if it queued."""
    from app.db import get_db

    one, other = _entities_in_two_chains()
    with committed_app.app_context():
        first, second = get_db().new_session(), get_db().new_session()
        try:
            held = record("test.event", "thing", one, {"n": 1}, actor=None, db=first)
            second.execute(text("SET lock_timeout = '2s'"))
            entry = record("test.event", "thing", other, {"n": 2}, actor=None, db=second)
            second.commit()
            first.commit()
            assert held.chain != entry.chain
        finally:
            first.close()
            second.close()
        with get_db().new_session() as db:
            assert verify_chain(db).ok


@requires_postgres
def test_writers_of_one_chain_still_take_turns(committed_app: Any) -> None:  # noqa: F811
    """A second writer of the same chain waits for the first's head lock (NOWAIT-style: it
    gives up at once rather than fork the chain); after the first commits it appends next."""
    from app.db import get_db

    one = "a"
    same = _entity_in_the_chain_of(one)
    with committed_app.app_context():
        first, second = get_db().new_session(), get_db().new_session()
        try:
            held = record("test.event", "thing", one, actor=None, db=first)
            second.execute(text("SET lock_timeout = '1ms'"))
            with pytest.raises(OperationalError, match="lock"):
                record("test.event", "thing", same, actor=None, db=second)
            second.rollback()
            first.commit()
            entry = record("test.event", "thing", same, actor=None, db=second)
            second.commit()
        finally:
            first.close()
            second.close()
        assert (entry.chain, entry.chain_seq) == (held.chain, held.chain_seq + 1)
        assert entry.prev_hash == held.hash and entry.seq > held.seq


def test_concurrent_writers_keep_every_chain_gapless(committed_app: Any) -> None:  # noqa: F811
    """Threads appending to one chain and to others: every chain runs 1, 2, 3 … and verifies."""
    from app.db import get_db

    one, other = _entities_in_two_chains()
    same = _entity_in_the_chain_of(one)
    entities = [one, same, other, one, same, other]
    per_thread = 5

    def work(i: int) -> None:
        with committed_app.app_context():
            for n in range(per_thread):
                with get_db().new_session() as db:
                    record("test.event", "thing", entities[i], {"n": n}, actor=None, db=db)
                    db.commit()

    with committed_app.app_context():
        with get_db().new_session() as db:
            before = len(db.scalars(select(AuditEntry.seq)).all())
        assert _together(len(entities), work) == []
        with get_db().new_session() as db:
            rows = db.execute(select(AuditEntry.chain, AuditEntry.chain_seq)).all()
            assert len(rows) == before + len(entities) * per_thread
            by_chain: dict[int, list[int]] = {}
            for chain, position in rows:
                by_chain.setdefault(chain, []).append(position)
            for positions in by_chain.values():
                assert sorted(positions) == list(range(1, len(positions) + 1))
            heads = {h.id: h.seq for h in db.scalars(select(AuditHead)) if h.seq}
            assert heads == {chain: len(p) for chain, p in by_chain.items()}
            assert verify_chain(db).ok


def test_one_transaction_appends_to_one_chain(app: Any, db_session: Any) -> None:
    """Entries about entities of different chains, written by one transaction, go to the chain
    its first entry picked: a transaction holds one head, so heads cannot deadlock."""
    one, other = _entities_in_two_chains()
    first = record("test.event", "thing", one, actor=None, db=db_session)
    second = record("test.event", "thing", other, actor=None, db=db_session)
    db_session.commit()
    assert second.chain == first.chain == chain_for("thing", one)
    assert second.chain_seq == first.chain_seq + 1
    later = record("test.event", "thing", other, actor=None, db=db_session)
    db_session.commit()
    assert later.chain == chain_for("thing", other)


def _seed_two_chains(db: Any) -> tuple[AuditEntry, AuditEntry]:
    one, other = _entities_in_two_chains()
    entries = []
    for entity in (one, other):
        for n in range(3):
            entries.append(record("test.event", "thing", entity, {"n": n}, actor=None, db=db))
            db.commit()
    return entries[2], entries[5]


def test_an_anchor_holds_every_chains_head_and_verifies(app: Any, db_session: Any) -> None:
    last_one, last_other = _seed_two_chains(db_session)
    entry = anchor(db_session)
    db_session.commit()
    assert (entry.chain, entry.action) == (ANCHOR_CHAIN, "audit.anchor")
    heads = {chain: (position, digest) for chain, position, digest in entry.data["heads"]}
    assert heads[last_one.chain] == (last_one.chain_seq, last_one.hash)
    assert heads[last_other.chain] == (last_other.chain_seq, last_other.hash)
    result = verify_chain(db_session)
    assert result.ok and result.anchor == (entry.chain_seq, entry.hash)


def test_a_chain_cut_after_an_anchor_is_found_though_its_head_agrees(
    app: Any, db_session: Any
) -> None:
    """Removing a chain's last entry and setting its head back passes the chain's own checks;
    the anchor that held the removed entry names it."""
    last, _other = _seed_two_chains(db_session)
    anchor(db_session)
    db_session.commit()
    db_session.execute(delete(AuditEntry).where(AuditEntry.seq == last.seq))
    db_session.execute(
        update(AuditHead)
        .where(AuditHead.id == last.chain)
        .values(seq=last.chain_seq - 1, hash=last.prev_hash)
    )
    db_session.commit()
    result = verify_chain(db_session)
    assert not result.ok
    assert (result.chain, result.chain_seq) == (last.chain, last.chain_seq)
    assert result.reason is not None and "anchor" in result.reason


def test_a_chain_rewritten_after_an_anchor_is_found(app: Any, db_session: Any) -> None:
    """Replacing a whole chain with a new, self-consistent one breaks the anchor's entry."""
    last, _other = _seed_two_chains(db_session)
    anchor(db_session)
    db_session.commit()
    db_session.execute(delete(AuditEntry).where(AuditEntry.chain == last.chain))
    db_session.execute(delete(AuditHead).where(AuditHead.id == last.chain))
    db_session.commit()
    for n in range(3):
        record(
            "test.event",
            "thing",
            last.entity_id,
            {"n": n, "forged": True},
            actor=None,
            db=db_session,
        )
        db_session.commit()
    result = verify_chain(db_session)
    assert not result.ok
    assert (result.chain, result.chain_seq) == (last.chain, last.chain_seq)
    assert result.reason is not None and "rewritten" in result.reason


def test_an_edited_or_removed_anchor_is_found(app: Any, db_session: Any) -> None:
    _seed_two_chains(db_session)
    first = anchor(db_session)
    db_session.commit()
    anchor(db_session)
    db_session.commit()
    db_session.execute(
        update(AuditEntry).where(AuditEntry.seq == first.seq).values(data={"heads": []})
    )
    db_session.commit()
    result = verify_chain(db_session)
    assert not result.ok and (result.chain, result.chain_seq) == (ANCHOR_CHAIN, first.chain_seq)
    db_session.execute(delete(AuditEntry).where(AuditEntry.seq == first.seq))
    db_session.commit()
    result = verify_chain(db_session)
    assert not result.ok and (result.chain, result.chain_seq) == (ANCHOR_CHAIN, first.chain_seq)


def test_cli_anchors_and_verify_names_the_latest_anchor(app: Any, db_session: Any) -> None:
    _seed_two_chains(db_session)
    runner = app.test_cli_runner()
    written = runner.invoke(args=["audit", "anchor"])
    assert written.exit_code == 0, written.output
    assert "2 chain heads" in written.output
    checked = runner.invoke(args=["audit", "verify", "--anchor"])
    assert checked.exit_code == 0, checked.output
    latest = db_session.scalars(
        select(AuditEntry)
        .where(AuditEntry.chain == ANCHOR_CHAIN)
        .order_by(AuditEntry.chain_seq.desc())
    ).first()
    assert latest is not None and latest.chain_seq == 2
    assert "intact" in checked.output and "anchor #1" in checked.output
    assert "anchor #2 written" in checked.output


def test_a_rows_latest_binding_is_the_highest_numbered_in_any_chain(
    app: Any, db_session: Any, make: Any
) -> None:
    """A row written by transactions of two chains verifies against the later binding; putting
    the row back as the earlier one bound it is an edit."""
    from datetime import UTC, datetime

    from app.auth.models import Device

    one, other = _entities_in_two_chains()
    device = Device(user_id=make.user().id, name="手机")
    db_session.add(device)
    record("test.event", "thing", one, actor=None, db=db_session)
    db_session.commit()
    device.revoked_at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    record("test.event", "thing", other, actor=None, db=db_session)
    db_session.commit()
    binds = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "audit.bind").order_by(AuditEntry.seq)
    ).all()
    mine = [b for b in binds if any(row[1] == str(device.id) for row in b.data["rows"])]
    assert [b.chain for b in mine] == [chain_for("thing", one), chain_for("thing", other)]
    assert verify_chain(db_session).ok
    db_session.execute(update(Device).where(Device.id == device.id).values(revoked_at=None))
    db_session.commit()
    result = verify_chain(db_session)
    assert not result.ok and result.table == "devices" and result.broken_seq == mine[1].seq
