"""HTTP helpers shared by views: pagination and optimistic-concurrency ETags."""

from __future__ import annotations

from typing import Any

from flask import g, request
from sqlalchemy import Select, func, select

from app.db import session
from app.errors import DomainError


def paginate(stmt: Select[Any], pagination_parameters: Any) -> list[Any]:
    """Run `stmt` for one page and record the total for the X-Pagination header."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pagination_parameters.item_count = total or 0
    page = stmt.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    return list(session.execute(page).scalars())


def version_etag(entity_type: str, entity_id: Any, version: int) -> str:
    """Return the strong ETag of a versioned resource."""
    return f'"{entity_type}-{entity_id}-v{version}"'


def set_etag(etag: str) -> None:
    """Send `etag` (quoted) with this response."""
    g.response_etag = etag


def check_if_match(current: str, required: bool = True) -> None:
    """Refuse a stale update (412) or, when required, an update without If-Match (428)."""
    header = request.headers.get("If-Match")
    if not header:
        if required:
            raise DomainError(
                "precondition_required",
                428,
                "Send If-Match with the ETag you last read, so that no one's "
                "change is overwritten.",
            )
        return
    candidates = [c.strip() for c in header.split(",")]
    if "*" in candidates or current in candidates or current.strip('"') in candidates:
        return
    raise DomainError(
        "precondition_failed",
        412,
        "The resource changed since you read it; fetch it again and retry.",
        etag=current,
    )


def if_none_match(etag: str) -> bool:
    """Tell whether the client already holds `etag` (answer 304)."""
    header = request.headers.get("If-None-Match", "")
    return (
        any(c.strip() in (etag, etag.strip('"'), "*") for c in header.split(","))
        if header
        else False
    )
