"""Wiring: the one place where the application's parts are put together, per app.

Importing a module registers nothing. :func:`wire` is called once by ``create_app`` and attaches,
to that app only: the API blueprints, the CLI commands, the hooks through which one domain
serves another without importing it (which records cite a photo, what happens when a photo
arrives), and the sync mutations devices may push. Add a blueprint, a command, a hook or a
mutation here, and nowhere else."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.audit.hooks import install_bindings
from app.audit.routes import blp as audit_blp
from app.auth.routes import blp as auth_blp
from app.checklists.routes import blp as checklists_blp
from app.cli import COMMANDS
from app.fieldapp.routes import bp as fieldapp_bp
from app.hazards.routes import blp as hazards_blp
from app.hazards.visibility import photo_visible as hazard_cites_photo
from app.inspections.photos import release_waiting_findings
from app.inspections.routes import blp as inspections_blp
from app.inspections.visibility import finding_cites_photo
from app.media.routes import blp as media_blp
from app.media.services import PhotoHooks
from app.org.routes import blp as org_blp
from app.planning.routes import blp as planning_blp
from app.public_reports.routes import blp as public_reports_blp
from app.public_reports.services import photo_visible as report_cites_photo
from app.registry.routes import blp as registry_blp
from app.reports.routes import blp as reports_blp
from app.review.routes import blp as review_blp
from app.sync.handlers import SPECS as SYNC_MUTATIONS
from app.sync.routes import blp as sync_blp

API_PREFIX = "/api/v1"

#: The API's blueprints, in the order the OpenAPI document lists them.
BLUEPRINTS = (
    auth_blp,
    org_blp,
    audit_blp,
    checklists_blp,
    registry_blp,
    planning_blp,
    inspections_blp,
    media_blp,
    sync_blp,
    review_blp,
    hazards_blp,
    public_reports_blp,
    reports_blp,
)

#: Which records cite a photo (its viewers may fetch it), and what runs when a photo is stored.
PHOTO_HOOKS = PhotoHooks(
    citations=(finding_cites_photo, hazard_cites_photo, report_cites_photo),
    stored=(release_waiting_findings,),
)


def wire(app: Flask, api: Any) -> None:
    """Attach the blueprints, commands and hooks to ``app``."""
    # Every commit binds the covered rows it wrote to the audit chain (app/audit/bindings.py).
    install_bindings(app.extensions["db"].sessionmaker)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=API_PREFIX)
    # Pages outside the API: the field app (PWA) at /app/ (docs/field-app.md).
    app.register_blueprint(fieldapp_bp)
    for command in COMMANDS:
        app.cli.add_command(command)
    app.extensions["photo_hooks"] = PHOTO_HOOKS
    app.extensions["sync_mutations"] = SYNC_MUTATIONS
