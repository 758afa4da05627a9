"""How many tokens a value of a schema needs: the default generation limit.

A rough, deliberately generous count used when a request sets no
``max_tokens`` (the embedded model's budget): enough for a complete value,
small enough that a model running away is cut early. It walks the one
normalized schema view (:mod:`.view`), so ``$ref``, ``allOf``, anchors and
``Optional[X]`` read the same here as everywhere else.
"""

from __future__ import annotations

import json
from typing import Any

from .view import Node, schema_view

#: Deeper than this (a recursive schema), a value counts as one free-form string.
MAX_DEPTH = 4
#: Tokens assumed for a string with no ``maxLength`` (and for unknown parts).
STRING_TOKENS = 24
#: Items assumed for an array without ``maxItems``, and the most ever counted.
DEFAULT_ITEMS = 8
MAX_ITEMS = 32


def schema_token_budget(schema: dict[str, Any] | bool) -> int:
    """A rough count of the tokens a value of ``schema`` needs."""
    return _budget(schema_view(schema).root, 0)


def _budget(node: Node | None, depth: int) -> int:
    if node is None or depth > MAX_DEPTH:
        return STRING_TOKENS
    node = node.unwrap()
    if node.branches:
        return max(_budget(b, depth + 1) for b in node.branches)
    s = node.schema
    if "enum" in s or "const" in s:
        values = s.get("enum") or [s.get("const")]
        return 2 + max(len(json.dumps(v, default=str)) for v in values) // 2
    kind = node.kind
    if kind == "object":
        props = node.properties
        total = 2 + sum(4 + len(k) // 3 + _budget(sub, depth + 1) for k, sub in props.items())
        if node.additional is not None or (
            not props and s.get("additionalProperties") is not False
        ):
            total += 4 * (6 + _budget(node.additional, depth + 1))
        return total
    if kind == "array":
        count = min(int(s.get("maxItems") or DEFAULT_ITEMS), MAX_ITEMS)
        return 2 + count * (1 + _budget(node.items, depth + 1))
    if kind == "string":
        length = s.get("maxLength")
        return 2 + (length // 2 if isinstance(length, int) else STRING_TOKENS)
    if kind in ("integer", "number"):
        return 8
    if kind in ("boolean", "null"):
        return 2
    return STRING_TOKENS


__all__ = ["schema_token_budget"]
