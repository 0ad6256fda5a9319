"""`fieldsafe worker`: deliver the outbox to the configured webhooks, and run the hazard sweep.

Delivery is at-least-once. A delivery is *claimed* in a short transaction (rows taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never take the same row; SQLite serialises
writers anyway): its attempt counter goes up and a lease is set. The HTTP call happens outside
any transaction; its outcome is written in a second short transaction. A worker killed between
the two leaves the delivery pending under a lease that simply runs out, and the next worker sends
it again — with the same ``Idempotency-Key`` (the event id), so receivers can drop the repeat.
Failures back off exponentially; after the last attempt the delivery is ``dead`` (the
dead-letter list, `fieldsafe notifications list --status dead`, requeued with `... requeue`).
"""

from __future__ import annotations

import logging
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.notifications.models import NotificationDelivery, NotificationEvent
from app.notifications.services import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    body_bytes,
    sign,
)
from app.settings import Settings

log = logging.getLogger("fieldsafe.worker")

#: (url, body, headers, timeout) → (HTTP status or None, error text or None)
Sender = Callable[[str, bytes, dict[str, str], float], tuple[int | None, str | None]]


def http_send(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """POST the body; return the status (None when no response came) and an error text."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured URLs
            resp.read(1024)
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:500]


@dataclass
class WorkerConfig:
    urls: list[str]
    secret: str
    max_attempts: int = 8
    backoff_seconds: float = 30
    backoff_max_seconds: float = 6 * 3600
    timeout: float = 10
    lease_seconds: float = 60
    batch: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        """Take the webhook settings (FIELDSAFE_WEBHOOK_*)."""
        return cls(
            urls=list(settings.webhook_urls),
            secret=settings.webhook_secret,
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            backoff_max_seconds=settings.webhook_backoff_max_seconds,
            timeout=settings.webhook_timeout_seconds,
            lease_seconds=settings.webhook_lease_seconds,
        )

    def backoff(self, attempts: int) -> timedelta:
        """Return the wait before the next attempt after `attempts` failed ones."""
        seconds = self.backoff_seconds * (2 ** max(0, attempts - 1))
        return timedelta(seconds=min(seconds, self.backoff_max_seconds))


@dataclass
class RunReport:
    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def worked(self) -> int:
        return self.fanned_out + self.delivered + self.failed + self.dead


def fan_out(db: Session, cfg: WorkerConfig, now: datetime, batch: int = 200) -> int:
    """Create one delivery per configured webhook for events not yet fanned out; commit."""
    if not cfg.urls:
        return 0
    events = (
        db.execute(
            select(NotificationEvent)
            .where(NotificationEvent.fanned_out_at.is_(None))
            .order_by(NotificationEvent.created_at, NotificationEvent.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    for event in events:
        for url in cfg.urls:
            db.add(NotificationDelivery(event_id=event.id, url=url, next_attempt_at=now))
        event.fanned_out_at = now
    db.commit()
    return len(events)


def claim(
    db: Session, cfg: WorkerConfig, now: datetime, limit: int | None = None
) -> list[tuple[uuid.UUID, int]]:
    """Take due deliveries under a lease (attempt counted now); commit; return (id, attempt)."""
    rows = (
        db.execute(
            select(NotificationDelivery)
            .where(
                NotificationDelivery.status == "pending",
                NotificationDelivery.next_attempt_at <= now,
                or_(
                    NotificationDelivery.lease_until.is_(None),
                    NotificationDelivery.lease_until <= now,
                ),
            )
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(limit or cfg.batch)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    claimed = []
    for d in rows:
        d.attempts += 1
        d.lease_until = now + timedelta(seconds=cfg.lease_seconds)
        claimed.append((d.id, d.attempts))
    db.commit()
    return claimed


def deliver_one(
    db: Session,
    cfg: WorkerConfig,
    delivery_id: uuid.UUID,
    attempt: int,
    send: Sender,
    clock: Callable[[], datetime],
) -> str:
    """Send one claimed delivery and record the outcome; return delivered | retry | dead | lost."""
    d = db.execute(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if d is None or d.status != "pending" or d.attempts != attempt:
        db.rollback()
        return "lost"  # someone else took it over; never send on a lease we lost
    event = db.get(NotificationEvent, d.event_id)
    assert event is not None
    body = body_bytes(event.payload)
    url, event_id, event_type = d.url, event.id, event.type
    # No transaction is held during the HTTP call (on SQLite it would block every writer).
    db.rollback()
    ts = int(clock().timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "fieldsafe-webhooks/1",
        IDEMPOTENCY_HEADER: str(event_id),
        EVENT_HEADER: event_type,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(cfg.secret, ts, body),
        "X-Fieldsafe-Delivery": str(delivery_id),
        "X-Fieldsafe-Attempt": str(attempt),
    }
    status, error = send(url, body, headers, cfg.timeout)
    ok = status is not None and 200 <= status < 300
    now = clock()
    d = db.execute(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if d.status != "pending" or d.attempts != attempt:
        # Our lease ran out and another worker took it over; its outcome stands.
        db.rollback()
        return "lost"
    d.last_status = status
    d.lease_until = None
    if ok:
        d.status, d.delivered_at, d.last_error = "delivered", now, None
        outcome = "delivered"
    else:
        d.last_error = (error or f"HTTP {status}")[:500]
        if d.attempts >= cfg.max_attempts:
            d.status = "dead"
            outcome = "dead"
            log.warning("delivery %s to %s is dead after %s attempts", d.id, url, d.attempts)
        else:
            d.next_attempt_at = now + cfg.backoff(d.attempts)
            outcome = "retry"
    db.commit()
    return outcome


def run_once(
    db: Session,
    cfg: WorkerConfig,
    send: Sender = http_send,
    clock: Callable[[], datetime] = utcnow,
) -> RunReport:
    """Fan out new events, then deliver what is due once; return what happened."""
    report = RunReport()
    report.fanned_out = fan_out(db, cfg, clock())
    # One delivery per claim: a lease covers a single HTTP call, never a queue behind it.
    for _ in range(cfg.batch):
        taken = claim(db, cfg, clock(), limit=1)
        if not taken:
            break
        delivery_id, attempt = taken[0]
        outcome = deliver_one(db, cfg, delivery_id, attempt, send, clock)
        if outcome == "delivered":
            report.delivered += 1
        elif outcome == "retry":
            report.failed += 1
        elif outcome == "dead":
            report.dead += 1
    return report


def outstanding(db: Session, cfg: WorkerConfig) -> int:
    """Count what is still to do: pending deliveries and (with webhooks set) unsent events."""
    n = db.scalar(
        select(func.count())
        .select_from(NotificationDelivery)
        .where(NotificationDelivery.status == "pending")
    )
    m: int | None = 0
    if cfg.urls:
        m = db.scalar(
            select(func.count())
            .select_from(NotificationEvent)
            .where(NotificationEvent.fanned_out_at.is_(None))
        )
    db.rollback()
    return int(n or 0) + int(m or 0)


def run_worker(
    new_session: Callable[[], Session],
    cfg: WorkerConfig,
    *,
    once: bool = False,
    drain: bool = False,
    max_seconds: float | None = None,
    poll_seconds: float = 2.0,
    sweep_seconds: float = 3600.0,
    sweep: Callable[[], Any] | None = None,
    send: Sender = http_send,
    jobs: Callable[[], int] | None = None,
) -> RunReport:
    """Loop: deliver, run queued jobs (draws), sweep when due, sleep when idle; stop as asked.

    ``jobs`` runs what is queued (e.g. large 双随机 draws) and returns how many it finished.
    """
    stop = {"flag": False}

    def _stop(signum: int, _frame: Any) -> None:
        stop["flag"] = True

    try:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    except ValueError:  # not the main thread (tests): no signal handling
        pass
    total = RunReport()
    started = time.monotonic()
    last_sweep: float | None = None
    while not stop["flag"]:
        sweep_due = last_sweep is None or time.monotonic() - last_sweep >= sweep_seconds
        if sweep is not None and sweep_seconds > 0 and sweep_due:
            try:
                sweep()
            except Exception:  # noqa: BLE001 - a failed sweep must not stop delivery
                log.exception("hazard sweep failed")
            last_sweep = time.monotonic()
        ran_jobs = 0
        if jobs is not None:
            try:
                ran_jobs = jobs()
            except Exception as exc:  # noqa: BLE001 - the job was put back; retry next round
                log.exception("queued job failed")
                total.errors.append(str(exc)[:200])
        with new_session() as db:
            try:
                report = run_once(db, cfg, send)
            except Exception as exc:  # noqa: BLE001 - a database hiccup: retry after a pause
                db.rollback()
                log.exception("delivery round failed")
                total.errors.append(str(exc)[:200])
                report = RunReport()
            total.fanned_out += report.fanned_out
            total.delivered += report.delivered
            total.failed += report.failed
            total.dead += report.dead
            if once:
                break
            if drain and outstanding(db, cfg) == 0:
                break
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
        if report.worked == 0 and ran_jobs == 0:
            time.sleep(poll_seconds)
    return total
