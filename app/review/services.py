"""Review: the supervisors' queue with photo evidence flags, and decisions on findings.

Evidence flags (docs/api.md, "Review"), computed for each finding in the queue:

- ``photo_time_mismatch`` — a photo's EXIF time lies outside the visit: earlier than the check-in
  or later than the submission, by more than FIELDSAFE_REVIEW_PHOTO_TIME_TOLERANCE_MINUTES;
- ``photo_far_from_site`` — a photo's EXIF GPS is farther than FIELDSAFE_REVIEW_PHOTO_MAX_DISTANCE_M
  from the enterprise's registered location;
- ``photo_reused`` — the same SHA-256, or a near-duplicate perceptual hash (media.phash), is
  evidence in a finding of *another* inspection;
- ``photo_no_exif`` — a stored photo carries neither an EXIF time nor a GPS position;
- ``check_in_far_from_site`` — the inspection's check-in was flagged as far from the site;
- ``check_in_outside_window`` — the device's check-in time lies outside the planned window;
- ``recorded_before_check_in`` — a finding's time is earlier than the check-in;
- ``recorded_outside_window`` — a finding's time lies outside the planned window;
- ``recorded_far_from_photo_time`` — a finding's time is far from the EXIF time of a photo it
  cites.

The time flags allow FIELDSAFE_REVIEW_PHOTO_TIME_TOLERANCE_MINUTES either way. Times in the
server's future are refused when pushed (``time.in_future``), so they never reach the queue.
Each flag comes with its reason in words (``flag_reasons``: code → what was seen).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, exists, func, select, true

from app.audit.services import record
from app.changelog import record_change, record_changes
from app.checklists.models import ChecklistVersion
from app.checklists.services import checklist_item, get_checklist
from app.db import cites_any_photo, on_postgresql, session
from app.errors import DomainError, not_found
from app.hazards.models import Hazard
from app.hazards.services import hazard_for_finding
from app.i18n import _
from app.inspections.lifecycle import SYSTEM, move
from app.inspections.models import Finding, Inspection
from app.media.near import near_duplicates
from app.media.services import media_by_sha, media_view
from app.org.models import User
from app.org.services import can_see_jurisdiction, jurisdiction_filter
from app.registry.models import Enterprise
from app.review.models import DECISION_STATUS, FindingReview
from app.settings import get_settings
from media.evidence import exif_distance_m, exif_taken_at

FLAGS = (
    "photo_time_mismatch",
    "photo_far_from_site",
    "photo_reused",
    "photo_no_exif",
    "check_in_far_from_site",
    "check_in_outside_window",
    "recorded_before_check_in",
    "recorded_outside_window",
    "recorded_far_from_photo_time",
)


def _minutes(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes >= 60:
        return _("%(hours)s h %(minutes)s min", hours=minutes // 60, minutes=minutes % 60)
    return _("%(minutes)s min", minutes=minutes)


def _outside(at: datetime, start: datetime | None, end: datetime | None) -> str | None:
    """How far `at` lies outside [start, end] beyond the tolerance, in words; None if inside."""
    tolerance = timedelta(minutes=get_settings().review_photo_time_tolerance_minutes)
    if start is not None and at < start - tolerance:
        return _("%(span)s before the window opens", span=_minutes(start - at))
    if end is not None and at > end + tolerance:
        return _("%(span)s after the window closes", span=_minutes(at - end))
    return None


def inspection_time_reasons(insp: Inspection) -> dict[str, str]:
    """The inspection's implausible times: a check-in outside the planned window."""
    if insp.check_in_at is None:
        return {}
    why = _outside(insp.check_in_at, insp.window_start, insp.window_end)
    return {"check_in_outside_window": _("Checked in %(when)s.", when=why)} if why else {}


def finding_time_reasons(finding: Finding, insp: Inspection) -> dict[str, str]:
    """A finding's implausible times: before the check-in, or outside the planned window."""
    reasons: dict[str, str] = {}
    at = finding.recorded_at
    tolerance = timedelta(minutes=get_settings().review_photo_time_tolerance_minutes)
    if insp.check_in_at is not None and at < insp.check_in_at - tolerance:
        reasons["recorded_before_check_in"] = _(
            "Recorded %(span)s before the check-in.", span=_minutes(insp.check_in_at - at)
        )
    why = _outside(at, insp.window_start, insp.window_end)
    if why:
        reasons["recorded_outside_window"] = _("Recorded %(when)s.", when=why)
    return reasons


# --------------------------------------------------------------------------- the queue


def queue_query(user: User) -> Select[Any]:
    """Select the submitted inspections in the supervisor's scope with pending findings."""
    pending = exists().where(
        Finding.inspection_id == Inspection.id,
        Finding.deleted.is_(False),
        Finding.review_status == "pending",
    )
    return (
        select(Inspection)
        .where(
            Inspection.status == "submitted",
            jurisdiction_filter(user, Inspection.jurisdiction_code),
            pending,
        )
        .order_by(Inspection.submitted_at, Inspection.id)
    )


def queue_items(
    inspections: list[Inspection], *, base_url: str | None, pending_only: bool = True
) -> list[dict[str, Any]]:
    """Build the queue entries (findings, photos with URLs and EXIF, flags) for inspections.

    The photos' local URLs are made absolute against `base_url` (``app.media.services.media_view``).
    ``pending_only=False`` describes every live finding (the console's finding page shows the
    inspection's decided findings too), in the same number of statements.
    """
    if not inspections:
        return []
    ids = [i.id for i in inspections]
    waiting = Finding.review_status == "pending" if pending_only else true()
    findings = list(
        session.execute(
            select(Finding)
            .where(
                Finding.inspection_id.in_(ids),
                Finding.deleted.is_(False),
                waiting,
            )
            .order_by(Finding.inspection_id, Finding.result.desc(), Finding.recorded_at)
        ).scalars()
    )
    shas = {p for f in findings for p in (f.photos or [])}
    media = _media(shas)
    reused = reused_photos(findings, media)
    enterprises = {
        e.id: e
        for e in session.execute(
            select(Enterprise).where(Enterprise.id.in_({i.enterprise_id for i in inspections}))
        ).scalars()
    }
    by_inspection: dict[uuid.UUID, list[Finding]] = defaultdict(list)
    for f in findings:
        by_inspection[f.inspection_id].append(f)
    names = _names({uid for i in inspections for uid in i.inspector_ids})
    checklists = _checklists(inspections, findings)
    items = []
    for insp in inspections:
        ent = enterprises.get(insp.enterprise_id)
        site = (ent.lat, ent.lon) if ent and ent.lat is not None and ent.lon is not None else None
        insp_flags = inspection_flags(insp)
        items.append(
            {
                "inspection": {
                    "id": insp.id,
                    "type": insp.type,
                    "status": insp.status,
                    "enterprise": {
                        "id": insp.enterprise_id,
                        "name": ent.name if ent else None,
                        "address": ent.address if ent else None,
                        "location": {"lat": site[0], "lon": site[1]} if site else None,
                    },
                    "jurisdiction": insp.jurisdiction_code,
                    "industry": insp.industry,
                    "inspector_ids": insp.inspector_ids,
                    "inspectors": [
                        {"id": uid, "name": names.get(uid)} for uid in insp.inspector_ids
                    ],
                    "check_in": _check_in(insp),
                    "submitted_at": insp.submitted_at,
                },
                "flags": insp_flags,
                "findings": [
                    {
                        **_finding_entry(
                            f, insp, site, media, reused.get(f.id, set()), insp_flags, base_url
                        ),
                        "item": _item(checklists, insp, f),
                    }
                    for f in by_inspection.get(insp.id, [])
                ],
            }
        )
    return items


def _names(user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Return the display names of users, in one query."""
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {uid: name for uid, name in rows}


ChecklistKey = tuple[str, int | None]


def _version(insp: Inspection, finding: Finding) -> int | None:
    return finding.checklist_version or insp.checklist_version


def _checklists(
    inspections: list[Inspection], findings: list[Finding]
) -> dict[ChecklistKey, ChecklistVersion | None]:
    """Load each checklist version the findings answered once (None: latest of the industry)."""
    by_id = {i.id: i for i in inspections}
    keys = {
        (by_id[f.inspection_id].industry, _version(by_id[f.inspection_id], f)) for f in findings
    }
    out: dict[ChecklistKey, ChecklistVersion | None] = {}
    for industry, version in keys:
        try:
            out[(industry, version)] = get_checklist(industry, version)
        except DomainError:
            out[(industry, version)] = None
    return out


def _item(
    checklists: dict[ChecklistKey, ChecklistVersion | None], insp: Inspection, finding: Finding
) -> dict[str, Any] | None:
    """The checklist item a finding answers: its text, category, grade and basis (edition)."""
    cv = checklists.get((insp.industry, _version(insp, finding)))
    return checklist_item(cv, finding.item_code) if cv is not None else None


def _check_in(insp: Inspection) -> dict[str, Any] | None:
    if insp.check_in_at is None and insp.check_in_received_at is None:
        return None
    location = None
    if insp.check_in_lat is not None and insp.check_in_lon is not None:
        location = {
            "lat": insp.check_in_lat,
            "lon": insp.check_in_lon,
            "accuracy": insp.check_in_accuracy,
        }
    return {
        "at": insp.check_in_at,
        "received_at": insp.check_in_received_at,
        "location": location,
        "distance_m": insp.check_in_distance_m,
        "far": bool(insp.check_in_far),
    }


def inspection_flags(insp: Inspection) -> list[str]:
    """Return the inspection-level flags (a check-in far from the site)."""
    limit = float(current_app.config.get("CHECKIN_MAX_DISTANCE_M", 500))
    far = bool(insp.check_in_far) or (
        insp.check_in_distance_m is not None and insp.check_in_distance_m > limit
    )
    flags = ["check_in_far_from_site"] if far else []
    return flags + list(inspection_time_reasons(insp))


def _finding_entry(
    f: Finding,
    insp: Inspection,
    site: tuple[float, float] | None,
    media: dict[str, Any],
    reused: set[str],
    insp_flags: list[str],
    base_url: str | None,
) -> dict[str, Any]:
    photos = []
    flags: set[str] = set(insp_flags)
    reasons = inspection_time_reasons(insp) | finding_time_reasons(f, insp)
    flags.update(reasons)
    tolerance = timedelta(minutes=get_settings().review_photo_time_tolerance_minutes)
    for sha in f.photos or []:
        entry = photo_evidence(sha, media.get(sha), insp, f, site, sha in reused, base_url)
        flags.update(entry["flags"])
        photos.append(entry)
        # a photo outside the visit is photo_time_mismatch already; this one is within it
        taken: datetime | None = entry["taken_at"]
        if taken is None or "photo_time_mismatch" in entry["flags"]:
            continue
        gap = abs(taken - f.recorded_at)
        if gap > tolerance and "recorded_far_from_photo_time" not in reasons:
            words = (
                _(
                    "Recorded %(span)s after photo %(photo)s was taken.",
                    span=_minutes(gap),
                    photo=sha[:8],
                )
                if f.recorded_at > taken
                else _(
                    "Recorded %(span)s before photo %(photo)s was taken.",
                    span=_minutes(gap),
                    photo=sha[:8],
                )
            )
            reasons["recorded_far_from_photo_time"] = words
            flags.add("recorded_far_from_photo_time")
    return {
        "id": f.id,
        "inspection_id": f.inspection_id,
        "item_code": f.item_code,
        "checklist_version": f.checklist_version,
        "result": f.result,
        "note": f.note,
        "grade": f.grade,
        "location": f.location,
        "value": f.value,
        "measures": f.measures or [],
        "recorded_at": f.recorded_at,
        "review_status": f.review_status,
        "media_pending": f.media_pending,
        "version": f.version,
        "photos": photos,
        "flags": [flag for flag in FLAGS if flag in flags],
        "flag_reasons": reasons,
    }


def photo_evidence(
    sha: str,
    media: Any,
    insp: Inspection,
    finding: Finding,
    site: tuple[float, float] | None,
    reused: bool,
    base_url: str | None,
) -> dict[str, Any]:
    """Return one photo's evidence: URLs, EXIF time and place, distance to site, flags."""
    flags: list[str] = []
    entry: dict[str, Any] = {
        "sha256": sha,
        "stored": media is not None,
        "thumbnails": None,
        "taken_at": None,
        "gps": None,
        "distance_m": None,
        "flags": flags,
    }
    if reused:
        flags.append("photo_reused")
    if media is None:
        return entry  # not uploaded yet (media_pending): nothing to judge
    entry["thumbnails"] = _thumbnails(media, base_url)
    exif = media.exif or {}
    taken_at = exif_taken_at(exif)
    gps = exif.get("gps") or None
    if gps and (gps.get("lat") is None or gps.get("lon") is None):
        gps = None
    entry["taken_at"], entry["gps"] = taken_at, gps
    if taken_at is None and gps is None:
        flags.append("photo_no_exif")
    tolerance = timedelta(minutes=get_settings().review_photo_time_tolerance_minutes)
    start = insp.check_in_at or insp.check_in_received_at or finding.recorded_at
    end = insp.submitted_at or max(start, finding.recorded_at)
    if taken_at is not None and (taken_at < start - tolerance or taken_at > end + tolerance):
        flags.append("photo_time_mismatch")
    dist = exif_distance_m(exif, site[0], site[1]) if site is not None else None
    if dist is not None:
        entry["distance_m"] = round(dist, 1)
        if dist > get_settings().review_photo_max_distance_m:
            flags.append("photo_far_from_site")
    return entry


def _media(shas: Iterable[str]) -> dict[str, Any]:

    return dict(media_by_sha(list(shas)))


def _thumbnails(media: Any, base_url: str | None) -> dict[str, str]:

    view = media_view(media, base_url=base_url)
    return {"original": view["original_url"], **view["thumbnails"]}


def _refs(shas: set[str]) -> dict[str, set[uuid.UUID]]:
    """Map each SHA-256 to the inspections whose (live) findings cite it."""
    if not shas:
        return {}

    if on_postgresql():
        elems = func.json_array_elements_text(Finding.photos).table_valued("value").alias("p")
    else:
        elems = func.json_each(Finding.photos).table_valued("value").alias("p")
    stmt = (
        select(elems.c.value, Finding.inspection_id)
        .select_from(Finding)
        .join(elems, true())
        .where(
            Finding.deleted.is_(False),
            cites_any_photo(Finding.photos, shas),  # the findings citing any, by index
            elems.c.value.in_(sorted(shas)),
        )
        .distinct()
    )
    out: dict[str, set[uuid.UUID]] = defaultdict(set)
    for sha, inspection_id in session.execute(stmt):
        out[sha].add(inspection_id)
    return out


def reused_photos(findings: list[Finding], media: dict[str, Any]) -> dict[uuid.UUID, set[str]]:
    """Return, per finding, its photos also used (same or near-same) in another inspection."""
    near = near_duplicates(media)  # the index written when each photo was stored
    all_shas = {p for f in findings for p in (f.photos or [])}
    refs = _refs(all_shas | {o for others in near.values() for o in others})
    out: dict[uuid.UUID, set[str]] = {}
    for f in findings:
        hits = set()
        for sha in f.photos or []:
            elsewhere = {i for i in refs.get(sha, set()) if i != f.inspection_id}
            for other in near.get(sha, set()):
                elsewhere |= {i for i in refs.get(other, set()) if i != f.inspection_id}
            if elsewhere:
                hits.add(sha)
        out[f.id] = hits
    return out


# --------------------------------------------------------------------------- decisions


def review_finding(
    user: User, finding_id: uuid.UUID, data: dict[str, Any], *, now: datetime
) -> Finding:
    """Confirm, reject or send back a finding; confirming a failure issues its one ticket.

    The inspection row is locked first (then the finding), so concurrent decisions on one
    inspection are serialised: exactly one ticket per finding, and the inspection turns
    ``reviewed`` exactly when its last finding is decided. A retry of the same decision
    answers the same outcome; a different decision on a decided finding is a 409.
    """
    decision = data["decision"]
    target = DECISION_STATUS[decision]
    finding = session.get(Finding, finding_id)
    if finding is None or finding.deleted:
        raise not_found("finding")
    insp = session.execute(
        select(Inspection)
        .where(Inspection.id == finding.inspection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if not can_see_jurisdiction(user, insp.jurisdiction_code):
        raise not_found("finding")
    finding = session.execute(
        select(Finding)
        .where(Finding.id == finding_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if insp.status not in ("submitted", "reviewed"):
        raise DomainError(
            "finding.not_submitted",
            409,
            _("This inspection has not been submitted yet; review it once the inspector submits."),
        )
    grade = data.get("grade")
    if grade is not None and decision != "confirm":
        raise DomainError(
            "validation_error",
            422,
            _("A grade can only be set when confirming."),
            {"grade": [_("Only with decision 'confirm'.")]},
        )
    override = grade is not None and grade != finding.grade
    if override and not (data.get("grade_reason") or "").strip():
        raise DomainError(
            "review.grade_reason_required",
            422,
            _("Say why you change the grade (e.g. which clause of the 判定标准 applies)."),
            {"grade_reason": [_("Required when the grade changes.")]},
        )
    if finding.review_status == target and not override:
        # A retry (or a second supervisor with the same decision): same outcome, nothing new.
        if target == "confirmed" and finding.result == "fail":
            hazard_for_finding(finding, insp, user, finding.grade, now=now)
        return _with_review(finding)
    if finding.review_status not in ("pending", "needs_info"):
        raise DomainError(
            "finding.already_reviewed",
            409,
            _(
                "This finding was already %(status)s; reload the queue.",
                status=finding.review_status,
            ),
        )
    review = FindingReview(
        finding_id=finding.id,
        inspection_id=insp.id,
        decision=decision,
        comment=data.get("comment") or "",
        grade_from=finding.grade if override else None,
        grade_to=grade if override else None,
        grade_reason=data.get("grade_reason") if override else None,
        reviewer_id=user.id,
        at=now,
    )
    session.add(review)
    before = finding.review_status
    finding.review_status = target
    finding.review_comment = review.comment
    if override and grade is not None:
        finding.grade = grade
    finding.version += 1
    review.finding_version = finding.version
    session.flush()
    record(
        "finding.review",
        "finding",
        finding.id,
        {
            "inspection_id": str(insp.id),
            "decision": decision,
            "from": before,
            "comment": review.comment,
            "grade_from": review.grade_from,
            "grade_to": review.grade_to,
            "grade_reason": review.grade_reason,
        },
        actor=user,
    )
    record_change("finding", finding)
    if decision == "confirm" and finding.result == "fail":
        hazard_for_finding(finding, insp, user, finding.grade, now=now)
    _maybe_reviewed(insp, user, now)
    return _with_review(finding)


def confirm_passes(
    user: User, inspection_id: uuid.UUID, comment: str = "", *, now: datetime
) -> dict[str, Any]:
    """Confirm in one decision the pending passes and n/a answers of a submitted inspection.

    A supervisor reads the failures one by one; the items found compliant need no ticket and
    are confirmed together. Any of them carrying an evidence flag is left for a decision of its
    own (``skipped``, with its flags). The inspection turns ``reviewed`` if nothing else waits.
    """
    insp = session.execute(
        select(Inspection)
        .where(Inspection.id == inspection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if insp is None or not can_see_jurisdiction(user, insp.jurisdiction_code):
        raise not_found("inspection")
    if insp.status != "submitted":
        raise DomainError(
            "finding.not_submitted",
            409,
            _(
                "This inspection is %(status)s; only a submitted inspection waits for review.",
                status=insp.status,
            ),
        )
    # only the flags are read: no URL leaves this function
    (entry,) = queue_items([insp], base_url=None) or [{"findings": []}]
    flagged = {f["id"]: f["flags"] for f in entry["findings"] if f["flags"]}
    waiting = session.execute(
        select(Finding)
        .where(
            Finding.inspection_id == insp.id,
            Finding.deleted.is_(False),
            Finding.review_status == "pending",
            Finding.result.in_(("pass", "na")),
        )
        .order_by(Finding.item_code, Finding.id)
        .with_for_update()
    ).scalars()
    confirmed: list[Finding] = []
    skipped: list[dict[str, Any]] = []
    for finding in waiting:
        if finding.id in flagged:
            skipped.append({"id": finding.id, "flags": flagged[finding.id]})
            continue
        review = FindingReview(
            finding_id=finding.id,
            inspection_id=insp.id,
            decision="confirm",
            comment=comment,
            reviewer_id=user.id,
            at=now,
        )
        session.add(review)
        finding.review_status = "confirmed"
        finding.review_comment = comment
        finding.version += 1
        review.finding_version = finding.version
        confirmed.append(finding)
    session.flush()
    if confirmed:
        record(
            "finding.review_passes",
            "inspection",
            insp.id,
            {"findings": [str(f.id) for f in confirmed], "comment": comment},
            actor=user,
        )
        record_changes("finding", confirmed)
    _maybe_reviewed(insp, user, now)
    return {"confirmed": [f.id for f in confirmed], "skipped": skipped, "status": insp.status}


def _maybe_reviewed(insp: Inspection, user: User, now: datetime) -> None:
    """Mark the inspection reviewed once none of its findings waits for a decision."""
    if insp.status != "submitted":
        return
    waiting = session.scalar(
        select(Finding.id)
        .where(
            Finding.inspection_id == insp.id,
            Finding.deleted.is_(False),
            Finding.review_status.in_(("pending", "needs_info")),
        )
        .limit(1)
    )
    if waiting is not None:
        return
    move(insp, "review_done", actor=user, now=now, who=SYSTEM)


def _with_review(finding: Finding) -> Finding:
    """Attach hazard_id and the latest review to the finding for the response."""
    finding.hazard_id = session.scalar(  # type: ignore[attr-defined]
        select(Hazard.id).where(Hazard.finding_id == finding.id)
    )
    finding.review = latest_review(finding.id)  # type: ignore[attr-defined]
    return finding


def latest_review(finding_id: uuid.UUID) -> FindingReview | None:
    """Return the latest decision on a finding (the sync feed may show its comment)."""
    return session.execute(
        select(FindingReview)
        .where(FindingReview.finding_id == finding_id)
        .order_by(FindingReview.at.desc(), FindingReview.id)
        .limit(1)
    ).scalar_one_or_none()


def reviews_of(user: User, finding_id: uuid.UUID) -> list[FindingReview]:
    """Return every decision on a finding, oldest first (staff who can see it)."""
    finding = session.get(Finding, finding_id)
    if finding is None or user.role == "enterprise":
        raise not_found("finding")
    insp = session.get(Inspection, finding.inspection_id)
    if insp is None or not can_see_jurisdiction(user, insp.jurisdiction_code):
        raise not_found("finding")
    return list(
        session.execute(
            select(FindingReview)
            .where(FindingReview.finding_id == finding_id)
            .order_by(FindingReview.at, FindingReview.id)
        ).scalars()
    )
