"""Schemas for 双随机 sampling plans and the public results."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from app.clock import isoformat
from app.fields import DateTime
from app.i18n import _
from app.inspections.schemas import WindowSchema
from app.planning.services import draw_progress, plan_detail_draws
from app.registry.models import RISK_LEVELS


def _rate_problem(value: Any) -> str | None:
    """Say what is wrong with one level's rate (the draw's own rule, app/planning/draw.py)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _("Not a number.")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return _("Not a number.")
    if not rate.is_finite() or not 0 < rate <= 1:
        return _("Must be above 0 and at most 1 (no level is exempt).")
    return None


class RatesField(fields.Dict):
    """Sampling rate per risk level: every level present, each above 0 and at most 1.

    Every bad level is reported, each under its own name, not only the first.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), values=fields.Raw(), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        rates = super()._deserialize(value, attr, data, **kwargs)
        errors: dict[str, list[str]] = {}
        for level in rates:
            if level not in RISK_LEVELS:
                errors[level] = [
                    _("Unknown risk level; use %(levels)s.", levels=", ".join(RISK_LEVELS))
                ]
        for level in RISK_LEVELS:
            problem = (
                _rate_problem(rates[level])
                if level in rates
                else _("Missing: every risk level needs a rate (none is exempt).")
            )
            if problem:
                errors[level] = [problem]
        if errors:
            raise ValidationError(errors)
        return rates


class SamplingPlanCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    industries = fields.List(fields.String(), load_default=list)
    jurisdictions = fields.List(fields.String(), load_default=list)
    departments = fields.List(fields.String(), load_default=list)
    rates = RatesField(
        required=True,
        metadata={
            "description": 'Rate per risk level, e.g. {"high": "0.3", "medium": "0.1", '
            '"low": "0.05"}; every level above 0 and at most 1.'
        },
    )
    team_size = fields.Integer(load_default=2, validate=validate.Range(min=2, max=10))
    cross_jurisdiction = fields.Boolean(load_default=False)
    exclude_inspected_within_days = fields.Integer(
        load_default=0, validate=validate.Range(min=0, max=3650)
    )
    window = fields.Nested(WindowSchema, allow_none=True)
    dispatch_at = DateTime(allow_none=True)


class SamplingCommitSchema(Schema):
    reason = fields.String(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "Required when committing a drawn plan again (a redraw)."},
    )


class SamplingPlanSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    status = fields.String()
    jurisdiction = fields.String(attribute="jurisdiction_code")
    industries = fields.List(fields.String())
    jurisdictions = fields.List(fields.String())
    departments = fields.List(fields.String())
    rates = fields.Dict(keys=fields.String(), values=fields.String())
    team_size = fields.Integer()
    cross_jurisdiction = fields.Boolean()
    exclude_inspected_within_days = fields.Integer()
    window = fields.Function(
        lambda p: (
            None
            if p.window_start is None
            else {"start": isoformat(p.window_start), "end": isoformat(p.window_end)}
        )
    )
    dispatch_at = DateTime(allow_none=True)
    created_by = fields.UUID()
    created_at = DateTime()
    version = fields.Integer()
    draws = fields.Function(lambda p: _draws(p))
    #: The current draw's progress: {state: queued|running|done|failed, done, total, error?}
    #: (null until a draw is asked for); a large draw runs in the worker (docs/sampling.md).
    draw = fields.Function(lambda p: draw_progress(p))


def _draws(plan: Any) -> list[dict[str, Any]]:

    return DrawSchema(many=True).dump(plan_detail_draws(plan))


class DrawSchema(Schema):
    number = fields.Integer()
    status = fields.String()
    reason = fields.String(allow_none=True)
    algorithm_version = fields.String()
    as_of = fields.String()
    params = fields.Dict()
    committed_at = DateTime()
    seed_commitment = fields.String()
    population_digest = fields.String()
    pool_digest = fields.String()
    population_count = fields.Integer()
    pool_count = fields.Integer()
    drawn_at = DateTime(allow_none=True)
    result_digest = fields.String(allow_none=True)
    summary = fields.Dict(allow_none=True)
    disclosed = fields.Boolean()
    seed = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)


class SamplingPlanListSchema(SamplingPlanSchema):
    class Meta:
        exclude = ("draws",)

    draw_count = fields.Function(lambda p: len(p.draws))


class PublicDrawSchema(DrawSchema):
    class Meta:
        exclude = ("result",)


class PublicEnterpriseSchema(Schema):
    name = fields.String()
    uscc = fields.String()
    jurisdiction = fields.String()
    industry = fields.String()
    risk_level = fields.String()


class PublicOutcomeSchema(Schema):
    inspection_id = fields.UUID()
    enterprise = fields.Nested(PublicEnterpriseSchema)
    status = fields.String()
    checked_in_on = fields.String(allow_none=True)
    items_checked = fields.Integer(allow_none=True)
    hazards_confirmed = fields.Integer(allow_none=True)


class PublicSamplingResultSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    status = fields.String()
    jurisdiction = fields.String()
    population_filter = fields.Dict()
    rates = fields.Dict(keys=fields.String(), values=fields.String())
    team_size = fields.Integer()
    cross_jurisdiction = fields.Boolean()
    exclude_inspected_within_days = fields.Integer()
    draws = fields.List(fields.Nested(PublicDrawSchema))
    outcomes = fields.List(fields.Nested(PublicOutcomeSchema))
    record_url = fields.String(allow_none=True)


class DrawRecordSchema(Schema):
    algorithm_version = fields.String()
    seed = fields.String()
    seed_commitment = fields.String()
    population_digest = fields.String()
    pool_digest = fields.String()
    params = fields.Dict()
    population = fields.List(fields.Dict())
    pool = fields.List(fields.Dict())
    result = fields.Dict()
