"""Routes: the two sync endpoints devices call, push then pull."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView

from app.auth.caller import current_user
from app.http import Blueprint, checks_own_text, request_now
from app.sync import services
from app.sync.schemas import PullQueryArgsSchema, PullSchema, PushResultSchema, PushSchema
from sync.protocol import PushRequest

blp = Blueprint("sync", __name__, description="Offline sync: push mutations, pull changes")


@blp.route("/sync/push")
class Push(MethodView):
    @checks_own_text
    @blp.arguments(PushSchema)
    @blp.response(200, PushResultSchema)
    def post(self, push: PushRequest) -> Any:
        """Apply a device's mutations exactly once and answer each one's result."""
        outcome = services.push(current_user(), push, now=request_now())
        # The results are already plain JSON (stored as such for replays): answering them
        # directly spares a marshmallow dump of every result on the hottest path.
        # PushResultSchema still documents the shape.
        return jsonify(
            last_mutation_id=outcome.last_mutation_id,
            results=outcome.results,
            missing_media=outcome.missing_media,
        )


@blp.route("/sync/pull")
class Pull(MethodView):
    @blp.arguments(PullQueryArgsSchema, location="query")
    @blp.response(200, PullSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Return the next page of changes in your scope after the cursor."""
        page = services.pull(
            current_user(), args["client_id"], args.get("cursor"), args["limit"], now=request_now()
        )
        # The page is plain JSON already (each entity written out by its domain's dump
        # function): answering it directly spares a marshmallow dump of every change.
        # PullSchema still documents the shape.
        return jsonify(page)
