"""The public pages (no login): 一公开 sampling results with each draw's record and how to
re-check it, and the 群众举报 form.

Pages of the same services the public API calls (``app.planning.services``,
``app.public_reports.services``), in the reader's language (Chinese by default). A form error
redisplays the form with the messages next to their fields; a refused report writes nothing.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from marshmallow import ValidationError
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response as WerkzeugResponse

import app.planning.draw as draw_module
from app.db import session
from app.errors import DomainError
from app.extensions import limiter
from app.http import request_now
from app.i18n import _, localize_errors
from app.org.models import Jurisdiction
from app.org.services import list_jurisdictions
from app.planning import services as planning
from app.public_reports import services as reports
from app.public_reports.schemas import PublicReportCreateSchema
from app.public_site.labels import label

bp = Blueprint("public_site", __name__, template_folder="templates", static_folder="static")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"label": label, "lang": str(get_locale())}


#: The largest photo the form takes (the API's inline limit is 4 MiB of base64, 3 MiB of bytes).
MAX_PHOTO_BYTES = 3 * 1024 * 1024
#: How many published plans the results page lists, newest first.
PLANS_SHOWN = 50


@bp.get("/")
def index() -> str:
    """The public entry: sampling results and the report form."""
    return render_template("public_site/index.html")


@bp.get("/sampling")
def sampling() -> str:
    """The published 双随机 plans: commitments at once, seeds and outcomes once disclosed."""
    plans = session.scalars(planning.published_plans_query().limit(PLANS_SHOWN)).all()
    results = planning.public_results(list(plans), now=request_now())
    return render_template("public_site/sampling.html", plans=results)


@bp.get("/sampling/<uuid:plan_id>")
def sampling_plan(plan_id: uuid.UUID) -> str:
    """One plan's draws, each with its record and the steps to re-check it."""
    plan = planning.published_plan(plan_id)
    (result,) = planning.public_results([plan], now=request_now())
    return render_template("public_site/plan.html", plan=result)


@bp.get("/sampling/verify-draw.py")
def verify_script() -> Response:
    """The draw itself (standard-library Python), to recompute a published record at home."""
    return send_file(
        Path(draw_module.__file__),
        mimetype="text/x-python",
        as_attachment=True,
        download_name="verify-draw.py",
    )


def _report_limit() -> str:
    return current_app.config["PUBLIC_REPORT_RATE_LIMIT"]  # type: ignore[no-any-return]


def _streets() -> list[Jurisdiction]:
    return [j for j in list_jurisdictions() if j.level == "street"]


@bp.get("/report")
def report_form() -> str:
    """The 群众举报 form."""
    return render_template("public_site/report.html", streets=_streets(), form={}, errors={})


@bp.post("/report")
@limiter.limit(_report_limit)
def report_submit() -> WerkzeugResponse | tuple[str, int]:
    """Receive a report from the form; on an error show the form again with the reasons."""
    form = {k: request.form.get(k, "").strip() for k in FORM_FIELDS}
    payload: dict[str, Any] = {k: v for k, v in form.items() if v}
    errors: dict[str, list[str]] = {}
    upload = request.files.get("photo")
    if upload is not None and upload.filename:
        data = upload.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            errors["photo"] = [_("The photo is too large; send a smaller one.")]
        elif data:
            payload["photo"] = base64.b64encode(data).decode()
    try:
        data = PublicReportCreateSchema().load(payload)
    except ValidationError as exc:
        errors.update(localize_errors(exc.normalized_messages()))
    if errors:
        return _form_again(form, errors, _("Some fields need your attention; see below."))
    try:
        report = reports.submit_public_report(data, now=request_now())
    except DomainError as exc:
        return _form_again(form, exc.errors or {}, exc.message, exc.status)
    return redirect(url_for("public_site.report_received", report_id=report.id), code=303)


FORM_FIELDS = ("description", "address", "jurisdiction", "enterprise_name", "contact")


def _form_again(
    form: dict[str, str], errors: dict[str, Any], message: str, status: int = 422
) -> tuple[str, int]:
    page = render_template(
        "public_site/report.html", streets=_streets(), form=form, errors=errors, message=message
    )
    return page, status


@bp.get("/report/received/<uuid:report_id>")
def report_received(report_id: uuid.UUID) -> str:
    """Thank the reporter; the receipt number is the report's id (nothing else is shown)."""
    return render_template("public_site/received.html", report_id=report_id)


@bp.errorhandler(DomainError)
def refused(exc: DomainError) -> tuple[str, int]:
    """A refusal of a service (e.g. an unknown plan, 404), as a page in the reader's language."""
    return render_template("public_site/error.html", message=exc.message), exc.status


@bp.errorhandler(TooManyRequests)
def too_many(exc: TooManyRequests) -> tuple[str, int]:
    """Too many reports from this address: say so in words, on a page."""
    return render_template("public_site/busy.html"), 429
