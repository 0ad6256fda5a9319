"""The one exception type the media library raises for refused input."""

from __future__ import annotations


class MediaError(Exception):
    """A refusal with a stable dotted code; the app maps it to its DomainError.

    ``status`` is the HTTP status the app should answer with (422 for content that
    is not an acceptable photo, 4xx variants for protocol and size problems).
    """

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"MediaError({self.code!r}, {self.message!r}, status={self.status})"
