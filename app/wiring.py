"""Wiring: the one place where the application's parts are put together, per app.

Importing a module registers nothing. :func:`wire` is called once by ``create_app`` and attaches,
to that app only: the API blueprints, the HTML pages, the CLI commands, the hooks through which
one domain serves another without importing it (which records cite a photo, what happens when a
photo arrives), and the sync mutations devices may push. Add a blueprint, a command, a hook or
a mutation here, and nowhere else."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.audit.hooks import install_bindings
from app.audit.routes import blp as audit_blp
from app.auth.routes import blp as auth_blp
from app.checklists.routes import blp as checklists_blp
from app.cli import COMMANDS
from app.documents.pages import pages as document_pages
from app.documents.routes import blp as documents_blp
from app.fieldapp.routes import bp as fieldapp_bp
from app.hazards.routes import blp as hazards_blp
from app.hazards.services import republish_for as republish_tickets
from app.hazards.visibility import photo_visible as hazard_cites_photo
from app.inspections.photos import release_waiting_findings
from app.inspections.routes import blp as inspections_blp
from app.inspections.services import republish_for as republish_inspections
from app.inspections.visibility import finding_cites_photo
from app.media.routes import blp as media_blp
from app.media.services import PhotoHooks
from app.org.routes import blp as org_blp
from app.planning.routes import blp as planning_blp
from app.public_reports.routes import blp as public_reports_blp
from app.public_reports.services import photo_visible as report_cites_photo
from app.public_site.routes import bp as public_site_bp
from app.registry.routes import blp as registry_blp
from app.registry.services import RegistryHooks
from app.reports.routes import blp as reports_blp
from app.review.routes import blp as review_blp
from app.staff.routes import blp as staff_blp
from app.staff.routes import init_staff
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
    documents_blp,
    public_reports_blp,
    reports_blp,
)

#: The HTML pages' blueprints (not in the OpenAPI document), with where each is mounted.
PAGES = (
    (public_site_bp, "/public"),
    (document_pages, "/public"),
    (staff_blp, "/console"),
    (fieldapp_bp, "/app"),  # the field app (PWA), docs/field-app.md
)

#: Which records cite a photo (its viewers may fetch it), and what runs when a photo is stored.
PHOTO_HOOKS = PhotoHooks(
    citations=(finding_cites_photo, hazard_cites_photo, report_cites_photo),
    stored=(release_waiting_findings,),
)

#: What runs when registered enterprises are edited: the records showing their fields go
#: back into the devices' feed.
REGISTRY_HOOKS = RegistryHooks(edited=(republish_inspections, republish_tickets))


def wire(app: Flask, api: Any) -> None:
    """Attach the blueprints, commands and hooks to ``app``."""
    # Every commit binds the covered rows it wrote to the audit chain (app/audit/bindings.py).
    install_bindings(app.extensions["db"].sessionmaker)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=API_PREFIX)
    for bp, prefix in PAGES:
        app.register_blueprint(bp, url_prefix=prefix)
    for command in COMMANDS:
        app.cli.add_command(command)
    # The staff console's cookie settings and the site root (/ leads to the console).
    init_staff(app)
    app.extensions["photo_hooks"] = PHOTO_HOOKS
    app.extensions["registry_hooks"] = REGISTRY_HOOKS
    app.extensions["sync_mutations"] = SYNC_MUTATIONS
