"""双随机 sampling plans: create, commit (freeze + seed commitment), draw, verify, publish.

The draw itself is ``app.planning.draw`` (a pure function); this module freezes its inputs from
the registries, keeps the record, turns teams into ``double_random`` inspections, and decides what
the public may see.

Confidentiality meets disclosure (一公开 versus 四不两直): revealing the seed together with the
frozen population lets anyone recompute the targets, so the public endpoint shows a draw's
commitment and digests at once, and its seed, record and per-target outcomes only once none of
the plan's inspections is still confidential (every one checked in or cancelled, or its window
over). Planners see everything of their own plans at once.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app, has_app_context
from sqlalchemy import Row, Select, case, func, select
from sqlalchemy.orm import Session, undefer

from app.audit.services import record
from app.clock import utcnow
from app.db import (
    JSONArrayText,
    china_date_text,
    for_update,
    iter_chunks,
    session,
    uuid_text,
)
from app.errors import DomainError, not_found
from app.i18n import _
from app.inspections.lifecycle import PLANNER, move
from app.inspections.models import Finding, Inspection
from app.inspections.services import (
    china_today,
    insert_inspections,
    inspection_values,
    latest_checklist_versions,
)
from app.inspections.visibility import STARTED_STATES
from app.org.models import Department, Jurisdiction, User
from app.org.services import can_see_jurisdiction, jurisdiction_filter
from app.planning import draw as drawlib
from app.planning.models import SamplingDraw, SamplingPlan
from app.registry.models import Enterprise
from app.registry.services import INDUSTRY_NAMES
from app.settings import get_settings
from sync.bulk import where_ids

SEED_BYTES = 32
#: Ids per statement when a draw reads its targets (below SQLite's 32,766 bound parameters;
#: on PostgreSQL the ids go as one array parameter, so any realistic draw takes one statement).
ID_BATCH = 30_000
#: Inspections a draw job creates per transaction (each commit also reports progress).
DRAW_JOB_CHUNK = 1_000
#: A running draw job whose worker has not reported for this long is taken by the next worker.
DRAW_JOB_STALE_SECONDS = 120
#: Runs of one draw job before it is marked failed (sampling_draw.attempts_exhausted).
DRAW_JOB_MAX_ATTEMPTS = 3
ACTIVE_JOB_STATES = ("queued", "running")


def _default_seed_source(n: int) -> bytes:
    return secrets.token_bytes(n)


def seed_source() -> Callable[[int], bytes]:
    """Return the RNG seam: app.config["SEED_SOURCE"] (tests) or secrets.token_bytes."""
    if has_app_context():
        source = current_app.config.get("SEED_SOURCE")
        if source is not None:
            return source  # type: ignore[no-any-return]
    return _default_seed_source


def _invalid(errors: dict[str, list[str]]) -> DomainError:
    return DomainError("validation_error", 422, _("Some fields are not valid; see errors."), errors)


# --------------------------------------------------------------------------- plans


def create_plan(user: User, data: dict[str, Any], *, now: datetime) -> SamplingPlan:
    """Create a draft sampling plan after checking its filters and parameters."""
    errors: dict[str, list[str]] = {}
    try:
        params = drawlib.DrawParams(
            rates=data["rates"],
            as_of=china_today(now),
            team_size=data.get("team_size", 2),
            cross_jurisdiction=data.get("cross_jurisdiction", False),
            exclude_inspected_within_days=data.get("exclude_inspected_within_days", 0),
        )
    except drawlib.DrawInputError as exc:
        field = str(exc).split(":", 1)[0].split(".")[0]
        errors[field if field in data or field == "rates" else "rates"] = [str(exc)]
        params = None
    unknown = [i for i in data.get("industries", []) if i not in INDUSTRY_NAMES]
    if unknown:
        errors["industries"] = [_("Unknown industry: %(codes)s.", codes=", ".join(unknown))]
    for code in data.get("jurisdictions", []):
        if session.get(Jurisdiction, code) is None:
            errors.setdefault("jurisdictions", []).append(
                _("Unknown jurisdiction: %(code)s.", code=code)
            )
        elif not can_see_jurisdiction(user, code):
            errors.setdefault("jurisdictions", []).append(
                _("Outside your scope: %(code)s.", code=code)
            )
    for code in data.get("departments", []):
        if session.get(Department, code) is None:
            errors.setdefault("departments", []).append(
                _("Unknown department: %(code)s.", code=code)
            )
    window = data.get("window") or {}
    if data.get("dispatch_at") and window.get("end") and data["dispatch_at"] > window["end"]:
        errors["dispatch_at"] = [_("Dispatch before the window ends.")]
    if errors or params is None:
        raise _invalid(errors)
    plan = SamplingPlan(
        name=data["name"],
        status="draft",
        created_by=user.id,
        jurisdiction_code=user.jurisdiction_code,
        industries=sorted(set(data.get("industries", []))),
        jurisdictions=sorted(set(data.get("jurisdictions", []))),
        departments=sorted(set(data.get("departments", []))),
        rates=dict(params.rates),
        team_size=params.team_size,
        cross_jurisdiction=params.cross_jurisdiction,
        exclude_inspected_within_days=params.exclude_inspected_within_days,
        window_start=window.get("start"),
        window_end=window.get("end"),
        dispatch_at=data.get("dispatch_at"),
    )
    session.add(plan)
    session.flush()
    record("sampling_plan.create", "sampling_plan", plan.id, {"name": plan.name}, actor=user)
    return plan


def list_plans(user: User) -> Select[Any]:
    """Query the caller's own plans, newest first (a plan's targets are its planner's secret)."""
    return (
        select(SamplingPlan)
        .where(SamplingPlan.created_by == user.id)
        .order_by(SamplingPlan.created_at.desc(), SamplingPlan.id)
    )


def get_plan(user: User, plan_id: uuid.UUID, lock: bool = False) -> SamplingPlan:
    """Return one of the caller's plans, or 404; with `lock`, locked for a write."""
    if lock:
        stmt = for_update(select(SamplingPlan).where(SamplingPlan.id == plan_id))
        plan = session.execute(stmt).scalar()
    else:
        plan = session.get(SamplingPlan, plan_id)
    if plan is None or plan.created_by != user.id:
        raise not_found("sampling_plan")
    return plan


# --------------------------------------------------------------------------- commit


def _freeze_population(plan: SamplingPlan, user: User) -> list[dict[str, Any]]:
    last_check_in = (
        select(Inspection.enterprise_id, func.max(Inspection.check_in_received_at).label("last"))
        .group_by(Inspection.enterprise_id)
        .subquery()
    )
    # The later of the registry's date and the last check-in, as China's date, and the id as
    # text: formatted by the database, so the 100,000 rows of a registry reach Python as the
    # canonical records' strings.
    registry, checked = Enterprise.last_inspected_at, last_check_in.c.last
    last = case((checked.is_(None), registry), (registry > checked, registry), else_=checked)
    stmt = (
        select(
            uuid_text(Enterprise.id),
            Enterprise.risk_level,
            Enterprise.jurisdiction_code,
            china_date_text(last),
        )
        .outerjoin(last_check_in, last_check_in.c.enterprise_id == Enterprise.id)
        .where(jurisdiction_filter(user, Enterprise.jurisdiction_code))
        .order_by(Enterprise.id)
    )
    if plan.industries:
        stmt = stmt.where(Enterprise.industry.in_(plan.industries))
    if plan.jurisdictions:
        stmt = stmt.where(Enterprise.jurisdiction_code.in_(plan.jurisdictions))
    return drawlib.population_records(session.connection().execute(stmt))  # type: ignore[arg-type]


def _freeze_pool(plan: SamplingPlan) -> list[dict[str, Any]]:
    stmt = select(
        User.id,
        User.jurisdiction_code,
        User.department_code,
        User.certificate_expires,
        User.conflicts,
    ).where(User.role == "inspector", User.active.is_(True))
    if plan.departments:
        stmt = stmt.where(User.department_code.in_(plan.departments))
    inspectors = [
        drawlib.Inspector(
            id=str(u.id),
            jurisdiction=u.jurisdiction_code,
            department=u.department_code,
            certificate_expires=u.certificate_expires,
            conflicts=frozenset(str(c) for c in (u.conflicts or [])),
        )
        for u in session.connection().execute(stmt)
    ]
    return drawlib.freeze_pool(inspectors)


def _params(plan: SamplingPlan, as_of: Any) -> drawlib.DrawParams:
    return drawlib.DrawParams(
        rates=plan.rates,
        as_of=as_of,
        team_size=plan.team_size,
        cross_jurisdiction=plan.cross_jurisdiction,
        exclude_inspected_within_days=plan.exclude_inspected_within_days,
    )


def commit_plan(
    user: User, plan: SamplingPlan, reason: str | None = None, *, now: datetime
) -> SamplingPlan:
    """Freeze population and pool, pick the secret seed and publish its commitment.

    A drawn plan may be committed again for a redraw, which needs a reason; the earlier draw
    stays on the record (it is superseded when the new one is drawn).
    """
    current = plan.current_draw
    if current is not None and current.status == "committed":
        raise DomainError(
            "sampling_plan.already_committed",
            409,
            _("This plan is committed and waits for its draw; draw it."),
        )
    if current is not None and not (reason and reason.strip()):
        raise DomainError(
            "sampling_plan.reason_required",
            422,
            _("This plan was drawn; a redraw needs a reason, which stays on the record."),
            {"reason": [_("Required for a redraw.")]},
        )
    as_of = china_today(now)
    # Each list serialised once: its canonical JSON is both its digest's input and what the
    # column stores (12 MB for 100,000 enterprises).
    population, pool = _freeze_population(plan, user), _freeze_pool(plan)
    population_json, pool_json = drawlib.canonical_json(population), drawlib.canonical_json(pool)
    seed = seed_source()(SEED_BYTES)
    if not isinstance(seed, bytes) or len(seed) < drawlib.MIN_SEED_BYTES:
        raise RuntimeError("the seed source returned too few bytes")
    params = _params(plan, as_of)
    draw_row = SamplingDraw(
        plan_id=plan.id,
        number=(current.number + 1) if current else 1,
        status="committed",
        reason=reason.strip() if current is not None and reason else None,
        algorithm_version=drawlib.ALGORITHM_VERSION,
        as_of=as_of,
        params=params.to_dict(),
        population=JSONArrayText(population, population_json.decode()),
        pool=JSONArrayText(pool, pool_json.decode()),
        population_digest=drawlib.sha256_hex(population_json),
        pool_digest=drawlib.sha256_hex(pool_json),
        population_count=len(population),
        pool_count=len(pool),
        seed=seed.hex(),
        seed_commitment=drawlib.seed_commitment(seed),
        committed_at=now,
        committed_by=user.id,
    )
    session.add(draw_row)
    plan.draws.append(draw_row)
    plan.status = "committed"
    plan.version += 1
    session.flush()
    record(
        "sampling_plan.commit",
        "sampling_plan",
        plan.id,
        {
            "draw": draw_row.number,
            "reason": draw_row.reason,
            "seed_commitment": draw_row.seed_commitment,
            "population_digest": draw_row.population_digest,
            "pool_digest": draw_row.pool_digest,
            "population_count": draw_row.population_count,
            "pool_count": draw_row.pool_count,
            "as_of": as_of,
        },
        actor=user,
    )
    return plan


# --------------------------------------------------------------------------- draw


def _summary(result: drawlib.DrawResult) -> dict[str, Any]:
    return {
        "eligible": dict(result.eligible),
        "targets": {lvl: len(ids) for lvl, ids in result.selected.items()},
        "teams": len(result.teams),
        "exclusions": dict(sorted(Counter(x.reason for x in result.exclusions).items())),
    }


def _supersede(
    user: User, plan: SamplingPlan, previous: SamplingDraw, reason: str, now: datetime
) -> None:
    previous.status = "superseded"
    previous.superseded_at = now
    stale = session.execute(
        select(Inspection).where(
            Inspection.sampling_plan_id == plan.id,
            Inspection.status.in_(("planned", "dispatched")),
            Inspection.check_in_received_at.is_(None),
        )
    ).scalars()
    for insp in stale:
        insp.cancel_reason = f"redraw {previous.number + 1}: {reason}"[:500]
        move(
            insp,
            "cancel",
            actor=user,
            now=now,
            data={"reason": insp.cancel_reason, "draw": previous.number + 1},
            who=PLANNER,
        )


def _check_drawable(plan: SamplingPlan) -> SamplingDraw:
    current = plan.current_draw
    if current is None:
        raise DomainError(
            "sampling_plan.not_committed",
            409,
            _("Commit the plan first (that publishes the seed commitment); then draw."),
        )
    if current.status != "committed":
        raise DomainError(
            "sampling_plan.already_drawn",
            409,
            _("This plan was drawn. To redraw, commit it again with a reason, then draw."),
        )
    return current


def _compute(current: SamplingDraw) -> drawlib.DrawResult:
    return drawlib.draw(
        bytes.fromhex(current.seed),
        current.population,
        current.pool,
        drawlib.DrawParams.from_dict(current.params),
        current.algorithm_version,
    )


def _supersede_previous(user: User, plan: SamplingPlan, now: datetime) -> None:
    current = plan.draws[-1]
    previous = next((d for d in reversed(plan.draws[:-1]) if d.status == "drawn"), None)
    if previous is not None:
        _supersede(user, plan, previous, current.reason or "", now)


def _finish_draw(
    user: User,
    plan: SamplingPlan,
    current: SamplingDraw,
    result: drawlib.DrawResult,
    now: datetime,
) -> None:
    """Mark the draw drawn (seed revealed, result kept), the plan drawn; audit it."""
    current.status = "drawn"
    current.drawn_at = now
    current.drawn_by = user.id
    current.result = result.to_dict()
    current.result_digest = result.result_digest
    current.summary = _summary(result)
    plan.status = "drawn"
    plan.version += 1
    session.flush()
    record(
        "sampling_plan.draw",
        "sampling_plan",
        plan.id,
        {
            "draw": current.number,
            "seed": current.seed,
            "seed_commitment": current.seed_commitment,
            "result_digest": result.result_digest,
            "summary": current.summary,
        },
        actor=user,
    )


def draw_plan(user: User, plan: SamplingPlan, *, now: datetime) -> SamplingPlan:
    """Draw targets and teams from the committed seed, create the inspections, reveal the seed."""
    current = _check_drawable(plan)
    result = _compute(current)
    _supersede_previous(user, plan, now)
    _create_inspections(plan, result.teams, now)
    _finish_draw(user, plan, current, result, now)
    return plan


def draw_job_active(plan: SamplingPlan) -> bool:
    """Tell whether the plan's current draw is queued or running in the worker."""
    current = plan.current_draw
    return current is not None and current.job_state in ACTIVE_JOB_STATES


def request_draw(user: User, plan: SamplingPlan, *, now: datetime) -> SamplingPlan:
    """Draw at once, or hand a large draw (population above the setting) to the worker.

    A repeat while the job is queued or running changes nothing (the caller answers 202 again);
    after it is done, a repeat is refused as any drawn plan's is.
    """
    if draw_job_active(plan):
        return plan
    current = _check_drawable(plan)
    if current.population_count <= get_settings().draw_inline_max_population:
        return draw_plan(user, plan, now=now)
    current.job_state = "queued"
    # A failed job asked for again keeps its first request's time: the inspections it had
    # committed carry it, and the resumed job recognises them by it (no duplicates).
    current.job_requested_at = current.job_requested_at or now
    current.job_requested_by = user.id
    current.job_done = 0
    current.job_total = None
    current.job_error = None
    current.job_attempts = 0
    plan.version += 1
    session.flush()
    record(
        "sampling_plan.draw_queued",
        "sampling_plan",
        plan.id,
        {"draw": current.number, "population_count": current.population_count},
        actor=user,
    )
    return plan


def draw_progress(plan: SamplingPlan) -> dict[str, Any] | None:
    """Return the current draw's state for its planner: queued|running|done|failed and counts."""
    current = plan.current_draw
    if current is None:
        return None
    if current.job_state is not None:
        out: dict[str, Any] = {
            "state": current.job_state,
            "done": current.job_done,
            "total": current.job_total,
        }
        if current.job_error:
            out["error"] = current.job_error
        return out
    if current.status == "committed":
        return None
    teams = (current.summary or {}).get("teams", 0)
    return {"state": "done", "done": teams, "total": teams}


# --------------------------------------------------------------------------- draw jobs


def claim_draw_job(now: datetime) -> SamplingDraw | None:
    """Take the oldest queued draw job (or a running one whose worker went silent); commit.

    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers never take the same job (SQLite
    serialises its writers, and runs one worker). A job taken DRAW_JOB_MAX_ATTEMPTS times
    already is marked failed instead.
    """
    stale = now - timedelta(seconds=DRAW_JOB_STALE_SECONDS)
    while True:
        job = session.scalars(
            select(SamplingDraw)
            .where(
                (SamplingDraw.job_state == "queued")
                | ((SamplingDraw.job_state == "running") & (SamplingDraw.job_heartbeat_at < stale))
            )
            .order_by(SamplingDraw.job_requested_at, SamplingDraw.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).first()
        if job is None:
            session.rollback()
            return None
        if job.job_attempts < DRAW_JOB_MAX_ATTEMPTS:
            job.job_state = "running"
            job.job_attempts += 1
            job.job_heartbeat_at = now
            session.commit()
            return job
        job.job_state = "failed"
        job.job_error = "sampling_draw.attempts_exhausted"
        session.commit()


def run_draw_job(
    job: SamplingDraw,
    *,
    chunk: int = DRAW_JOB_CHUNK,
    clock: Callable[[], datetime],
    after_chunk: Callable[[int], None] | None = None,
) -> None:
    """Run a claimed draw job as draw_plan would, committing its inspections chunk by chunk.

    The draw is computed again from the committed inputs (a pure function), so a job resumed
    after a crash creates only the inspections the interrupted run had not committed; the draw
    is marked drawn, and audited, in the last transaction, exactly as an inline draw.
    """
    plan = session.scalars(
        for_update(select(SamplingPlan).where(SamplingPlan.id == job.plan_id))
    ).one()
    current = plan.current_draw
    if current is None or current.id != job.id:
        raise DomainError("sampling_draw.superseded", 409, _("This draw was replaced."))
    _check_drawable(plan)
    user = session.get(User, job.job_requested_by)
    now = job.job_requested_at
    if user is None or now is None:
        raise DomainError("sampling_draw.no_request", 409, _("This draw was not requested."))
    result = _compute(current)
    _supersede_previous(user, plan, now)
    # Inspections an interrupted run committed: the draw's, created at the request's time.
    made = set(
        session.scalars(
            select(Inspection.enterprise_id).where(
                Inspection.sampling_plan_id == plan.id,
                Inspection.type == "double_random",
                Inspection.created_at >= now,
            )
        )
    )
    todo = [t for t in result.teams if uuid.UUID(t.enterprise_id) not in made]
    current.job_total = len(result.teams)
    current.job_done = len(result.teams) - len(todo)
    current.job_heartbeat_at = clock()
    session.commit()
    for part in iter_chunks(todo, chunk):
        _create_inspections(plan, part, now)
        current.job_done += len(part)
        current.job_heartbeat_at = clock()
        session.commit()
        if after_chunk is not None:
            after_chunk(current.job_done)
    _finish_draw(user, plan, current, result, now)
    current.job_state = "done"
    current.job_heartbeat_at = clock()
    session.commit()


def fail_draw_job(job_id: uuid.UUID, code: str) -> None:
    """Mark a draw job failed with a stable error code; commit."""
    job = session.get(SamplingDraw, job_id)
    if job is not None:
        job.job_state = "failed"
        job.job_error = code[:64]
        session.commit()


def requeue_draw_job(job_id: uuid.UUID) -> None:
    """Put an interrupted draw job back in the queue (it resumes where it stopped); commit."""
    job = session.get(SamplingDraw, job_id)
    if job is not None and job.job_state == "running":
        job.job_state = "queued"
        session.commit()


def run_draw_jobs(
    *,
    clock: Callable[[], datetime] = utcnow,
    chunk: int = DRAW_JOB_CHUNK,
    after_chunk: Callable[[int], None] | None = None,
) -> int:
    """Run queued draw jobs one at a time until none is left (the worker's step); return how many.

    A refusal (DomainError) fails the job with its code; any other exception puts the job back
    in the queue, to resume where it stopped, and is raised for the worker to log.
    """
    ran = 0
    while (job := claim_draw_job(clock())) is not None:
        job_id = job.id
        try:
            run_draw_job(job, chunk=chunk, clock=clock, after_chunk=after_chunk)
        except DomainError as err:
            session.rollback()
            fail_draw_job(job_id, err.code)
        except Exception:
            session.rollback()
            requeue_draw_job(job_id)
            raise
        ran += 1
    return ran


def _create_inspections(
    plan: SamplingPlan, teams: Sequence[drawlib.Assignment], now: datetime
) -> None:
    if not teams:
        return
    ids = [uuid.UUID(t.enterprise_id) for t in teams]
    # Only the columns an inspection copies, in one statement per ID_BATCH targets (no ORM
    # objects: a draw has thousands of targets).
    conn = session.connection()
    enterprises: dict[uuid.UUID, Row[Any]] = {}
    for chunk in iter_chunks(ids, ID_BATCH):
        columns = select(Enterprise.id, Enterprise.jurisdiction_code, Enterprise.industry)
        stmt = cast(Select[Any], columns)
        for ent in conn.execute(where_ids(conn, stmt, Enterprise.id, chunk)):
            enterprises[ent.id] = ent
    versions = latest_checklist_versions(china_today(plan.window_start or now))
    dispatch_at = plan.dispatch_at or now
    rows = []
    for team in teams:
        ent = enterprises[uuid.UUID(team.enterprise_id)]
        values = inspection_values(
            type="double_random",
            enterprise=ent,
            industry=ent.industry,
            planner_id=plan.created_by,
            window_start=plan.window_start,
            window_end=plan.window_end,
            dispatch_at=dispatch_at,
            checklist_version=versions.get(ent.industry),
            sampling_plan_id=plan.id,
            now=now,
        )
        rows.append((values, [uuid.UUID(i) for i in team.inspector_ids]))
    insert_inspections(rows)


# --------------------------------------------------------------------------- verify


def draw_record(d: SamplingDraw) -> dict[str, Any]:
    """Return the self-contained record ``app.planning.draw.verify`` checks."""
    return {
        "algorithm_version": d.algorithm_version,
        "seed": d.seed,
        "seed_commitment": d.seed_commitment,
        "population_digest": d.population_digest,
        "pool_digest": d.pool_digest,
        "params": d.params,
        "population": d.population,
        "pool": d.pool,
        "result": d.result,
    }


def verify_plan(db: Session, plan_id: uuid.UUID) -> list[str]:
    """Recompute every draw of a plan from its record; list every difference (CLI)."""
    plan = db.get(SamplingPlan, plan_id)
    if plan is None:
        return [f"no sampling plan {plan_id}"]
    diffs: list[str] = []
    drawn = [d for d in plan.draws if d.status in ("drawn", "superseded")]
    if not drawn:
        return [f"plan {plan_id} has not been drawn"]
    for d in drawn:
        db.refresh(d, ["population", "pool", "result"])
        for line in drawlib.verify(draw_record(d)):
            diffs.append(f"draw {d.number}: {line}")
    # The live draw's teams must be the inspections that exist.
    live = drawn[-1]
    if live.status == "drawn" and live.result is not None:
        expected = {t["enterprise_id"]: sorted(t["inspector_ids"]) for t in live.result["teams"]}
        actual: dict[str, list[str]] = {}
        rows = db.execute(
            select(Inspection).where(
                Inspection.sampling_plan_id == plan.id,
                Inspection.type == "double_random",
                Inspection.created_at >= live.drawn_at,
            )
        ).scalars()
        for insp in rows:
            if insp.status == "cancelled" and insp.cancel_reason and "redraw" in insp.cancel_reason:
                continue
            actual[str(insp.enterprise_id)] = sorted(str(i) for i in insp.inspector_ids)
        for ent_id in sorted(set(expected) | set(actual)):
            if ent_id not in actual:
                diffs.append(f"draw {live.number}: no inspection for drawn target {ent_id}")
            elif ent_id not in expected:
                diffs.append(f"draw {live.number}: inspection for {ent_id}, which was not drawn")
            elif expected[ent_id] != actual[ent_id]:
                diffs.append(
                    f"draw {live.number}: inspection of {ent_id} has inspectors {actual[ent_id]}, "
                    f"drawn {expected[ent_id]}"
                )
    return diffs


# --------------------------------------------------------------------------- 一公开


def _plan_disclosed(plan: SamplingPlan, now: datetime) -> bool:
    """Tell whether none of the plan's inspections is confidential any more."""
    pending = session.scalar(
        select(func.count())
        .select_from(Inspection)
        .where(
            Inspection.sampling_plan_id == plan.id,
            Inspection.status.not_in((*STARTED_STATES, "cancelled")),
            Inspection.check_in_received_at.is_(None),
            (Inspection.window_end.is_(None)) | (Inspection.window_end > now),
        )
    )
    return not pending


def _public_draw(d: SamplingDraw, disclosed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": d.number,
        "status": d.status,
        "reason": d.reason,
        "algorithm_version": d.algorithm_version,
        "as_of": d.as_of.isoformat(),
        "params": d.params,
        "committed_at": d.committed_at,
        "seed_commitment": d.seed_commitment,
        "population_digest": d.population_digest,
        "pool_digest": d.pool_digest,
        "population_count": d.population_count,
        "pool_count": d.pool_count,
        "drawn_at": d.drawn_at,
        "result_digest": d.result_digest,
        "summary": d.summary if d.status != "committed" else None,
        "disclosed": disclosed and d.status != "committed",
        "seed": d.seed if disclosed and d.status != "committed" else None,
    }
    return out


def _outcomes(plan: SamplingPlan) -> list[dict[str, Any]]:
    """Per started inspection of the plan: target, type of outcome, counts (no personal data)."""
    rows = session.execute(
        select(Inspection, Enterprise)
        .join(Enterprise, Enterprise.id == Inspection.enterprise_id)
        .where(Inspection.sampling_plan_id == plan.id)
        .where(
            (Inspection.check_in_received_at.is_not(None)) | Inspection.status.in_(STARTED_STATES)
        )
        .order_by(Enterprise.name, Inspection.id)
    ).all()
    if not rows:
        return []
    counts: dict[uuid.UUID, Counter[str]] = {}
    ids = [insp.id for insp, _row in rows]
    finding_rows = session.execute(
        select(Finding.inspection_id, Finding.result, Finding.review_status, func.count())
        .where(Finding.inspection_id.in_(ids), Finding.deleted.is_(False))
        .group_by(Finding.inspection_id, Finding.result, Finding.review_status)
    )
    for insp_id, result, review, n in finding_rows:
        c = counts.setdefault(insp_id, Counter())
        c["items"] += n
        if result == "fail" and review == "confirmed":
            c["confirmed_failures"] += n
    out = []
    for insp, ent in rows:
        c = counts.get(insp.id, Counter())
        finished = insp.status in ("reviewed", "closed")
        out.append(
            {
                "inspection_id": insp.id,
                "enterprise": {
                    "name": ent.name,
                    "uscc": ent.uscc,
                    "jurisdiction": ent.jurisdiction_code,
                    "industry": ent.industry,
                    "risk_level": ent.risk_level,
                },
                "status": insp.status,
                "checked_in_on": (
                    china_today(insp.check_in_received_at).isoformat()
                    if insp.check_in_received_at
                    else None
                ),
                "items_checked": c["items"] if finished else None,
                "hazards_confirmed": c["confirmed_failures"] if finished else None,
            }
        )
    return out


def published_plans_query() -> Select[Any]:
    """Select the published (committed or drawn) plans, newest first (the route paginates)."""
    return (
        select(SamplingPlan)
        .where(SamplingPlan.status.in_(("committed", "drawn")))
        .order_by(SamplingPlan.created_at.desc(), SamplingPlan.id)
    )


def published_plan(plan_id: uuid.UUID) -> SamplingPlan:
    """Return a published (committed or drawn) plan; 404 for a draft or an unknown one."""
    plan = session.scalars(published_plans_query().where(SamplingPlan.id == plan_id)).first()
    if plan is None:
        raise not_found("sampling_plan")
    return plan


def public_results(plans: list[SamplingPlan], *, now: datetime) -> list[dict[str, Any]]:
    """Describe published plans: commitments at once; seeds and outcomes once disclosed."""
    out = []
    for plan in plans:
        disclosed = plan.status == "drawn" and _plan_disclosed(plan, now)
        out.append(
            {
                "id": plan.id,
                "name": plan.name,
                "status": plan.status,
                "jurisdiction": plan.jurisdiction_code,
                "population_filter": {
                    "industries": plan.industries,
                    "jurisdictions": plan.jurisdictions,
                },
                "rates": plan.rates,
                "team_size": plan.team_size,
                "cross_jurisdiction": plan.cross_jurisdiction,
                "exclude_inspected_within_days": plan.exclude_inspected_within_days,
                "draws": [_public_draw(d, disclosed) for d in plan.draws],
                "outcomes": _outcomes(plan),
                "record_url": (
                    f"/api/v1/public/sampling-results/{plan.id}/draws/{{number}}"
                    if disclosed
                    else None
                ),
            }
        )
    return out


def public_draw_record(plan_id: uuid.UUID, number: int, *, now: datetime) -> dict[str, Any]:
    """Return a disclosed draw's full record, enough to recompute it (404 until disclosed)."""
    d = session.execute(
        select(SamplingDraw)
        .options(
            undefer(SamplingDraw.population),
            undefer(SamplingDraw.pool),
            undefer(SamplingDraw.result),
        )
        .where(SamplingDraw.plan_id == plan_id, SamplingDraw.number == number)
    ).scalar_one_or_none()
    if d is None or d.status == "committed" or not _plan_disclosed(d.plan, now):
        raise not_found("sampling_draw")
    return draw_record(d)


def plan_detail_draws(plan: SamplingPlan) -> list[dict[str, Any]]:
    """Return the plan's draws for its planner, with the seed once drawn and the full result."""
    out = []
    for d in plan.draws:
        item = _public_draw(d, True)
        item["result"] = d.result if d.status != "committed" else None
        out.append(item)
    return out
