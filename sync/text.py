"""Messages a person reads: an English template and its values, worded by whoever shows them.

The library translates nothing: it has no catalogs and no idea of a request's language. Each
message it gives (a rejection, a field's refusal, a cursor it cannot honour) is a :class:`Text`:
a ``str`` holding the English, ready to show as it is, that also keeps its ``template`` and
named ``params``. An application with catalogs looks the template up and puts the values into
its translation, ``gettext(text.template, **text.params)``; ``sync.push.apply_push`` takes that
as its ``translate`` argument for the results it stores and answers.

Templates use named placeholders (``%(max)s``), so that a translation can put the values where
its language needs them. ``_l`` marks a template for the catalog (``pybabel extract`` finds it
as it finds an application's own ``_l``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Text", "_l"]


class Text(str):
    """A message: the English (the ``str`` itself), its ``template`` and its ``params``."""

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Text:
        """Fill ``template`` with ``params`` (``%(name)s`` placeholders) and keep both."""
        self = super().__new__(cls, template % params if params else template)
        self.template = template
        self.params = params
        return self


def _l(template: str, /, **params: Any) -> Text:
    """Mark ``template`` for the message catalog; return it as a :class:`Text` with ``params``."""
    return Text(template, **params)
