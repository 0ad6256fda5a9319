"""Marshmallow fields every schema shares, so each format is decided once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from marshmallow import fields, validate
from marshmallow.experimental.context import Context

from app.clock import isoformat
from app.i18n import _l
from media.storage import SHA256_PATTERN


class DumpValues(TypedDict):
    """What a dump is made as of: ``now``, the moment overdue and effective statuses are judged."""

    now: datetime


#: The marshmallow context of a dump. The routes set it for each response
#: (:class:`app.http.Blueprint`, with the request's time), the sync feed for each pull; schemas
#: read the time from it (:func:`dump_now`), never from the clock.
DumpContext = Context[DumpValues]


def dump_now() -> datetime:
    """Return the time the current dump is made as of (LookupError outside a DumpContext)."""
    return DumpContext.get()["now"]


class DateTime(fields.AwareDateTime):
    """A time: out as RFC 3339 in UTC with a trailing ``Z``; in as RFC 3339 with an offset."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return isoformat(value)


#: A photo's content address: a lower-case hex SHA-256 digest.
SHA256 = validate.Regexp(f"^{SHA256_PATTERN}$", error=_l("Must be a lower-case hex SHA-256."))
