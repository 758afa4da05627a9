"""OpenAI strict-mode size limits, checked on a finished wire schema.

The numbers are data: ``[strict_limits]`` in ``extractkit/provider_profiles.toml``
(with the link to their source). From the Structured Outputs guide: at most :data:`MAX_PROPERTIES` object
properties in total, :data:`MAX_DEPTH` levels of object nesting,
:data:`MAX_ENUM_VALUES` enum values in total (:data:`LARGE_ENUM_CHARS`
characters for one string enum of more than :data:`LARGE_ENUM` values) and
:data:`MAX_STRING_CHARS` characters of property names, definition names, enum
and const values. :func:`check_limits` raises :class:`TooLarge`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import SchemaError
from ..profiles import CATALOGUE

_LIMITS = CATALOGUE.strict_limits
MAX_DEPTH: int = _LIMITS["max_depth"]
MAX_PROPERTIES: int = _LIMITS["max_properties"]
MAX_ENUM_VALUES: int = _LIMITS["max_enum_values"]
MAX_STRING_CHARS: int = _LIMITS["max_string_chars"]
LARGE_ENUM: int = _LIMITS["large_enum"]
LARGE_ENUM_CHARS: int = _LIMITS["large_enum_chars"]


class TooLarge(SchemaError):
    """The wire schema breaks one of the strict-mode size limits."""


def _walk_wire(node: Any) -> Iterable[dict[str, Any]]:
    if not isinstance(node, dict):
        return
    yield node
    for key in ("properties", "$defs"):
        if isinstance(node.get(key), dict):
            for sub in node[key].values():
                yield from _walk_wire(sub)
    if isinstance(node.get("items"), dict):
        yield from _walk_wire(node["items"])
    for sub in node.get("anyOf", []) if isinstance(node.get("anyOf"), list) else []:
        yield from _walk_wire(sub)


def _depth(node: Any, defs: dict[str, Any], stack: frozenset[str], memo: dict[str, int]) -> int:
    if not isinstance(node, dict):
        return 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in stack:
            return 0
        if ref not in memo:
            target = defs.get("#") if ref == "#" else defs.get(ref.split("/")[-1])
            memo[ref] = _depth(target, defs, stack | {ref}, memo)
        return memo[ref]
    subs: list[Any] = []
    if isinstance(node.get("properties"), dict):
        subs.extend(node["properties"].values())
    if isinstance(node.get("items"), dict):
        subs.append(node["items"])
    if isinstance(node.get("anyOf"), list):
        subs.extend(node["anyOf"])
    inner = max((_depth(x, defs, stack, memo) for x in subs), default=0)
    return inner + (1 if node.get("type") == "object" else 0)


def check_limits(wire: dict[str, Any]) -> None:
    props = enum_values = chars = 0
    for node in _walk_wire(wire):
        if isinstance(node.get("properties"), dict):
            props += len(node["properties"])
            chars += sum(len(k) for k in node["properties"])
        values = node.get("enum")
        if isinstance(values, list):
            enum_values += len(values)
            text = sum(len(v) for v in values if isinstance(v, str))
            chars += text
            if len(values) > LARGE_ENUM and text > LARGE_ENUM_CHARS:
                raise TooLarge(
                    f"an enum of {len(values)} strings totals {text} characters; strict mode "
                    f"allows {LARGE_ENUM_CHARS} beyond {LARGE_ENUM} values",
                    pointer="",
                    keyword="enum",
                )
        if isinstance(node.get("const"), str):
            chars += len(node["const"])
    defs = dict(wire.get("$defs", {}))
    chars += sum(len(k) for k in defs)
    defs["#"] = wire
    depth = _depth(wire, defs, frozenset({"#"}), {})
    for count, limit, what, keyword in (
        (props, MAX_PROPERTIES, "object properties", "properties"),
        (enum_values, MAX_ENUM_VALUES, "enum values", "enum"),
        (chars, MAX_STRING_CHARS, "characters of names and values", "properties"),
        (depth, MAX_DEPTH, "levels of object nesting", "properties"),
    ):
        if count > limit:
            raise TooLarge(
                f"the strict schema has {count} {what}; OpenAI strict mode allows {limit}",
                pointer="",
                keyword=keyword,
            )


__all__ = [
    "LARGE_ENUM",
    "LARGE_ENUM_CHARS",
    "MAX_DEPTH",
    "MAX_ENUM_VALUES",
    "MAX_PROPERTIES",
    "MAX_STRING_CHARS",
    "TooLarge",
    "check_limits",
]
