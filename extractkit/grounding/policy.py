"""Which fields are grounded: the rule, written once.

A field is grounded when its schema says so with the marker ``x-grounding``
(``true``/``false``; :class:`extractkit.markers.Grounded` in Pydantic).
Without a marker, every *free-form* string is grounded: a string that is not
an ``enum``/``const`` and carries no ``format`` or ``pattern`` (those are
normalized values the document need not spell the same way). Numbers,
booleans and dates are grounded only when marked.
"""

from __future__ import annotations

from ..markers import GROUNDING_KEY
from ..schema.view import Node

#: ``off``: nothing computed; ``check``: spans computed and reported;
#: ``require``: an ungrounded value of a grounded field is a validation error.
GROUNDING_MODES = ("off", "check", "require")
DEFAULT_GROUNDING = "check"


def is_grounded(node: Node) -> bool:
    """Whether values described by ``node`` must appear in the document."""
    marked = node.schema.get(GROUNDING_KEY)
    if isinstance(marked, bool):
        return marked
    if node.kind != "string":
        return False
    s = node.schema
    return not ("enum" in s or "const" in s or "format" in s or "pattern" in s)


__all__ = ["DEFAULT_GROUNDING", "GROUNDING_MODES", "is_grounded"]
