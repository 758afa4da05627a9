"""``allOf`` semantics: two JSON Schemas merged into one that means both.

The one merge used by the normalized view (:mod:`.view`) and the strict encoder
(:mod:`.strict`). :func:`merge_schemas` intersects what it can express as one
schema and hands back the rest as a *residue* (keyword, value) list, which the
caller enforces another way (the strict encoder moves it to local validation;
the view, which only describes, keeps the first value):

* ``type``: the intersection (``integer`` within ``number``); empty →
  :class:`Unsatisfiable`;
* ``properties``/``patternProperties``/``dependentSchemas``: the union of the
  names; a name in both becomes ``{"allOf": [left, right]}`` (merged when that
  place is walked);
* ``required``: the union; ``enum``: the intersection (by JSON equality);
  ``const``: two different constants → :class:`Unsatisfiable`;
* lower bounds (``minimum``, ``minLength`` …) the larger, upper bounds the
  smaller; ``uniqueItems`` either;
* single sub-schema keywords (``items``, ``additionalProperties`` …):
  ``{"allOf": [left, right]}``, ``false`` if either is ``false``;
* ``anyOf`` with ``anyOf``: the product of the alternatives (at most
  :data:`MAX_PRODUCT` combinations, else :class:`~extractkit.errors.SchemaError`);
* annotations (``title``, ``description``, ``default`` …) and meta keywords:
  the left one wins.

Nothing here follows a ``$ref``: callers pass schemas whose top-level ``$ref``
and ``allOf`` are already resolved (the view's nodes, the encoder's expansion).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import SchemaError
from .jsonutil import is_number

#: The most alternatives ``allOf`` of two unions may multiply out to.
MAX_PRODUCT = 64

#: JSON types in the order a merged ``type`` list lists them.
TYPE_ORDER = ("object", "array", "string", "number", "integer", "boolean", "null")

META_KEYWORDS = frozenset(
    {"$schema", "$id", "id", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary",
     "$defs", "definitions"}
)  # fmt: skip
ANNOTATION_KEYWORDS = frozenset({"title", "description"})
INFO_KEYWORDS = ("default", "examples", "readOnly", "writeOnly", "deprecated")
LOWER_BOUNDS = frozenset(
    {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"}
)
UPPER_BOUNDS = frozenset(
    {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"}
)
_SUBSCHEMA_KEYWORDS = frozenset(
    {"items", "additionalProperties", "additionalItems", "propertyNames", "contains",
     "unevaluatedProperties", "unevaluatedItems"}
)  # fmt: skip
_NAMED_SUBSCHEMAS = ("properties", "patternProperties", "dependentSchemas")

#: ``(keyword, value)`` pairs of the right-hand schema that the merge could not fold in.
Residue = list[tuple[str, Any]]


class Unsatisfiable(SchemaError):
    """No value matches the schema (an optional property or alternative can be left out)."""


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values (``1 == True`` does not count)."""
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return bool(a == b)


def merge_types(left: Any, right: Any, pointer: str) -> Any:
    """The intersection of two ``type`` values (a name or a list of names)."""
    a = {left} if isinstance(left, str) else set(left or [])
    b = {right} if isinstance(right, str) else set(right or [])
    both = a & b
    if ("integer" in a and "number" in b) or ("number" in a and "integer" in b):
        both.add("integer")
    if not both:
        raise Unsatisfiable("allOf combines incompatible types", pointer=pointer, keyword="allOf")
    ordered = [t for t in TYPE_ORDER if t in both] + sorted(both - set(TYPE_ORDER))
    return ordered[0] if len(ordered) == 1 else ordered


def merge_schemas(
    left: dict[str, Any], right: dict[str, Any], pointer: str, residue: Residue | None = None
) -> dict[str, Any]:
    """One schema meaning ``left`` and ``right`` (see the module docstring).

    What cannot be merged is appended to ``residue`` (when given) and the left
    value kept. Raises :class:`Unsatisfiable` when no value can match both.
    """
    out = dict(left)
    rest: Residue = [] if residue is None else residue
    for key, value in right.items():
        if key not in out:
            out[key] = value
        elif not same_json(out[key], value):
            out[key] = _merge_keyword(key, out[key], value, pointer, rest)
    return out


def _merge_keyword(key: str, u: Any, v: Any, pointer: str, residue: Residue) -> Any:
    if key in ANNOTATION_KEYWORDS or key in META_KEYWORDS or key in INFO_KEYWORDS:
        return u
    if key == "type":
        return merge_types(u, v, pointer)
    if key in _NAMED_SUBSCHEMAS and isinstance(u, dict):
        if not isinstance(v, dict):
            return u
        out = dict(u)
        for name, sub in v.items():
            out[name] = {"allOf": [out[name], sub]} if name in out else sub
        return out
    if key == "required" and isinstance(u, list) and isinstance(v, list):
        return u + [x for x in v if x not in u]
    if key == "enum" and isinstance(u, list) and isinstance(v, list):
        return [x for x in u if any(same_json(x, y) for y in v)]
    if key == "const":
        raise Unsatisfiable("allOf requires two different constants", pointer=pointer,
                            keyword="allOf")
    if key in LOWER_BOUNDS and is_number(u) and is_number(v):
        return max(u, v)
    if key in UPPER_BOUNDS and is_number(u) and is_number(v):
        return min(u, v)
    if key == "uniqueItems":
        return bool(u) or bool(v)
    if key in _SUBSCHEMA_KEYWORDS and not isinstance(u, list) and not isinstance(v, list):
        return False if u is False or v is False else {"allOf": [u, v]}
    if key == "anyOf" and isinstance(u, list) and isinstance(v, list):
        if len(u) * len(v) > MAX_PRODUCT:
            raise SchemaError("allOf of unions has too many combinations", pointer=pointer,
                              keyword="allOf")
        return [{"allOf": [x, y]} for x in u for y in v]
    residue.append((key, v))
    return u


__all__ = [
    "ANNOTATION_KEYWORDS",
    "INFO_KEYWORDS",
    "LOWER_BOUNDS",
    "MAX_PRODUCT",
    "META_KEYWORDS",
    "TYPE_ORDER",
    "UPPER_BOUNDS",
    "Residue",
    "Unsatisfiable",
    "merge_schemas",
    "merge_types",
    "same_json",
]
