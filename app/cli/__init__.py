"""The `fieldsafe` command: one module per command group; this one lists them all."""

from __future__ import annotations

from app.cli.audit import audit_group
from app.cli.checklists import checklists_group
from app.cli.core import db_group, demo_command, serve_command
from app.cli.hazards import hazards_group
from app.cli.media import media_group
from app.cli.notifications import notifications_group, worker_command
from app.cli.sampling import sampling_group
from app.cli.sync import sync_group

#: Every command of the `fieldsafe` CLI, in the order ``--help`` lists them.
COMMANDS = (
    serve_command,
    db_group,
    demo_command,
    audit_group,
    checklists_group,
    media_group,
    sampling_group,
    hazards_group,
    worker_command,
    notifications_group,
    sync_group,
)
