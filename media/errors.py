"""The one exception type the media library raises for refused input."""

from __future__ import annotations

from media.text import Text


class MediaError(Exception):
    """A refusal with a stable dotted code; the app maps it to its DomainError.

    ``status`` is the HTTP status the app should answer with (422 for content that
    is not an acceptable photo, 4xx variants for protocol and size problems). ``message`` is a
    :class:`media.text.Text`: English, with the template the app translates.
    """

    def __init__(self, code: str, message: Text, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"MediaError({self.code!r}, {self.message!r}, status={self.status})"
