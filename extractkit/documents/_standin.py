"""A stand-in until the grounding engineer's aligner lands on main.

``ground_value`` follows the contract of ``grounding/align.py`` (exact,
case-insensitive matches only). :mod:`.run` imports the real one when it
exists. Delete this file once it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..grounding.policy import is_grounded
from ..grounding.spans import Grounding, LeafGrounding, Span
from ..schema.view import SchemaView


def ground_value(value: Any, view: SchemaView, documents: Mapping[str, str]) -> Grounding:
    """Exact, case-insensitive matches of grounded string leaves in ``documents["text"]``."""
    text = documents.get("text", "")
    folded = text.casefold()
    leaves: dict[str, LeafGrounding] = {}
    for leaf in view.leaves(value):
        if not isinstance(leaf.value, str) or not leaf.value or not is_grounded(leaf.node):
            continue
        at = folded.find(leaf.value.casefold()) if len(folded) == len(text) else text.find(leaf.value)
        if at >= 0:
            leaves[leaf.pointer] = LeafGrounding(leaf.pointer, leaf.value, "exact", 1.0,
                                                 (Span(at, at + len(leaf.value)),))
        else:
            leaves[leaf.pointer] = LeafGrounding(leaf.pointer, leaf.value, "ungrounded", 0.0)
    return Grounding(leaves)
