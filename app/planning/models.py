"""双随机 sampling plans and their draws (each draw a self-contained, verifiable record)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Date,
    ForeignKey,
    String,
    Table,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UTCDateTime, new_id

PLAN_STATES = ("draft", "committed", "drawn")
DRAW_STATES = ("committed", "drawn", "superseded")
#: A draw handed to the worker (population above DRAW_INLINE_MAX_POPULATION): queued → running
#: → done | failed (docs/sampling.md "Large draws run in the worker").
JOB_STATES = ("queued", "running", "done", "failed")


class SamplingPlan(Base):
    __tablename__ = "sampling_plans"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    #: draft → committed (population, pool and seed commitment frozen) → drawn; a redraw
    #: commits again (with a reason) and draws again, the earlier draws staying on the record.
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    #: The creator's jurisdiction: the population never reaches outside it.
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))
    #: Population filter: industry slugs and jurisdiction codes (empty list = all in scope).
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    jurisdictions: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Inspector pool filter: department codes (empty list = every department).
    departments: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Sampling rate per risk level, as decimal strings ("0.2"); every level above zero.
    rates: Mapped[dict[str, str]] = mapped_column(JSON)
    team_size: Mapped[int] = mapped_column(default=2)
    #: 异地交叉: teams come from another jurisdiction than the target's.
    cross_jurisdiction: Mapped[bool] = mapped_column(default=False)
    exclude_inspected_within_days: Mapped[int] = mapped_column(default=0)
    #: Window and dispatch time given to the inspections a draw creates.
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    draws: Mapped[list[SamplingDraw]] = relationship(
        back_populates="plan", order_by="SamplingDraw.number", lazy="selectin"
    )

    @property
    def current_draw(self) -> SamplingDraw | None:
        """Return the newest draw (committed or drawn), if any."""
        return self.draws[-1] if self.draws else None


class SamplingDraw(Base):
    __tablename__ = "sampling_draws"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sampling_plans.id"), index=True)
    #: 1 for the first draw; a redraw gets the next number and needs a reason.
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="committed")
    reason: Mapped[str | None] = mapped_column(String(500))
    algorithm_version: Mapped[str] = mapped_column(String(20))
    #: The date exclusions are judged on (certificate validity, recently inspected), China time.
    as_of: Mapped[date] = mapped_column(Date)
    #: Canonical draw parameters (app.planning.draw.DrawParams.to_dict()).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Frozen population and inspector pool: canonical records sorted by id.
    #: (Deferred: large; loaded only for the draw, verification and the public record.)
    population: Mapped[list[dict[str, Any]]] = mapped_column(JSON, deferred=True)
    pool: Mapped[list[dict[str, Any]]] = mapped_column(JSON, deferred=True)
    population_digest: Mapped[str] = mapped_column(String(64))
    pool_digest: Mapped[str] = mapped_column(String(64))
    population_count: Mapped[int]
    pool_count: Mapped[int]
    #: Hex of the 32 random seed bytes: secret until the draw, published with it.
    seed: Mapped[str] = mapped_column(String(128))
    #: sha256(seed), published at commit.
    seed_commitment: Mapped[str] = mapped_column(String(64))
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    committed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drawn_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    #: DrawResult.to_dict(): targets, teams, exclusions with reasons, digests.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)
    #: Small counts for lists: eligible, targets and exclusions per reason, teams.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_digest: Mapped[str | None] = mapped_column(String(64))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The draw job, when the draw was handed to the worker (None: drawn inline, or not yet
    #: asked for). Who asked and when: the draw's ``drawn_by``/``drawn_at`` once done.
    job_state: Mapped[str | None] = mapped_column(String(8), index=True)
    job_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    job_requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    #: Inspections created so far, of ``job_total`` (the draw's teams; None until computed).
    job_done: Mapped[int] = mapped_column(default=0)
    job_total: Mapped[int | None]
    #: Stable error code of a failed job (e.g. ``sampling_draw.attempts_exhausted``).
    job_error: Mapped[str | None] = mapped_column(String(64))
    job_attempts: Mapped[int] = mapped_column(default=0)
    #: Last sign of life of the worker running it: a running job silent for
    #: services.DRAW_JOB_STALE_SECONDS is taken again (its worker died).
    job_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[SamplingPlan] = relationship(back_populates="draws")


#: A draw's large columns (12 MB of JSON for 100,000 enterprises) are compressed with LZ4 on a
#: PostgreSQL that has it (14 and later, built with lz4): its default, pglz, took 0.2 s of a
#: 100,000-enterprise commit and LZ4 a fifth of that. Elsewhere the server's default stays.
COMPRESSED_COLUMNS = ("population", "pool", "result")


def compress_large_columns(connection: Connection) -> None:
    """Set LZ4 compression on ``sampling_draws``' large columns, where the server has it."""
    if connection.dialect.name != "postgresql":
        return
    has_lz4 = connection.scalar(
        text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    )
    if not has_lz4:
        return
    for column in COMPRESSED_COLUMNS:
        connection.execute(
            text(f"ALTER TABLE sampling_draws ALTER COLUMN {column} SET COMPRESSION lz4")
        )


@event.listens_for(SamplingDraw.__table__, "after_create")
def _compress(_table: Table, connection: Connection, **_kw: object) -> None:
    compress_large_columns(connection)
