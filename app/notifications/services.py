"""Queue notification events (in the caller's transaction) and sign their webhook bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from app.clock import isoformat, utcnow
from app.db import session
from app.notifications.models import EVENT_TYPES, NotificationEvent

SIGNATURE_HEADER = "X-Fieldsafe-Signature"
TIMESTAMP_HEADER = "X-Fieldsafe-Timestamp"
EVENT_HEADER = "X-Fieldsafe-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def enqueue(
    event_type: str,
    entity_type: str,
    entity_id: Any,
    data: dict[str, Any],
    db: Session | None = None,
) -> NotificationEvent:
    """Add an event to the outbox; it is sent only if the surrounding transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown notification event {event_type!r}")
    db = db if db is not None else session
    event_id = uuid.uuid4()
    now = utcnow()
    payload = {
        "id": str(event_id),
        "type": event_type,
        "created_at": isoformat(now),
        entity_type: data,
    }
    event = NotificationEvent(
        id=event_id,
        type=event_type,
        entity_type=entity_type,
        entity_id=str(entity_id),
        payload=json.loads(json.dumps(payload, default=str, ensure_ascii=False)),
        created_at=now,
    )
    db.add(event)
    return event


def body_bytes(payload: dict[str, Any]) -> bytes:
    """Return the exact bytes sent for a payload (stable across retries)."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value: sha256=HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Check a received signature (what a webhook receiver does; used by the tests too)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(sign(secret, ts, body), header or "")
