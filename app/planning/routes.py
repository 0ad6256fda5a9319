"""Routes: 双随机 sampling plans (planners) and their public results (一公开)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from app.auth.caller import public, require_role
from app.http import (
    Blueprint,
    check_if_match,
    paginate,
    request_now,
    sends_etag,
    takes_if_match,
    version_etag,
)
from app.planning import services
from app.planning.schemas import (
    DrawRecordSchema,
    PublicSamplingResultSchema,
    SamplingCommitSchema,
    SamplingPlanCreateSchema,
    SamplingPlanListSchema,
    SamplingPlanSchema,
)

blp = Blueprint("planning", __name__, description="双随机 sampling plans and public results")


@blp.route("/sampling-plans")
class SamplingPlans(MethodView):
    @blp.response(200, SamplingPlanListSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> Any:
        """List your sampling plans (planners)."""
        return paginate(services.list_plans(require_role("planner")), pagination_parameters)

    @blp.arguments(SamplingPlanCreateSchema)
    @blp.response(201, SamplingPlanSchema)
    @sends_etag("sampling_plan")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a sampling plan: population filter, rates per risk level, team size, 异地交叉."""
        return services.create_plan(require_role("planner"), data, now=request_now())


@blp.route("/sampling-plans/<uuid:plan_id>")
class SamplingPlanById(MethodView):
    @blp.response(200, SamplingPlanSchema)
    @sends_etag("sampling_plan")
    def get(self, plan_id: uuid.UUID) -> Any:
        """Return one of your plans with its draws (seed, targets and teams once drawn)."""
        return services.get_plan(require_role("planner"), plan_id)


@blp.route("/sampling-plans/<uuid:plan_id>/commit")
class SamplingPlanCommit(MethodView):
    @blp.arguments(SamplingCommitSchema)
    @blp.response(200, SamplingPlanSchema)
    @takes_if_match("sampling_plan", required=False)
    def post(self, data: dict[str, Any], plan_id: uuid.UUID) -> Any:
        """Freeze population and pool and publish the seed commitment (a redraw needs a reason)."""
        user = require_role("planner")
        plan = services.get_plan(user, plan_id, lock=True)
        check_if_match(version_etag("sampling_plan", plan.id, plan.version))
        return services.commit_plan(user, plan, data.get("reason"), now=request_now())


@blp.route("/sampling-plans/<uuid:plan_id>/draw")
class SamplingPlanDraw(MethodView):
    @blp.response(200, SamplingPlanSchema)
    @takes_if_match("sampling_plan", required=False)
    def post(self, plan_id: uuid.UUID) -> Any:
        """Draw targets and teams from the committed seed; create inspections; reveal the seed.

        A large draw (docs/sampling.md) is handed to the worker: the same plan answered 202, its
        `draw` showing the progress; a repeat while it is queued or running answers the same 202.
        """
        user = require_role("planner")
        plan = services.get_plan(user, plan_id, lock=True)
        if not services.draw_job_active(plan):
            check_if_match(version_etag("sampling_plan", plan.id, plan.version))
        plan = services.request_draw(user, plan, now=request_now())
        return (plan, 202) if services.draw_job_active(plan) else plan


@blp.route("/public/sampling-results")
class PublicSamplingResults(MethodView):
    @public
    @blp.response(200, PublicSamplingResultSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> Any:
        """List published plans: commitments and digests; seeds and outcomes once disclosed."""
        plans = paginate(services.published_plans_query(), pagination_parameters)
        return services.public_results(plans, now=request_now())


@blp.route("/public/sampling-results/<uuid:plan_id>/draws/<int:number>")
class PublicDrawRecord(MethodView):
    @public
    @blp.response(200, DrawRecordSchema)
    def get(self, plan_id: uuid.UUID, number: int) -> Any:
        """Return a disclosed draw's full record, to recompute it with app/planning/draw.py."""
        return services.public_draw_record(plan_id, number, now=request_now())
