"""A ticket's timeline: append-only entries, each mirrored in the audit chain and the sync feed.

:func:`append_event` is the one way a ticket changes on record: it bumps the version, writes
the hash-chained audit entry ``hazard.<action>``, then the timeline row (linked to the entry by
``audit_seq``, written once and never updated) and puts the ticket in the devices' sync feed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.audit.services import record
from app.changelog import record_change
from app.clock import isoformat, utcnow
from app.db import session
from app.hazards.models import Hazard, HazardEvent
from app.org.models import User


class SystemActor:
    """The actor of sweep steps and anonymous intake in the audit log (no user)."""

    id = None
    username = "system"


def jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """Return `data` with datetimes as RFC 3339 strings and UUIDs as strings (one level)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, datetime):
            out[k] = isoformat(v)
        elif isinstance(v, uuid.UUID):
            out[k] = str(v)
        else:
            out[k] = v
    return out


def _actor_fields(actor: User | None) -> dict[str, Any]:
    if actor is None:
        return {"actor_id": None, "actor_name": "system", "actor_role": None}
    return {"actor_id": actor.id, "actor_name": actor.username, "actor_role": actor.role}


def append_event(
    hazard: Hazard,
    actor: User | None,
    action: str,
    *,
    note: str = "",
    photos: Sequence[str] = (),
    from_status: str | None = None,
    data: dict[str, Any] | None = None,
    device_at: datetime | None = None,
    now: datetime | None = None,
) -> HazardEvent:
    """Append a timeline event, bump the version, audit-log it and put the ticket in the feed."""
    now = now or utcnow()
    last = session.scalar(
        select(HazardEvent.seq)
        .where(HazardEvent.hazard_id == hazard.id)
        .order_by(HazardEvent.seq.desc())
        .limit(1)
    )
    payload = jsonable(data or {})
    seq = (last or 0) + 1
    note = note or ""
    if from_status is not None or action != "issue":
        hazard.version += 1
    hazard.updated_at = now
    # The audit entry first, so the timeline row is written once, complete (it is never updated).
    entry = record(
        f"hazard.{action}",
        "hazard",
        hazard.id,
        {
            "number": hazard.number,
            "event_seq": seq,
            "from": from_status,
            "to": hazard.status,
            "note": note,
            "photos": list(photos),
            "device_at": isoformat(device_at),
            **payload,
        },
        actor=actor if actor is not None else SystemActor,
    )
    event = HazardEvent(
        hazard_id=hazard.id,
        seq=seq,
        action=action,
        at=now,
        device_at=device_at,
        note=note,
        photos=list(photos),
        from_status=from_status,
        to_status=hazard.status,
        data=payload,
        audit_seq=entry.seq,
        **_actor_fields(actor),
    )
    session.add(event)
    session.flush()
    # A timeline read before this entry is stale now; the next read loads it again.
    session.expire(hazard, ["events"])
    record_change("hazard", hazard)
    return event
