"""The staff console's pages: HTML, a session cookie, a CSRF token on every form.

The HTTP side of the console (the request boundary for its pages): it signs people in with the
API's password check and login limits, keeps the caller in a signed session cookie that lapses
after ``CONSOLE_IDLE_MINUTES`` without a request, refuses any POST without the session's CSRF
token, and calls the same services as the API with the same caller (``g.user``), so the same
role and scope rules apply: what the caller may not see is a 404 page. The API's bearer-token
endpoints are untouched (nothing here runs for them).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, format_timedelta, get_locale
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from app.auth.limits import login_limits
from app.auth.services import console_login
from app.clock import isoformat
from app.db import session
from app.documents import services as documents
from app.errors import DomainError
from app.hazards import rechecks
from app.hazards import services as hazards
from app.hazards.schemas import HazardActionSchema, HazardCreateSchema
from app.http import file_response, request_now, tus_response, version_etag
from app.i18n import LANGUAGES, _, _l, localize, localize_errors, settle_language
from app.inspections import services as inspections
from app.inspections.models import Inspection
from app.inspections.schemas import CancelSchema, InspectionCreateSchema, InspectionUpdateSchema
from app.inspections.visibility import is_started, log_confidential_reads
from app.media import services as media
from app.org.models import User
from app.org.schemas import StaffQueryArgsSchema
from app.org.services import set_locale
from app.planning import services as planning
from app.planning.schemas import SamplingCommitSchema, SamplingPlanCreateSchema
from app.registry import services as registry
from app.registry.models import RISK_LEVELS
from app.registry.schemas import EnterpriseQueryArgsSchema
from app.reports import services as reporting
from app.reports.export import XLSX_MIMETYPE, export_report
from app.reports.schemas import HazardsReportQueryArgsSchema
from app.review import services as review
from app.review.schemas import ReviewRequestSchema
from app.staff import services
from app.staff.labels import TABLES, label

blp = Blueprint("staff", __name__, url_prefix="/console", template_folder="templates")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: Pages one may open signed out.
OPEN_ENDPOINTS = {"staff.login"}

#: The console's own words for the refusals whose service message does not fit a page: it names
#: codes (a status, an action, a role), speaks of the API's ``errors`` member or of headers, or
#: is the console's own. Every other refusal shows the service's message, which is in the
#: catalogs (Chinese by default) like every DomainError's.
REFUSALS = {
    # the service names the review status by its code
    "finding.already_reviewed": _l("This finding was already decided; it is shown as it is now."),
    # the service names the action, status and role by their codes
    "hazard.invalid_transition": _l("This action is not possible on this ticket now."),
    # the service speaks of If-Match / ETag
    "precondition_failed": _l("Someone changed this ticket meanwhile; it is shown as it is now."),
    "console.plan_changed": _l("This plan changed meanwhile; it is shown as it is now."),
    "console.inspection_changed": _l(
        "This inspection changed meanwhile; it is shown as it is now."
    ),
    # the lifecycle names the action and the state by their codes, or speaks of findings
    "inspection.invalid_transition": _l(
        "This inspection was checked in: it can no longer be changed or cancelled."
    ),
    "inspection.locked": _l(
        "This inspection was checked in: it can no longer be changed or cancelled."
    ),
    "console.comment_required": _l("Write the reason: the inspector reads it."),
    "console.bad_date": _l("Pick a date."),
    # the services say "see errors", the API's member; the page marks the fields
    "validation_error": _l("Check the fields marked below."),
    # the service points to "errors (by row number)"; the page shows the rows
    "registry.import_invalid": _l(
        "Some rows are not valid; nothing was imported. Fix the rows listed below and import "
        "the file again."
    ),
}


def init_staff(app: Flask) -> None:
    """Configure the console's cookie and the site root (called once by app.wiring)."""
    app.config.update(
        SESSION_COOKIE_NAME="fieldsafe_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production",
    )
    app.add_url_rule("/", endpoint="root", view_func=lambda: redirect(url_for("staff.index")))
    app.jinja_env.filters["label"] = lambda code, table: label(TABLES[table], code)
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["age"] = _age
    app.jinja_env.filters["picker"] = services.picker_value


def _when(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    return format_datetime(value, fmt) if value else "—"


def _age(value: Any) -> str:
    return format_timedelta(value, granularity="minute", threshold=1.5) if value else "—"


# --------------------------------------------------------------------------- the boundary


def _idle_limit() -> int:
    return int(current_app.config["CONSOLE_IDLE_MINUTES"]) * 60


@blp.before_request
def _session() -> ResponseReturnValue | None:
    """Resolve the caller from the cookie, lapse an idle session, check the CSRF token."""
    now = request_now().timestamp()
    g.console_user = None
    uid = cookie.get("uid")
    if uid is not None:
        seen = float(cookie.get("seen", 0))
        user = session.get(User, uuid.UUID(uid)) if now - seen <= _idle_limit() else None
        if user is None or not user.active:
            cookie.clear()
            g.console_expired = True
        else:
            g.user = g.console_user = user
            cookie["seen"] = now
    settle_language()
    if "csrf" not in cookie:
        cookie["csrf"] = secrets.token_urlsafe(32)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        # a form's field, or the header of a script's request (the photo upload)
        sent = request.headers.get("X-CSRF-Token") or (
            request.form.get("csrf_token", "") if request.mimetype in FORM_TYPES else ""
        )
        if not hmac.compare_digest(sent.encode(), str(cookie["csrf"]).encode()):
            return _page("staff/error.html", 400, message=_("This form has expired; reload it."))
    if g.console_user is None and request.endpoint not in OPEN_ENDPOINTS:
        if g.get("console_expired"):
            flash(_("You were signed out after a while without activity."), "info")
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    return None


@blp.app_context_processor
def _globals() -> dict[str, Any]:
    return {
        "me": g.get("console_user"),
        "csrf_token": cookie.get("csrf", ""),
        "languages": LANGUAGES,
        "lang": str(get_locale() or "zh"),
    }


def _page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(template, **context), status


@blp.errorhandler(DomainError)
def _refused(err: DomainError) -> ResponseReturnValue:
    if err.persist:
        g.commit_on_error = True
    if err.status == 404:
        return _page("staff/error.html", 404, message=_("There is no such page here."))
    return _page("staff/error.html", err.status, message=_refusal(err))


@blp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> ResponseReturnValue:
    status = err.code or 500
    if status == 429:
        # Flask-Limiter's refusal of a sign-in: the form again, with the limit in words.
        return _page(
            "staff/login.html",
            429,
            error=_("Too many sign-in attempts; wait a while and try again."),
            username="",
            next="",
        )
    if status == 404:
        return _page("staff/error.html", 404, message=_("There is no such page here."))
    return _page("staff/error.html", status, message=_("This request could not be answered."))


def _refusal(err: DomainError) -> str:
    known = REFUSALS.get(err.code)
    return str(known) if known is not None else str(localize(err.message))


def _me() -> User:
    user: User = g.console_user
    return user


def _require(*roles: str) -> User:
    user = _me()
    if user.role not in roles:
        raise DomainError(
            "auth.forbidden", 403, _("Your role does not open this page."), persist=False
        )
    return user


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no other host) is followed after signing in."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme:
            return target
    return url_for("staff.index")


# --------------------------------------------------------------------------- signing in


@blp.route("/login", methods=["GET", "POST"])
@login_limits
def login() -> ResponseReturnValue:
    """Sign in with the account's username and password (the API's check and limits)."""
    target = request.values.get("next", "")
    if request.method == "GET":
        if g.console_user is not None:
            return redirect(_safe_next(target))
        return _page("staff/login.html", username="", next=target)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _page(
            "staff/login.html",
            422,
            error=_("Enter your username and password."),
            username=username,
            next=target,
        )
    try:
        user = console_login(username, password)
    except DomainError as err:
        g.commit_on_error = err.persist  # the failed attempt stays on the audit log
        return _page("staff/login.html", 401, error=_refusal(err), username=username, next=target)
    csrf = secrets.token_urlsafe(32)
    cookie.clear()  # a new session: nothing of a previous one carries over
    cookie.update(uid=str(user.id), seen=request_now().timestamp(), csrf=csrf)
    return redirect(_safe_next(target))


@blp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """Sign out: the session cookie is emptied."""
    cookie.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("staff.login"))


@blp.route("/language", methods=["POST"])
def language() -> ResponseReturnValue:
    """Set the signed-in user's language (the same setting as PATCH /api/v1/me)."""
    choice = request.form.get("locale") or None
    if choice not in (*LANGUAGES, None):
        return _page("staff/error.html", 422, message=_("No such language."))
    set_locale(_me(), choice)
    return redirect(_safe_next(request.form.get("next")))


@blp.route("/")
def index() -> ResponseReturnValue:
    """The console's home: what waits on the caller."""
    return redirect(url_for("staff.my_work"))


@blp.route("/work")
def my_work() -> ResponseReturnValue:
    """What waits on the caller, by role."""
    work = services.my_work(_me(), now=request_now())
    return _page(
        "staff/work.html",
        work=work,
        now=request_now(),
        places=services.names_of_places(),
        industries=services.names_of_industries(),
    )


# --------------------------------------------------------------------------- review


def _int(name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        return default


@blp.route("/review")
def review_queue() -> ResponseReturnValue:
    """The supervisor's queue: pending findings with their flags, filtered and sorted."""
    user = _require("supervisor")
    args = {
        "jurisdiction": request.args.get("jurisdiction") or None,
        "industry": request.args.get("industry") or None,
        "type": request.args.get("type") or None,
        "flagged": request.args.get("flagged") == "1",
        "failures": request.args.get("failures") == "1",
        "sort": request.args.get("sort")
        if request.args.get("sort") in services.QUEUE_SORTS
        else "oldest",
        "page": _int("page"),
    }
    data = services.review_queue(user, args, now=request_now())
    return _page(
        "staff/queue.html",
        data=data,
        args=args,
        places=services.names_of_places(),
        industries=services.names_of_industries(),
    )


def _finding_view(finding_id: uuid.UUID, status: int = 200, **extra: Any) -> ResponseReturnValue:
    user = _require("supervisor")
    data = services.finding_page(user, finding_id)
    return _page(
        "staff/finding.html",
        status,
        data=data,
        places=services.names_of_places(),
        industries=services.names_of_industries(),
        form=extra.pop("form", {}),
        **extra,
    )


@blp.route("/review/findings/<uuid:finding_id>")
def finding(finding_id: uuid.UUID) -> ResponseReturnValue:
    """A finding with its photos large, their evidence, the item and the other findings."""
    return _finding_view(finding_id)


@blp.route("/review/findings/<uuid:finding_id>", methods=["POST"])
def decide(finding_id: uuid.UUID) -> ResponseReturnValue:
    """Confirm (grade and reason when it changes), reject with a reason, or send back."""
    user = _require("supervisor")
    form = request.form
    decision = form.get("decision", "")
    body: dict[str, Any] = {"decision": decision, "comment": form.get("comment", "").strip()}
    current = services.finding_page(user, finding_id)["finding"]
    if decision == "confirm" and form.get("grade") and form.get("grade") != current["grade"]:
        body["grade"] = form["grade"]
        body["grade_reason"] = form.get("grade_reason", "").strip()
    try:
        data = ReviewRequestSchema().load(body)
        if decision in ("reject", "needs_info") and not data["comment"]:
            raise DomainError("console.comment_required", 422, REFUSALS["console.comment_required"])
        result = review.review_finding(user, finding_id, data, now=request_now())
    except (DomainError, ValidationError) as err:
        session.rollback()
        message, errors = _form_error(err)
        return _finding_view(finding_id, 422, error=message, errors=errors, form=form)
    decided = label(TABLES["REVIEW_STATUS"], result.review_status)
    hazard_id = getattr(result, "hazard_id", None)
    if hazard_id is not None:
        number = session.get(hazards.Hazard, hazard_id).number  # type: ignore[union-attr]
        flash(_("%(decision)s: ticket %(number)s issued.", decision=decided, number=number), "ok")
    else:
        flash(_("%(decision)s.", decision=decided), "ok")
    order = services.queue_order(user)
    wanted = form.get("next_id")
    if wanted and wanted in {str(i) for i in order}:
        return redirect(url_for("staff.finding", finding_id=wanted))
    if order:
        return redirect(url_for("staff.finding", finding_id=order[0]))
    return redirect(url_for("staff.review_queue"))


@blp.route("/review/inspections/<uuid:inspection_id>/confirm-passes", methods=["POST"])
def confirm_passes(inspection_id: uuid.UUID) -> ResponseReturnValue:
    """Confirm at once an inspection's unflagged passes and n/a answers (flagged ones stay)."""
    user = _require("supervisor")
    result = review.confirm_passes(
        user, inspection_id, request.form.get("comment", "").strip(), now=request_now()
    )
    flash(
        _(
            "%(confirmed)s compliant answers confirmed; %(skipped)s flagged ones wait for a "
            "decision of their own.",
            confirmed=len(result["confirmed"]),
            skipped=len(result["skipped"]),
        ),
        "ok",
    )
    return redirect(_safe_next(request.form.get("next")))


def _form_error(err: DomainError | ValidationError) -> tuple[str, dict[str, Any]]:
    if isinstance(err, ValidationError):
        messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        return _("Check the fields marked below."), localize_errors(messages)
    return _refusal(err), localize_errors(err.errors or {})


# --------------------------------------------------------------------------- tickets

LEDGER_FILTERS = ("status", "grade", "jurisdiction", "industry", "source")


def _ledger_args() -> dict[str, Any]:
    args: dict[str, Any] = {k: request.args.get(k) or None for k in LEDGER_FILTERS}
    for name in ("overdue", "listed"):
        value = request.args.get(name)
        args[name] = {"1": True, "0": False}.get(value or "")
    level = request.args.get("escalation_level")
    args["escalation_level"] = int(level) if level in ("1", "2", "3", "4") else None
    if request.args.get("assignee") == "me":
        args["assignee"] = "me"
    args["page"] = _int("page")
    return args


@blp.route("/hazards")
def ledger() -> ResponseReturnValue:
    """The hazard ledger with the API's filters."""
    user = _me()
    args = _ledger_args()
    data = services.ledger(
        user, {k: v for k, v in args.items() if v is not None}, now=request_now()
    )
    return _page(
        "staff/ledger.html",
        data=data,
        args=args,
        now=request_now(),
        places=services.names_of_places(),
        industries=services.names_of_industries(),
    )


def _ticket_view(hazard_id: uuid.UUID, status: int = 200, **extra: Any) -> ResponseReturnValue:
    user = _me()
    now = request_now()
    hazard = hazards.get_hazard(user, hazard_id, now=now)
    page = services.ticket_page(user, hazard)
    visits = rechecks.visits_of(user, hazard.id, now=now)
    return _page(
        "staff/ticket.html",
        status,
        h=hazard,
        page=page,
        visits=visits,
        recheckers=services.user_names(
            {item.rechecked_by for _visit, item in visits if item.rechecked_by}
        ),
        docs=documents.list_hazard_documents(user, hazard_id, now=now),
        now=now,
        etag=hazards.etag_of(hazard),
        default_deadline=services.recent_deadline_default(now).isoformat(),
        places=services.names_of_places(),
        industries=services.names_of_industries(),
        form=extra.pop("form", {}),
        **extra,
    )


@blp.route("/hazards/new", methods=["GET", "POST"])
def report_hazard() -> ResponseReturnValue:
    """An enterprise reports a hazard it found itself (企业自查上报), with photos."""
    user = _require("enterprise")
    if request.method == "GET":
        return _page("staff/report.html", form={})
    form = request.form
    body: dict[str, Any] = {
        "grade": form.get("grade", ""),
        "description": form.get("description", "").strip(),
        "photos": [p for p in form.get("photos", "").split(",") if p.strip()],
    }
    try:
        if form.get("deadline"):
            body["deadline"] = _day(form.get("deadline"))
        data = HazardCreateSchema().load(body)
        created = hazards.create_hazard(user, data, now=request_now())
    except (DomainError, ValidationError) as err:
        if isinstance(err, DomainError) and err.status == 404:
            raise
        session.rollback()
        message, errors = _form_error(err)
        return _page("staff/report.html", 422, form=form, error=message, errors=errors)
    flash(_("Reported: ticket %(number)s.", number=created.number), "ok")
    return redirect(url_for("staff.ticket", hazard_id=created.id))


@blp.route("/hazards/<uuid:hazard_id>")
def ticket(hazard_id: uuid.UUID) -> ResponseReturnValue:
    """A ticket: its facts, its timeline with every photo, and the caller's actions."""
    return _ticket_view(hazard_id)


def _day(value: str | None) -> str:
    """A date picker's day as the end of that day, Beijing time (RFC 3339)."""
    try:
        return str(isoformat(services.end_of_day(date.fromisoformat(value or ""))))
    except ValueError as exc:
        raise DomainError("console.bad_date", 422, REFUSALS["console.bad_date"]) from exc


def _action_body(action: str, form: Any) -> dict[str, Any]:
    """The API's action body from the console's form for ``action``."""
    note = form.get("note", "").strip()
    if action == "assign":
        body: dict[str, Any] = {"action": action, "assignee_id": form.get("assignee_id", "")}
        if form.get("deadline"):
            body["deadline"] = _day(form.get("deadline"))
        return body
    if action == "request_extension":
        return {"action": action, "until": _day(form.get("until")), "reason": note}
    if action == "decide_extension":
        return {"action": action, "approve": form.get("approve") == "1", "note": note}
    if action == "submit_rectification":
        photos = [p for p in form.get("photos", "").split(",") if p.strip()]
        return {"action": action, "note": note, "photos": photos}
    if action == "start":
        plan = {k: form.get(f"plan_{k}", "").strip() for k in hazards.PLAN_PARTS}
        body = {"action": action}
        if any(plan.values()):
            body["plan"] = {k: v for k, v in plan.items() if v}
        return body
    return {"action": action, "note": note}


CONSOLE_ACTIONS = (
    "assign",
    "escalate",
    "request_extension",
    "decide_extension",
    "comment",
    "close",
    "start",
    "submit_rectification",
)


@blp.route("/hazards/<uuid:hazard_id>/<action>", methods=["POST"])
def act(hazard_id: uuid.UUID, action: str) -> ResponseReturnValue:
    """Take one action on a ticket, through the same service (and transition table) as the API."""
    if action not in CONSOLE_ACTIONS:
        return _page("staff/error.html", 404, message=_("There is no such page here."))
    user = _me()
    form = request.form
    sent_etag = form.get("etag", "")

    def check(current: str) -> None:
        if not hmac.compare_digest(current, sent_etag):
            raise DomainError("precondition_failed", 412, REFUSALS["precondition_failed"])

    try:
        body = HazardActionSchema().load(_action_body(action, form))
        hazards.apply_action(user, hazard_id, body, check_etag=check, now=request_now())
    except (DomainError, ValidationError) as err:
        if isinstance(err, DomainError) and err.status == 404:
            raise
        session.rollback()
        message, errors = _form_error(err)
        return _ticket_view(
            hazard_id, 422, error=message, errors=errors, form=form, failed_action=action
        )
    flash(_("Done: %(action)s.", action=label(TABLES["ACTION"], action)), "ok")
    return redirect(url_for("staff.ticket", hazard_id=hazard_id))


# --------------------------------------------------------------------------- the registry

#: Who opens the registry's pages: its editors (the import, the enterprises, the inspectors).
REGISTRY_ROLES = ("planner", "admin")
ENTERPRISE_FILTERS = ("q", "jurisdiction", "industry", "risk_level")
INSPECTOR_FILTERS = ("q", "jurisdiction", "department")


@blp.route("/registry/import", methods=["GET", "POST"])
def registry_import() -> ResponseReturnValue:
    """Import enterprises from XLSX or CSV: every row checked first, all or nothing; the rows
    in error are shown with their cells and what is wrong next to them."""
    user = _require(*REGISTRY_ROLES)
    columns = list(registry.COLUMN_LABELS.items())
    if request.method == "GET":
        return _page("staff/registry_import.html", columns=columns)
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    if not data:
        return _page(
            "staff/registry_import.html",
            422,
            columns=columns,
            error=_("Choose the XLSX or CSV file to import."),
        )
    try:
        summary = registry.import_enterprises(user, data)
    except DomainError as err:
        session.rollback()
        if err.status == 404:
            raise
        bad: list[dict[str, Any]] = []
        if err.code == "registry.import_invalid":
            rows = {str(row.number): row for row in registry.parse_import(data)}
            for number, problems in (err.errors or {}).items():
                row = rows.get(number)
                bad.append(
                    {
                        "number": number,
                        "values": row.values if row else {},
                        "problems": localize_errors(problems),
                    }
                )
            bad.sort(key=lambda r: int(r["number"]) if r["number"].isdigit() else 0)
        return _page(
            "staff/registry_import.html",
            err.status,
            columns=columns,
            error=_refusal(err),
            bad=bad,
        )
    return _page("staff/registry_import.html", columns=columns, summary=summary)


def _query_args(schema: Any, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filters a list page was given, as the API's query schema loads them: (the loaded
    arguments, the form's values). A wrong one raises ValidationError (a 422 page)."""
    raw = {k: request.args.get(k, "").strip() for k in names}
    return dict(schema.load({k: v for k, v in raw.items() if v})), raw


def _filtered_list(
    template: str,
    schema: Any,
    names: tuple[str, ...],
    load: Callable[[dict[str, Any], int], Any],
    **context: Any,
) -> ResponseReturnValue:
    """A filtered, paginated list page: ``load(filters, page)`` fills it; filters the schema
    refuses are the page again, 422, with each wrong field marked and nothing listed."""
    try:
        args, form = _query_args(schema, names)
    except ValidationError as err:
        message, errors = _form_error(err)
        form = {k: request.args.get(k, "") for k in names}
        return _page(template, 422, data=None, form=form, error=message, errors=errors, **context)
    page = _int("page")
    return _page(template, data=load(args, page), form=form, args={"page": page}, **context)


@blp.route("/enterprises")
def enterprises() -> ResponseReturnValue:
    """The registry's enterprises in the caller's scope (GET /enterprises' filters), each with
    its last inspection and its tickets not yet closed."""
    user = _require(*REGISTRY_ROLES)
    now = request_now()
    return _filtered_list(
        "staff/enterprises.html",
        EnterpriseQueryArgsSchema(),
        ENTERPRISE_FILTERS,
        lambda args, page: services.enterprises_page(user, args, page, now=now),
        places=services.names_of_places(),
        industries=services.registry_industries(),
        levels=RISK_LEVELS,
    )


@blp.route("/enterprises/<uuid:enterprise_id>")
def enterprise(enterprise_id: uuid.UUID) -> ResponseReturnValue:
    """One enterprise of the caller's scope: its registry entry, and the inspections, open
    tickets and documents of it the caller may see."""
    user = _require(*REGISTRY_ROLES)
    now = request_now()
    return _page(
        "staff/enterprise.html",
        data=services.enterprise_page(user, enterprise_id, now=now),
        now=now,
        places=services.names_of_places(),
        industries=services.registry_industries(),
    )


@blp.route("/inspectors")
def inspectors() -> ResponseReturnValue:
    """The active inspectors of the caller's scope (the staff directory of GET /staff): 执法证号,
    department and street, and the open inspections and tickets assigned to them."""
    user = _require(*REGISTRY_ROLES)
    now = request_now()
    return _filtered_list(
        "staff/inspectors.html",
        StaffQueryArgsSchema(),
        INSPECTOR_FILTERS,
        lambda args, page: services.inspectors_page(user, args, page, now=now),
        places=services.names_of_places(),
        departments=services.department_names(),
        today=services.beijing_today(now),
    )


# --------------------------------------------------------------------------- sampling plans


def _plan_body(form: Any) -> dict[str, Any]:
    """The API's plan body (SamplingPlanCreateSchema) from the console's form."""
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "industries": form.getlist("industries"),
        "jurisdictions": form.getlist("jurisdictions"),
        "departments": form.getlist("departments"),
        "rates": {level: form.get(f"rate_{level}", "").strip() for level in RISK_LEVELS},
        "team_size": form.get("team_size", "").strip() or 2,
        "cross_jurisdiction": form.get("cross_jurisdiction") == "1",
        "exclude_inspected_within_days": form.get("exclude_inspected_within_days", "").strip() or 0,
    }
    return body


def _load(schema: Any, body: dict[str, Any], form: Any) -> dict[str, Any]:
    """Load ``body`` with the pickers' times; every wrong field is reported at once."""
    errors: dict[str, Any] = {}
    try:
        body.update(_times(form))
    except DomainError as err:
        errors.update(err.errors or {})
    try:
        data: dict[str, Any] = schema.load(body)
    except ValidationError as err:
        errors.update(err.messages if isinstance(err.messages, dict) else {"_": err.messages})
    if errors:
        raise ValidationError(errors)
    return data


def _times(form: Any) -> dict[str, Any]:
    """The window and dispatch time from the pickers (Beijing time), as the API takes them."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    start, end = form.get("window_start", ""), form.get("window_end", "")
    try:
        if start or end:
            out["window"] = {
                "start": isoformat(services.beijing_time(start)),
                "end": isoformat(services.beijing_time(end)),
            }
    except ValueError:
        errors["window"] = [_("Pick both the start and the end.")]
    try:
        if form.get("dispatch_at"):
            out["dispatch_at"] = isoformat(services.beijing_time(form["dispatch_at"]))
    except ValueError:
        errors["dispatch_at"] = [_("Pick a date and time.")]
    if errors:
        raise DomainError("validation_error", 422, REFUSALS["validation_error"], errors)
    return out


def _flat_errors(errors: dict[str, Any]) -> dict[str, Any]:
    """Nested field errors (rates.high, window.end) under their form fields' names too."""
    flat = dict(errors)
    for key, value in errors.items():
        if isinstance(value, dict):
            for sub, messages in value.items():
                flat[f"{key}_{sub}"] = messages
    return flat


@blp.route("/plans")
def plans() -> ResponseReturnValue:
    """The planner's own sampling plans, newest first."""
    user = _require("planner")
    return _page("staff/plans.html", data=services.plans_page(user, _int("page")))


@blp.route("/plans/new", methods=["GET", "POST"])
def new_plan() -> ResponseReturnValue:
    """Create a sampling plan through the API's schema and service."""
    user = _require("planner")
    choices = services.plan_choices()
    if request.method == "GET":
        return _page("staff/plan_new.html", choices=choices, form=MultiDict(), levels=RISK_LEVELS)
    form = request.form
    try:
        data = _load(SamplingPlanCreateSchema(), _plan_body(form), form)
        plan = planning.create_plan(user, data, now=request_now())
    except (DomainError, ValidationError) as err:
        session.rollback()
        message, errors = _form_error(err)
        return _page(
            "staff/plan_new.html",
            422,
            choices=choices,
            form=form,
            levels=RISK_LEVELS,
            error=message,
            errors=_flat_errors(errors),
        )
    flash(_("Plan created: commit it to publish its seed commitment."), "ok")
    return redirect(url_for("staff.plan", plan_id=plan.id))


def _plan_view(plan_id: uuid.UUID, status: int = 200, **extra: Any) -> ResponseReturnValue:
    user = _require("planner")
    plan = planning.get_plan(user, plan_id)
    draws = planning.plan_detail_draws(plan)
    return _page(
        "staff/plan.html",
        status,
        plan=plan,
        draws=draws,
        names=services.draw_names(draws),
        progress=planning.draw_progress(plan),
        places=services.names_of_places(),
        industries=services.names_of_industries(),
        choices=services.plan_choices(),
        form=extra.pop("form", MultiDict()),
        **extra,
    )


@blp.route("/plans/<uuid:plan_id>")
def plan(plan_id: uuid.UUID) -> ResponseReturnValue:
    """One plan: its parameters, its draws (commitment, seed, targets and teams once drawn)."""
    return _plan_view(plan_id)


@blp.route("/plans/<uuid:plan_id>/<step>", methods=["POST"])
def plan_step(plan_id: uuid.UUID, step: str) -> ResponseReturnValue:
    """Commit (a redraw with its reason) or draw, as POST /sampling-plans/<id>/commit|draw."""
    if step not in ("commit", "draw"):
        return _page("staff/error.html", 404, message=_("There is no such page here."))
    user = _require("planner")
    form = request.form
    try:
        current = planning.get_plan(user, plan_id, lock=True)
        if form.get("version") != str(current.version):
            raise DomainError("console.plan_changed", 412, REFUSALS["console.plan_changed"])
        if step == "commit":
            data = SamplingCommitSchema().load({"reason": form.get("reason", "").strip() or None})
            planning.commit_plan(user, current, data.get("reason"), now=request_now())
            flash(_("Committed: the seed commitment is published; now draw."), "ok")
        else:
            planning.request_draw(user, current, now=request_now())
            if planning.draw_job_active(current):
                flash(_("The draw is large: the worker runs it; its progress is below."), "ok")
            else:
                flash(_("Drawn: the targets and teams are below, the inspections created."), "ok")
    except (DomainError, ValidationError) as err:
        if isinstance(err, DomainError) and err.status == 404:
            raise
        session.rollback()
        message, errors = _form_error(err)
        status = err.status if isinstance(err, DomainError) else 422
        return _plan_view(plan_id, status, error=message, errors=errors, form=form)
    return redirect(url_for("staff.plan", plan_id=plan_id))


# --------------------------------------------------------------------------- 四不两直 dispatch


def _dispatch_view(status: int = 200, **extra: Any) -> ResponseReturnValue:
    user = _require("planner")
    planned = services.planned_inspections(user)
    # a list of confidential visits is a read of each, logged as GET /inspections logs it
    log_confidential_reads(user, planned, "console.dispatch", request_now())
    return _page(
        "staff/dispatch.html",
        status,
        inspectors=services.inspectors_for(user),
        enterprises=services.enterprise_names(user),
        planned=planned,
        places=services.names_of_places(),
        form=extra.pop("form", MultiDict()),
        **extra,
    )


@blp.route("/dispatch", methods=["GET", "POST"])
def dispatch() -> ResponseReturnValue:
    """Dispatch an unannounced (四不两直) inspection, as POST /inspections with that type: only
    its planner and its team ever see it."""
    user = _require("planner")
    if request.method == "GET":
        return _dispatch_view()
    form = request.form
    try:
        enterprise = services.enterprise_named(user, form.get("enterprise", ""))
        if enterprise is None:
            raise DomainError(
                "validation_error",
                422,
                REFUSALS["validation_error"],
                {"enterprise": [_("No enterprise in your scope has exactly this name.")]},
            )
        body = {
            "type": "unannounced",
            "enterprise_id": str(enterprise.id),
            "inspector_ids": form.getlist("inspector_ids"),
        }
        data = _load(InspectionCreateSchema(), body, form)
        insp = inspections.create_inspection(user, data, now=request_now())
    except (DomainError, ValidationError) as err:
        session.rollback()
        message, errors = _form_error(err)
        return _dispatch_view(422, error=message, errors=_flat_errors(errors), form=form)
    flash(
        _(
            "Dispatched to %(team)s inspectors: %(name)s.",
            team=len(insp.inspector_ids),
            name=enterprise.name,
        ),
        "ok",
    )
    return redirect(url_for("staff.dispatch"))


# --------------------------------------------------------------------------- reports

HAZARD_BY = ("jurisdiction", "industry", "grade", "source")
EXPORTS = {"hazards": "hazards", "inspections": "inspections", "major-hazards": "major_hazards"}


def _report_args() -> dict[str, Any]:
    """The period picker's arguments, as the reports' API takes them (422 when wrong)."""
    raw = {k: v for k, v in request.args.items() if k in ("from", "to", "month", "by") and v}
    return dict(HazardsReportQueryArgsSchema().load(raw))


@blp.route("/reports")
def reports() -> ResponseReturnValue:
    """The statistics of docs/reports.md: hazards by street, industry, grade or source; 存量
    and 增量; 整改率; inspections; open major hazards by street; with the XLSX exports."""
    user = _me()
    query = {k: request.args.get(k, "") for k in ("from", "to", "month", "by")}
    try:
        args = _report_args()
        now = request_now()
        hazards_stats = reporting.hazards_report(user, args, now=now)
        ins_args = {
            **args,
            "by": args["by"] if args["by"] in ("jurisdiction", "industry") else "jurisdiction",
        }
        inspections_stats = reporting.inspections_report(user, ins_args, now=now)
        stock = reporting.stock_and_increment(user, args, now=now)
        major = reporting.major_hazards_report(user, {}, now=now)
    except (DomainError, ValidationError) as err:
        if isinstance(err, DomainError) and err.status in (403, 404):
            raise
        message, errors = _form_error(err)
        return _page(
            "staff/reports.html", 422, query=query, error=message, errors=errors, report=None
        )
    streets: dict[str, dict[str, Any]] = {}
    for row in major["rows"]:
        entry = streets.setdefault(
            row["jurisdiction"], {"name": row["jurisdiction_name"], "open": 0, "overdue": 0}
        )
        entry["open"] += 1
        entry["overdue"] += 1 if row["overdue"] else 0
    export_query = {k: v for k, v in query.items() if v}
    return _page(
        "staff/reports.html",
        query=query,
        report=hazards_stats,
        inspections=inspections_stats,
        stock=stock,
        major=major,
        major_by_street=sorted(streets.items(), key=lambda kv: -kv[1]["open"]),
        export_query=export_query,
        by_choices=HAZARD_BY,
    )


@blp.route("/reports/<kind>/export")
def report_export(kind: str) -> ResponseReturnValue:
    """A report as XLSX, as GET /api/v1/reports/<kind>/export (the same figures, audit-logged)."""
    if kind not in EXPORTS:
        return _page("staff/error.html", 404, message=_("There is no such page here."))
    user = _me()
    try:
        if kind == "major-hazards":
            args: dict[str, Any] = {}
        else:
            args = _report_args()
            if kind == "inspections" and args["by"] not in ("jurisdiction", "industry"):
                args["by"] = "jurisdiction"
        content, filename = export_report(user, EXPORTS[kind], args, now=request_now())
    except ValidationError:
        return _page("staff/error.html", 422, message=_("Check the fields marked below."))
    return file_response(content, XLSX_MIMETYPE, filename)


# --------------------------------------------------------------------------- work lists


@blp.route("/overdue")
def overdue() -> ResponseReturnValue:
    """The overdue tickets the caller may see (open or rectifying past their deadline)."""
    user = _me()
    args = {"overdue": True, "page": _int("page")}
    now = request_now()
    return _page(
        "staff/overdue.html",
        data=services.ledger(user, args, now=now),
        args=args,
        now=now,
        places=services.names_of_places(),
        industries=services.names_of_industries(),
    )


@blp.route("/zero")
def zero_major() -> ResponseReturnValue:
    """重大事故隐患动态清零: every open major hazard in scope, by street, most overdue first."""
    user = _me()
    report = reporting.major_hazards_report(user, {}, now=request_now())
    streets: dict[str, dict[str, Any]] = {}
    for row in report["rows"]:
        entry = streets.setdefault(
            row["jurisdiction"], {"name": row["jurisdiction_name"], "rows": [], "overdue": 0}
        )
        entry["rows"].append(row)
        entry["overdue"] += 1 if row["overdue"] else 0
    return _page(
        "staff/zero.html",
        report=report,
        streets=sorted(streets.values(), key=lambda s: (-len(s["rows"]), s["name"])),
        industries=services.names_of_industries(),
    )


# --------------------------------------------------------------------------- documents


def _inspection_view(
    inspection_id: uuid.UUID, status: int = 200, **extra: Any
) -> ResponseReturnValue:
    user = _me()
    now = request_now()
    insp = inspections.get_inspection(user, inspection_id, now=now)
    docs = documents.list_inspection_documents(user, inspection_id, now=now)
    editable = (
        user.role == "planner" and insp.planner_id == user.id and not is_started(insp)
    ) and insp.status != "cancelled"
    return _page(
        "staff/inspection.html",
        status,
        insp=insp,
        docs=docs,
        team=services.user_names(insp.inspector_ids),
        covered=rechecks.covered_tickets(user, insp, now=now),
        editable=editable,
        inspectors=services.inspectors_for(user) if editable else [],
        etag=version_etag("inspection", insp.id, insp.version),
        form=extra.pop("form", MultiDict()),
        kinds=documents.DOCUMENT_KINDS,
        may_issue=user.role in documents.ISSUERS,
        places=services.names_of_places(),
        industries=services.names_of_industries(),
        now=now,
        **extra,
    )


@blp.route("/inspections/<uuid:inspection_id>")
def inspection(inspection_id: uuid.UUID) -> ResponseReturnValue:
    """An inspection the caller may see, with its documents (执法文书) and, for enforcement
    staff, issuing one as POST /inspections/<id>/documents does."""
    return _inspection_view(inspection_id)


def _own_unstarted(user: User, inspection_id: uuid.UUID) -> Inspection:
    """The caller's own inspection, locked, as the form that changes it saw it (else 412)."""
    insp = inspections.get_own_planned(user, inspection_id)
    current = version_etag("inspection", insp.id, insp.version)
    if not hmac.compare_digest(current, request.form.get("etag", "")):
        raise DomainError("console.inspection_changed", 412, REFUSALS["console.inspection_changed"])
    return insp


def _changes(insp: Inspection, form: Any) -> dict[str, Any]:
    """The PATCH body (InspectionUpdateSchema) from the edit form: only what the planner changed
    (the pickers show minutes; a value left as shown is not a change)."""
    body: dict[str, Any] = {}
    team = form.getlist("inspector_ids")
    if set(team) != {str(i) for i in insp.inspector_ids}:
        body["inspector_ids"] = team
    shown = {
        "window_start": services.picker_value(insp.window_start),
        "window_end": services.picker_value(insp.window_end),
        "dispatch_at": services.picker_value(insp.dispatch_at),
    }
    times: MultiDict[str, str] = MultiDict()
    if any(form.get(k, "") != shown[k] for k in ("window_start", "window_end")):
        times.update({k: form.get(k, "") for k in ("window_start", "window_end")})
    if form.get("dispatch_at", "") not in ("", shown["dispatch_at"]):
        times["dispatch_at"] = form["dispatch_at"]
    return _load(InspectionUpdateSchema(), body, times)


@blp.route("/inspections/<uuid:inspection_id>/edit", methods=["POST"])
def edit_inspection(inspection_id: uuid.UUID) -> ResponseReturnValue:
    """Change the team, window or dispatch time of the caller's inspection before check-in, as
    PATCH /inspections/<id> (with the ETag the page showed); an inspector taken off it no
    longer sees it."""
    user = _require("planner")
    form = request.form
    try:
        insp = _own_unstarted(user, inspection_id)
        data = _changes(insp, form)
        if data:
            inspections.update_inspection(user, insp, data, now=request_now())
    except (DomainError, ValidationError) as err:
        if isinstance(err, DomainError) and err.status == 404:
            raise
        session.rollback()
        message, errors = _form_error(err)
        status = err.status if isinstance(err, DomainError) else 422
        return _inspection_view(
            inspection_id, status, error=message, errors=_flat_errors(errors), form=form
        )
    flash(_("Saved: the team and the times are as shown.") if data else _("Nothing changed."), "ok")
    return redirect(url_for("staff.inspection", inspection_id=inspection_id))


@blp.route("/inspections/<uuid:inspection_id>/cancel", methods=["POST"])
def cancel_inspection(inspection_id: uuid.UUID) -> ResponseReturnValue:
    """Cancel the caller's inspection before check-in with the reason, as POST
    /inspections/<id>/cancel (with the ETag the page showed)."""
    user = _require("planner")
    form = request.form
    try:
        insp = _own_unstarted(user, inspection_id)
        data = CancelSchema().load({"reason": form.get("reason", "").strip()})
        inspections.cancel_inspection(user, insp, data["reason"], now=request_now())
    except (DomainError, ValidationError) as err:
        if isinstance(err, DomainError) and err.status == 404:
            raise
        session.rollback()
        message, errors = _form_error(err)
        status = err.status if isinstance(err, DomainError) else 422
        return _inspection_view(inspection_id, status, error=message, errors=errors, form=form)
    flash(_("Cancelled: the team no longer sees this inspection."), "ok")
    return redirect(url_for("staff.inspection", inspection_id=inspection_id))


@blp.route("/inspections/<uuid:inspection_id>/documents", methods=["POST"])
def issue(inspection_id: uuid.UUID) -> ResponseReturnValue:
    """Issue (or reissue, if the record changed) a document of the inspection."""
    user = _me()
    kind = request.form.get("kind", "")
    try:
        doc = documents.issue_document(user, inspection_id, kind, now=request_now())
    except DomainError as err:
        if err.status in (403, 404):
            raise
        session.rollback()
        return _inspection_view(inspection_id, err.status, error=_refusal(err))
    flash(
        _(
            "Issued: %(kind)s %(number)s, version %(version)s.",
            kind=label(TABLES["DOCUMENT_KIND"], doc.kind),
            number=doc.number,
            version=doc.version,
        ),
        "ok",
    )
    return redirect(url_for("staff.inspection", inspection_id=inspection_id))


@blp.route("/documents")
def my_documents() -> ResponseReturnValue:
    """The enterprise's documents: those of its inspections it may see."""
    user = _require("enterprise")
    return _page(
        "staff/documents.html", docs=services.enterprise_documents(user, now=request_now())
    )


@blp.route("/documents/<uuid:document_id>/pdf")
def document_pdf(document_id: uuid.UUID) -> ResponseReturnValue:
    """A document's PDF, as GET /api/v1/documents/<id>/pdf (its inspection's visibility)."""
    doc = documents.get_document(_me(), document_id, now=request_now())
    return file_response(
        doc.pdf, "application/pdf", f"{doc.kind}-{doc.id}.pdf", inline=True, etag=doc.sha256
    )


@blp.route("/<path:rest>")
def nowhere(rest: str) -> ResponseReturnValue:
    """Any other address under /console: the console's own 404 page."""
    return _page("staff/error.html", 404, message=_("There is no such page here."))


# --------------------------------------------------------------------------- photo uploads


@blp.route("/media/uploads", methods=["POST"])
def create_upload() -> ResponseReturnValue:
    """Start a photo's tus upload from the browser: the API's content-addressed upload, signed in
    by the session (and its CSRF token in X-CSRF-Token) instead of a bearer token."""
    upload = media.create_upload(_me(), request.headers)
    response = tus_response(201, upload, Location=url_for("staff.upload", upload_id=upload.id))
    del response.headers["Upload-Offset"]
    return response


@blp.route("/media/uploads/<upload_id>", methods=["HEAD", "PATCH"])
def upload(upload_id: str) -> ResponseReturnValue:
    """Tell a tus upload's offset (HEAD) or append its bytes (PATCH); the last byte stores it."""
    if request.method == "HEAD":
        return tus_response(200, media.upload_status(_me(), upload_id, request.headers))
    done = media.append_upload(_me(), upload_id, request.headers, request.stream, now=request_now())
    return tus_response(204, done)


__all__ = ["blp", "init_staff"]
