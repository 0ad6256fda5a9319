"""Marshmallow fields every schema shares, so each format is decided once."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from app.clock import isoformat
from app.i18n import _l
from media.storage import SHA256_PATTERN


class DateTime(fields.AwareDateTime):
    """A time: out as RFC 3339 in UTC with a trailing ``Z``; in as RFC 3339 with an offset."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return isoformat(value)


#: A photo's content address: a lower-case hex SHA-256 digest.
SHA256 = validate.Regexp(f"^{SHA256_PATTERN}$", error=_l("Must be a lower-case hex SHA-256."))
