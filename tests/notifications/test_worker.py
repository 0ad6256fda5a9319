"""`fieldsafe worker`: signed webhook delivery to a real HTTP server, retries with backoff, the
dead-letter list, leases, and a worker killed mid-delivery (at-least-once, same key)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.notifications.models import NotificationDelivery, NotificationEvent
from app.notifications.services import enqueue, verify_signature
from app.notifications.worker import WorkerConfig, claim, run_once
from tests.hazards.helpers import T0
from tests.notifications.receiver import Receiver

SECRET = "whsec-test"


def _cfg(*urls: str, **kw) -> WorkerConfig:
    return WorkerConfig(urls=list(urls), secret=SECRET, **kw)


def _event(app, n: int = 1) -> list[str]:
    from app.db import session

    ids = []
    with app.app_context():
        for i in range(n):
            e = enqueue(
                "hazard.issued", "hazard", uuid.uuid4(), {"number": f"长宁隐〔2026〕{i + 1:04d}号"}
            )
            ids.append(str(e.id))
        session.commit()
    return ids


def _db(app):
    return app.extensions["db"].new_session()


def _deliveries(app) -> list[NotificationDelivery]:
    with _db(app) as db:
        return list(
            db.execute(
                select(NotificationDelivery).order_by(NotificationDelivery.created_at)
            ).scalars()
        )


def test_delivery_is_signed_and_carries_the_idempotency_key(app, world, db_session):
    hazard_id = world.hazard()  # issuing a ticket queues hazard.issued
    with Receiver() as rx, Receiver() as rx2, _db(app) as db:
        report = run_once(db, _cfg(rx.url, rx2.url), clock=lambda: T0)
    assert report.fanned_out == 1 and report.delivered == 2
    got = rx.received[0]
    assert verify_signature(
        SECRET, got.headers["X-Fieldsafe-Timestamp"], got.body, got.headers["X-Fieldsafe-Signature"]
    )
    assert not verify_signature(
        "wrong",
        got.headers["X-Fieldsafe-Timestamp"],
        got.body,
        got.headers["X-Fieldsafe-Signature"],
    )
    assert got.headers["X-Fieldsafe-Event"] == "hazard.issued"
    assert got.headers["Content-Type"].startswith("application/json")
    payload = got.json
    assert payload["type"] == "hazard.issued" and payload["id"] == got.key
    assert payload["hazard"]["id"] == str(hazard_id)
    assert payload["hazard"]["number"] == "长宁隐〔2026〕0001号"
    assert payload["hazard"]["enterprise_name"] == world.ent.name
    assert rx2.received[0].key == got.key and rx2.received[0].body == got.body
    assert {d.status for d in _deliveries(app)} == {"delivered"}
    with _db(app) as db:  # nothing left: a second round sends nothing
        assert run_once(db, _cfg(rx.url), clock=lambda: T0).worked == 0


def test_failures_back_off_exponentially_then_succeed(app):
    (event_id,) = _event(app)
    answers = {1: 500, 2: 503}
    with Receiver(respond=lambda n: answers.get(n, 200)) as rx, _db(app) as db:
        cfg = _cfg(rx.url, backoff_seconds=30)
        assert run_once(db, cfg, clock=lambda: T0).failed == 1
        (d,) = _deliveries(app)
        assert d.next_attempt_at == T0 + timedelta(seconds=30) and d.last_status == 500
        assert run_once(db, cfg, clock=lambda: T0 + timedelta(seconds=29)).worked == 0
        assert run_once(db, cfg, clock=lambda: T0 + timedelta(seconds=30)).failed == 1
        (d,) = _deliveries(app)
        assert d.next_attempt_at == T0 + timedelta(seconds=90)  # 30 s, then 60 s
        assert run_once(db, cfg, clock=lambda: T0 + timedelta(seconds=89)).worked == 0
        assert run_once(db, cfg, clock=lambda: T0 + timedelta(seconds=90)).delivered == 1
    assert rx.keys() == [event_id] * 3
    assert [r.headers["X-Fieldsafe-Attempt"] for r in rx.received] == ["1", "2", "3"]
    assert len({r.body for r in rx.received}) == 1  # the same bytes every time
    (d,) = _deliveries(app)
    assert (d.status, d.attempts, d.last_error) == ("delivered", 3, None)


def test_after_the_last_attempt_a_delivery_is_dead_and_can_be_requeued(app):
    _event(app)
    with Receiver(respond=lambda n: 500) as rx, _db(app) as db:
        cfg = _cfg(rx.url, max_attempts=3, backoff_seconds=1)
        outcomes = [
            run_once(db, cfg, clock=lambda s=s: T0 + timedelta(seconds=s)) for s in (0, 1, 3, 100)
        ]
    assert [(o.failed, o.dead) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert len(rx.received) == 3
    (d,) = _deliveries(app)
    assert d.status == "dead" and d.last_error == "HTTP 500"
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["notifications", "list", "--status", "dead"])
    assert listed.exit_code == 0 and str(d.id) in listed.output and "1 dead" in listed.output
    requeued = runner.invoke(args=["notifications", "requeue", "--all-dead"])
    assert requeued.exit_code == 0 and "requeued 1" in requeued.output
    (d,) = _deliveries(app)
    assert (d.status, d.attempts) == ("pending", 0)


def test_an_unreachable_webhook_is_retried(app):
    _event(app)
    with Receiver() as rx:
        dead_url = rx.url  # closed when the block ends
    with _db(app) as db:
        assert run_once(db, _cfg(dead_url, timeout=2), clock=lambda: T0).failed == 1
    (d,) = _deliveries(app)
    assert d.status == "pending" and d.last_status is None and d.last_error


def test_a_claimed_delivery_whose_worker_died_is_taken_again_after_its_lease(app):
    (event_id,) = _event(app)
    with Receiver() as rx, _db(app) as db:
        cfg = _cfg(rx.url, lease_seconds=60)
        run_once(db, _cfg(), clock=lambda: T0)  # no URLs: nothing happens
        assert db.scalar(select(func.count()).select_from(NotificationDelivery)) == 0
        from app.notifications.worker import fan_out

        fan_out(db, cfg, T0)
        assert len(claim(db, cfg, T0)) == 1  # ... and the worker dies before sending
        assert run_once(db, cfg, clock=lambda: T0 + timedelta(seconds=59)).worked == 0
        assert run_once(db, cfg, clock=lambda: T0 + timedelta(seconds=60)).delivered == 1
    assert rx.keys() == [event_id]
    assert rx.received[0].headers["X-Fieldsafe-Attempt"] == "2"


def test_a_worker_killed_mid_delivery_loses_nothing(committed_app, tmp_path):
    """SIGKILL the real `fieldsafe worker` while a request is in flight; a new one finishes."""
    app = committed_app
    ids = _event(app, 5)
    env = {
        **os.environ,
        "FIELDSAFE_DATABASE_URL": app.config["TEST_URL"],
        "FIELDSAFE_SECRET_KEY": "test-secret",
        "FIELDSAFE_WEBHOOK_SECRET": SECRET,
        "FIELDSAFE_WEBHOOK_LEASE_SECONDS": "2",
        "FIELDSAFE_WEBHOOK_TIMEOUT_SECONDS": "30",
        "FIELDSAFE_WORKER_POLL_SECONDS": "0.2",
        "FIELDSAFE_MEDIA_ROOT": str(tmp_path / "media"),
    }
    fieldsafe = str(Path(sys.executable).with_name("fieldsafe"))
    with Receiver(hold_first=True) as rx:
        env["FIELDSAFE_WEBHOOK_URLS"] = rx.url
        first = subprocess.Popen(
            [fieldsafe, "worker", "--no-sweep"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert rx.first_arrived.wait(60), "the worker never delivered"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(30)
            first.stdout.close()
        assert first.returncode == -signal.SIGKILL
        rx.release.set()
        second = subprocess.run(
            [fieldsafe, "worker", "--no-sweep", "--drain", "--max-seconds", "60"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stdout + second.stderr
        keys = rx.keys()
    assert set(keys) == set(ids)  # every event arrived ...
    killed = keys[0]
    assert keys.count(killed) == 2  # ... the one in flight twice, with the same key
    assert all(keys.count(k) == 1 for k in ids if k != killed)
    for r in rx.received:
        assert verify_signature(
            SECRET, r.headers["X-Fieldsafe-Timestamp"], r.body, r.headers["X-Fieldsafe-Signature"]
        )
        assert json.loads(r.body)["id"] == r.key
    with _db(app) as db:
        statuses = db.execute(select(NotificationDelivery.status)).scalars().all()
        assert statuses == ["delivered"] * 5
        assert db.scalar(select(func.count()).select_from(NotificationEvent)) == 5


def test_parallel_workers_share_the_outbox_without_double_sends(committed_app):
    """Claims are taken FOR UPDATE SKIP LOCKED (PostgreSQL): no row goes to two workers."""
    import threading

    app = committed_app
    ids = _event(app, 30)
    with Receiver() as rx:
        cfg = _cfg(rx.url, batch=50)
        barrier = threading.Barrier(3)
        errors = []

        def work() -> None:
            try:
                barrier.wait()
                with _db(app) as db:
                    run_once(db, cfg)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        keys = rx.keys()
    assert sorted(keys) == sorted(ids)
    assert {d.status for d in _deliveries(app)} == {"delivered"}
