"""The demo district (长宁区): streets, departments, accounts, enterprises and work in progress.

A client of the services, like any other: each loader creates its part through the same
functions real use goes through, and each is idempotent, so ``fieldsafe demo`` can run again.
"""

from __future__ import annotations

from app.checklists.services import load_library
from app.clock import utcnow
from app.db import session
from app.demo.documents import load_documents_demo
from app.demo.fieldwork import load_review_demo
from app.demo.hazards import load_hazards_demo
from app.demo.org import STREETS, load_accounts, load_enterprises, load_org
from app.demo.planning import load_planning_demo


def load_demo() -> dict[str, int]:
    """Load everything the demo needs, in dependency order; safe to run again."""
    load_org()
    load_library(now=utcnow())
    enterprises = load_enterprises()
    users = load_accounts(enterprises)
    summary = {
        "jurisdictions": len(STREETS) + 1,
        "enterprises": len(enterprises),
        "accounts": len(users),
    }
    summary.update(load_planning_demo())
    summary.update(load_hazards_demo())
    summary.update(load_review_demo())
    summary.update(load_documents_demo())
    session.commit()
    return summary
