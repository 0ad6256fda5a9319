"""Findings and their photos: a finding synced before its photos waits for them.

A finding whose photos have not all arrived is ``media_pending``; each stored photo releases the
findings for which it was the last one missing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, cast, select
from sqlalchemy.orm import joinedload

from app.changelog import change_row, record_rows
from app.db import session
from app.inspections.models import Finding, Inspection
from app.media.models import MediaObject


def waiting_for_photo(sha256: str) -> Select[Any]:
    """Select the live findings still waiting for photos, among them ``sha256``.

    Written as the partial index ``ix_findings_media_pending`` reads (``WHERE media_pending``),
    so an upload looks only at the findings still waiting, however many findings there are.
    """
    return select(Finding).where(
        Finding.media_pending,
        Finding.deleted.is_(False),
        cast(Finding.photos, String).contains(sha256),
    )


#: At most this many photos are asked for in one pull answer (the next pull asks for the rest).
AWAITED_LIMIT = 500


def photos_awaited_from(user_id: Any) -> list[str]:
    """Return the photos the server still waits for from ``user_id``'s own findings.

    The findings they recorded that are still ``media_pending``, read through the partial index
    on the few waiting findings; each hash once, at most ``AWAITED_LIMIT``, oldest finding
    first. A device that missed a push answer learns here what to upload.
    """
    rows = session.execute(
        select(Finding.photos)
        .where(
            Finding.media_pending,
            Finding.deleted.is_(False),
            Finding.recorded_by == user_id,
        )
        .order_by(Finding.received_at, Finding.id)
        .limit(AWAITED_LIMIT)
    ).scalars()
    cited = list(dict.fromkeys(p for photos in rows for p in photos))
    if not cited:
        return []
    present = set(
        session.execute(select(MediaObject.sha256).where(MediaObject.sha256.in_(cited))).scalars()
    )
    return [p for p in cited if p not in present][:AWAITED_LIMIT]


def release_waiting_findings(sha256: str) -> None:
    """Clear ``media_pending`` on findings whose last missing photo just arrived.

    A stored-photo hook of the media pipeline (wired in ``app.wiring``); runs in the upload's
    transaction. The findings change at the time the photo was stored (its ``created_at``, the
    upload's ``now``): the hook reads no clock.
    """
    # Each finding's change row is scoped by its inspection: read with it, without the
    # inspection's team (the change row needs its street and enterprise only).
    waiting = list(
        session.execute(
            waiting_for_photo(sha256).options(
                joinedload(Finding.inspection).lazyload(Inspection.assignments)
            )
        )
        .unique()
        .scalars()
    )
    if not waiting:
        return
    others = {p for f in waiting for p in f.photos} - {sha256}
    present = {sha256}
    if others:  # a finding with more photos than this one: are the rest already here?
        present.update(
            session.execute(
                select(MediaObject.sha256).where(MediaObject.sha256.in_(others))
            ).scalars()
        )
    photo = session.get(MediaObject, sha256)  # just stored: in the session, no query
    assert photo is not None, "a stored-photo hook runs after the photo is stored"
    now = photo.created_at
    rows = []
    for finding in waiting:
        if all(p in present for p in finding.photos):
            finding.media_pending = False
            finding.version += 1
            finding.updated_at = now
            rows.append(change_row("finding", finding))
    session.flush()
    record_rows(rows, now)
