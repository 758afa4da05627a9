"""Small JSON Schema helpers: JSON pointers, sub-schema walking and local ``$ref`` lookup.

Only references inside the document are resolved: ``#``, ``#/json/pointer``,
anchors (``#name`` from ``$anchor`` or a draft-04..07 ``id``/``$id`` of the
form ``#name``) and absolute or relative URIs that name the document itself or
one of its embedded resources (``$id``). Anything else raises
:class:`~extractkit.errors.SchemaError` with ``keyword="$ref"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from ..errors import SchemaError

#: keywords whose value is a single sub-schema
SCHEMA_KEYWORDS = frozenset(
    {
        "additionalProperties",
        "additionalItems",
        "contains",
        "not",
        "if",
        "then",
        "else",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contentSchema",
    }
)
#: keywords whose value is a list of sub-schemas
SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
#: keywords whose value maps names to sub-schemas
SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)


def is_number(value: Any) -> bool:
    """A JSON number: ``int`` or ``float`` but not ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def escape_token(token: str | int) -> str:
    """Escape one reference token for a JSON pointer (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    """Undo :func:`escape_token`."""
    return token.replace("~1", "/").replace("~0", "~")


def join_pointer(pointer: str, *tokens: str | int) -> str:
    """``join_pointer("/a", "b/c", 0) == "/a/b~1c/0"``."""
    return pointer + "".join("/" + escape_token(t) for t in tokens)


def split_pointer(pointer: str) -> list[str]:
    """The unescaped tokens of a JSON pointer (``""`` is the whole document)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [unescape_token(t) for t in pointer[1:].split("/")]


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in ``document``; ``LookupError`` when absent."""
    node = document
    for token in split_pointer(pointer):
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit():
                raise LookupError(f"bad array index {token!r} in {pointer!r}")
            node = node[int(token)]
        else:
            raise LookupError(f"{pointer!r} goes through a scalar")
    return node


def iter_subschemas(schema: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """The direct sub-schemas of ``schema`` as ``(pointer, sub-schema)`` pairs."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in SCHEMA_KEYWORDS and isinstance(value, (dict, bool)):
            yield join_pointer(pointer, key), value
        elif key in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            for i, item in enumerate(value):
                yield join_pointer(pointer, key, i), item
        elif key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            for name, item in value.items():
                yield join_pointer(pointer, key, name), item
        elif key == "items":
            if isinstance(value, (dict, bool)):
                yield join_pointer(pointer, key), value
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    yield join_pointer(pointer, key, i), item
        elif key == "dependencies" and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, (dict, bool)):
                    yield join_pointer(pointer, key, name), item


def _parent_pointer(pointer: str) -> str:
    return pointer.rsplit("/", 1)[0] if pointer else ""


class LocalRefs:
    """Resolve ``$ref`` values against one document (no network, no registry)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self._bases: dict[str, str] = {}
        self._resources: dict[str, str] = {}
        self._anchors: dict[str, str] = {}
        self._index(root, "", "")
        self._resources.setdefault("", "")

    def _index(self, node: Any, pointer: str, base: str) -> None:
        if not isinstance(node, dict):
            return
        ident = node.get("$id", node.get("id"))
        if isinstance(ident, str):
            full = urljoin(base, ident)
            uri, fragment = urldefrag(full)
            if fragment:
                self._anchors[f"{uri}#{fragment}"] = pointer
            else:
                self._resources[uri] = pointer
            if uri:
                base = uri
        anchor = node.get("$anchor")
        if isinstance(anchor, str):
            self._anchors[f"{base}#{anchor}"] = pointer
        self._bases[pointer] = base
        for sub_pointer, sub in iter_subschemas(node, pointer):
            self._index(sub, sub_pointer, base)

    def base_of(self, pointer: str) -> str:
        """The base URI in effect at ``pointer`` (nearest indexed ancestor)."""
        while pointer not in self._bases and pointer:
            pointer = _parent_pointer(pointer)
        return self._bases.get(pointer, "")

    def resolve(self, ref: str, pointer: str = "") -> tuple[str, Any]:
        """``(target pointer, target schema)`` for ``ref`` found at ``pointer``."""
        full = urljoin(self.base_of(pointer), ref)
        uri, fragment = urldefrag(full)
        fragment = unquote(fragment)
        if uri not in self._resources:
            raise SchemaError(
                f"cannot resolve $ref {ref!r}: only references inside the document are supported",
                pointer=pointer,
                keyword="$ref",
            )
        if fragment and not fragment.startswith("/"):
            target = self._anchors.get(f"{uri}#{fragment}")
            if target is None:
                raise SchemaError(
                    f"unknown anchor in $ref {ref!r}", pointer=pointer, keyword="$ref"
                )
        else:
            target = self._resources[uri] + fragment
        try:
            value = resolve_pointer(self.root, target)
        except (LookupError, ValueError) as exc:
            raise SchemaError(
                f"$ref {ref!r} points nowhere", pointer=pointer, keyword="$ref"
            ) from exc
        if not isinstance(value, (dict, bool)):
            raise SchemaError(
                f"$ref {ref!r} does not point to a schema", pointer=pointer, keyword="$ref"
            )
        return target, value


__all__ = [
    "SCHEMA_KEYWORDS",
    "SCHEMA_LIST_KEYWORDS",
    "SCHEMA_MAP_KEYWORDS",
    "LocalRefs",
    "escape_token",
    "is_number",
    "iter_subschemas",
    "join_pointer",
    "resolve_pointer",
    "split_pointer",
    "unescape_token",
]
