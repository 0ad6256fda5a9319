"""Document numbers (文号): per department, kind and year, gapless, fixed at the first issue.

Allocated the way ticket numbers are (``app.hazards.numbering``): the counter row is locked
``FOR UPDATE`` inside the issuing transaction, so a rolled-back issue rolls the counter back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import session
from app.documents.models import DocumentCounter
from app.hazards.numbering import CHINA_TZ


def allocate_document_number(department_code: str, kind: str, at: datetime) -> tuple[int, int]:
    """Take the next (year, seq) of the department's documents of ``kind`` under a row lock."""
    year = at.astimezone(CHINA_TZ).year
    lock = (
        select(DocumentCounter)
        .where(
            DocumentCounter.department_code == department_code,
            DocumentCounter.kind == kind,
            DocumentCounter.year == year,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    counter = session.execute(lock).scalar_one_or_none()
    if counter is None:
        try:
            with session.begin_nested():
                session.add(DocumentCounter(department_code=department_code, kind=kind, year=year))
                session.flush()
        except IntegrityError:
            pass  # another transaction created the row first; lock theirs
        counter = session.execute(lock).scalar_one()
    counter.last += 1
    session.flush()
    return year, counter.last
