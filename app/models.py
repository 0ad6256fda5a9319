"""Every table of the application, in one metadata (Alembic and the tests' create_all use it).

Each domain's models module is named here; a new one is added to this list.
"""

from __future__ import annotations

from app.audit import models as audit_models
from app.auth import models as auth_models
from app.checklists import models as checklists_models
from app.db import Base
from app.documents import models as documents_models
from app.hazards import models as hazards_models
from app.inspections import models as inspections_models
from app.media import models as media_models
from app.notifications import models as notifications_models
from app.org import models as org_models
from app.planning import models as planning_models
from app.public_reports import models as public_reports_models
from app.registry import models as registry_models
from app.review import models as review_models
from app.sync import models as sync_models

MODULES = (
    audit_models,
    auth_models,
    checklists_models,
    documents_models,
    hazards_models,
    inspections_models,
    media_models,
    notifications_models,
    org_models,
    planning_models,
    public_reports_models,
    registry_models,
    review_models,
    sync_models,
)
metadata = Base.metadata
