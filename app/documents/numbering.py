"""Document numbers (文号): per department, kind and year, gapless, fixed at the first issue.

Allocated as ticket numbers are (``app.db.next_in_counter``): the counter row is locked
``FOR UPDATE`` inside the issuing transaction, so a rolled-back issue rolls the counter back.
"""

from __future__ import annotations

from datetime import datetime

from app.db import next_in_counter
from app.documents.models import DocumentCounter
from app.hazards.numbering import CHINA_TZ


def allocate_document_number(department_code: str, kind: str, at: datetime) -> tuple[int, int]:
    """Take the next (year, seq) of the department's documents of ``kind`` under a row lock."""
    year = at.astimezone(CHINA_TZ).year
    seq = next_in_counter(DocumentCounter, department_code=department_code, kind=kind, year=year)
    return year, seq
