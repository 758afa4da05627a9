"""One normalized view of a JSON Schema, for everything that walks a schema.

The strict encoder, the prompt renderer, the grammar builder, the token
budget, grounding, document merging and eval matching all need the same
answers: *what is at this place of the schema* (``$ref`` followed, ``allOf``
merged, ``type`` lists and nullability read once) and *which schema describes
this part of a value*. :class:`SchemaView` gives those answers, computed
lazily and cached per node, so recursive schemas cost nothing until walked::

    view = schema_view(Invoice.model_json_schema())
    root = view.root                      # a Node
    root.kind                             # "object"
    root.properties["items"].items.kind   # "object"
    for leaf in view.leaves(value):       # every scalar of a value, by schema
        leaf.pointer, leaf.value, leaf.node.kind

References are resolved by :class:`~.jsonutil.LocalRefs` only (the one
resolver): ``#``, JSON pointers, ``$anchor`` names and embedded ``$id``
resources. A reference outside the document raises
:class:`~extractkit.errors.SchemaError` naming the pointer. ``allOf`` is merged
by :func:`~.merge.merge_schemas` only (the merge the strict encoder uses too);
an ``allOf`` no value can satisfy is a ``never`` node, and what could not be
merged is kept in :attr:`Node.residue`.

Walkers of raw schema dicts (the prompt renderer, the grammar builder) use
:meth:`SchemaView.resolve` and :meth:`SchemaView.node_for` rather than a
resolver of their own; :meth:`SchemaView.check_references` is the compile-time
check every target gets (remote, dangling and cyclic references).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import SchemaError
from .jsonutil import LocalRefs, is_number, iter_subschemas, join_pointer
from .merge import Unsatisfiable, merge_schemas

#: What a node can be. ``union`` has :attr:`Node.branches`; ``any`` accepts
#: every value; ``never`` accepts none (``false``).
KINDS = ("object", "array", "string", "number", "integer", "boolean", "null", "union", "any", "never")

_SCALAR_KINDS = frozenset({"string", "number", "integer", "boolean", "null"})
_OBJECT_HINTS = ("properties", "additionalProperties", "patternProperties", "required",
                 "minProperties", "maxProperties", "propertyNames")
_ARRAY_HINTS = ("items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems")
_STRING_HINTS = ("minLength", "maxLength", "pattern", "format")
_NUMBER_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
#: The longest chain of ``$ref`` → ``$ref`` followed before it counts as a cycle.
_MAX_REF_CHAIN = 64


def json_type(value: Any) -> str:
    """The JSON type name of a Python value (``"integer"`` for integral ints)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


class Node:
    """One place in a schema after normalization.

    ``schema`` is the merged schema dict at this place: ``$ref`` followed
    (sibling keywords kept), ``allOf`` members merged in. ``pointer`` is where
    it was found in the document (the ``$ref`` target when one was followed).
    ``recursive`` is true when reaching this node went through a reference to
    one of its own ancestors (a recursive model).
    """

    __slots__ = ("__dict__", "_parent", "_view", "never", "pointer", "recursive", "residue",
                 "schema")

    def __init__(self, view: SchemaView, pointer: str, schema: dict[str, Any],
                 recursive: bool, *, never: bool = False) -> None:
        self._parent: Node | None = None
        self._view = view
        self.pointer = pointer
        self.schema = schema
        self.recursive = recursive
        #: no value matches (``false``, or an ``allOf`` that cannot be satisfied)
        self.never = never
        #: ``(keyword, value)`` of ``allOf`` members / ``$ref`` targets that could not be
        #: merged into :attr:`schema` (see :mod:`.merge`); the first value was kept
        self.residue: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        return f"Node({self.pointer or '#'!r}, kind={self.kind!r})"

    # -- what it is ---------------------------------------------------------

    @cached_property
    def types(self) -> frozenset[str]:
        """The JSON types this node admits (``integer`` implies ``number`` values too)."""
        s = self.schema
        declared = s.get("type")
        if isinstance(declared, str):
            found = {declared}
        elif isinstance(declared, list):
            found = {t for t in declared if isinstance(t, str)}
        else:
            found = set()
            values = [s["const"]] if "const" in s else list(s.get("enum") or [])
            if values:
                found = {json_type(v) for v in values}
            elif any(k in s for k in _OBJECT_HINTS):
                found = {"object"}
            elif any(k in s for k in _ARRAY_HINTS):
                found = {"array"}
            elif any(k in s for k in _STRING_HINTS):
                found = {"string"}
            elif any(k in s for k in _NUMBER_HINTS):
                found = {"number"}
        return frozenset(found)

    @cached_property
    def kind(self) -> str:
        """One of :data:`KINDS`."""
        if self.never or self.schema.get("enum") == []:
            return "never"
        if self.branches:
            return "union"
        alts = [b for b in self._all_branches if b.kind != "null"]
        if len(alts) == 1:  # Optional[X]: the kind of X
            return alts[0].kind
        kinds = self.types - {"null"}
        if not self.types:
            return "null" if self._all_branches else "any"
        if not kinds:
            return "null"
        if len(kinds) == 1:
            return next(iter(kinds))
        if kinds == {"integer", "number"}:
            return "number"
        return "union"

    @cached_property
    def nullable(self) -> bool:
        """``null`` is a valid value here."""
        if "null" in self.types:
            return True
        return any(b.kind == "null" or b.nullable for b in self._all_branches)

    @property
    def is_scalar(self) -> bool:
        return self.kind in _SCALAR_KINDS

    # -- children -------------------------------------------------------------

    @cached_property
    def properties(self) -> dict[str, Node]:
        props = self.schema.get("properties")
        if not isinstance(props, dict):
            return {}
        base = self._base
        return {name: self._view._node(sub, join_pointer(base, "properties", name), self)
                for name, sub in props.items() if isinstance(sub, (dict, bool))}

    @cached_property
    def required(self) -> frozenset[str]:
        req = self.schema.get("required")
        return frozenset(r for r in req if isinstance(r, str)) if isinstance(req, list) else frozenset()

    @cached_property
    def additional(self) -> Node | None:
        """The schema of members beyond ``properties`` (a map's values), if any are allowed."""
        extra = self.schema.get("additionalProperties")
        if isinstance(extra, dict):
            return self._view._node(extra, join_pointer(self._base, "additionalProperties"), self)
        pattern = self.schema.get("patternProperties")
        if isinstance(pattern, dict) and pattern:
            name, sub = next(iter(pattern.items()))
            return self._view._node(sub, join_pointer(self._base, "patternProperties", name), self)
        return None

    @cached_property
    def items(self) -> Node | None:
        """The schema of array items (after any ``prefixItems``)."""
        items = self.schema.get("items")
        if isinstance(items, (dict, bool)) and items is not False:
            return self._view._node(items, join_pointer(self._base, "items"), self)
        extra = self.schema.get("additionalItems")
        if isinstance(items, list) and isinstance(extra, dict):
            return self._view._node(extra, join_pointer(self._base, "additionalItems"), self)
        return None

    @cached_property
    def prefix_items(self) -> list[Node]:
        """Positional item schemas (``prefixItems``, or draft-04 ``items`` as a list)."""
        prefix = self.schema.get("prefixItems")
        key = "prefixItems"
        if not isinstance(prefix, list):
            prefix, key = self.schema.get("items"), "items"
        if not isinstance(prefix, list):
            return []
        return [self._view._node(sub, join_pointer(self._base, key, i), self)
                for i, sub in enumerate(prefix)]

    @cached_property
    def _all_branches(self) -> list[Node]:
        out: list[Node] = []
        for key in ("anyOf", "oneOf"):
            alts = self.schema.get(key)
            if not isinstance(alts, list):
                continue
            siblings = {k: v for k, v in self.schema.items() if k not in ("anyOf", "oneOf")}
            for i, sub in enumerate(alts):
                if not isinstance(sub, (dict, bool)):
                    continue
                branch = self._view._node(sub, join_pointer(self._base, key, i), self)
                if siblings and _has_content(siblings) and not branch.never:
                    try:
                        merged = merge_schemas(siblings, branch.schema, branch.pointer)
                    except Unsatisfiable:
                        branch = Node(self._view, branch.pointer, {}, branch.recursive, never=True)
                    else:
                        branch = Node(self._view, branch.pointer, merged, branch.recursive)
                out.append(branch)
        return out

    @cached_property
    def branches(self) -> list[Node]:
        """The alternatives of a union (``anyOf``/``oneOf``), ``null`` alternatives left out.

        A single non-null alternative is not a union: its node stands for this
        one (see :meth:`unwrap`). A ``type`` list of several kinds gives one
        branch per type.
        """
        alts = [b for b in self._all_branches if b.kind != "null"]
        if len(alts) == 1:
            return []
        if alts:
            return alts
        kinds = self.types - {"null"}
        if len(kinds) > 1 and kinds != {"integer", "number"}:
            return [Node(self._view, self.pointer, {**self.schema, "type": t}, self.recursive)
                    for t in sorted(kinds)]
        return []

    def unwrap(self) -> Node:
        """This node with a lone non-null ``anyOf`` alternative (``Optional[X]``) opened."""
        node = self
        for _ in range(_MAX_REF_CHAIN):
            if node.branches:
                return node
            alts = [b for b in node._all_branches if b.kind != "null"]
            if len(alts) != 1:
                return node
            node = alts[0]
        return node

    def branch_for(self, value: Any) -> Node | None:
        """The union branch that best describes ``value`` (by type, then by properties)."""
        node = self.unwrap()
        if not node.branches:
            return node
        vtype = json_type(value)
        fitting = [b for b in node.branches if _admits_type(b.unwrap(), vtype)]
        if not fitting:
            return None
        if len(fitting) == 1 or not isinstance(value, Mapping):
            return fitting[0].unwrap()
        return max(fitting, key=lambda b: _object_fit(b.unwrap(), value)).unwrap()

    def marker(self, name: str, default: Any = None) -> Any:
        """The per-field marker ``x-<name>`` (see :mod:`extractkit.markers`)."""
        return self.schema.get(f"x-{name}", default)

    @property
    def _base(self) -> str:
        return self.pointer


@dataclass(frozen=True)
class Leaf:
    """One scalar of a value, with the schema that describes it."""

    #: JSON pointer into the value (``"/items/0/name"``)
    pointer: str
    value: Any
    node: Node
    #: the keys and indexes leading here
    path: tuple[str | int, ...]


class SchemaView:
    """The normalized view of one schema document (see the module docstring)."""

    def __init__(self, schema: dict[str, Any] | bool) -> None:
        self.document = schema
        self._refs = LocalRefs(schema)
        self._lock = threading.Lock()
        self._checked: SchemaError | bool | None = None

    @cached_property
    def root(self) -> Node:
        return self._node(self.document, "", None)

    def node_at(self, pointer: str) -> Node:
        """The node for the schema at a JSON pointer of the schema document."""
        target, sub = self._refs.resolve("#" + pointer, "")
        return self._node(sub, target, None)

    def node_for(self, schema: Any, pointer: str) -> Node:
        """The node for ``schema``, a sub-schema of this document found at ``pointer``.

        ``pointer`` sets the base URI its references are resolved against.
        """
        return self._node(schema, pointer, None)

    def resolve(self, ref: str, at: str = "") -> tuple[str, Any]:
        """``(target pointer, raw target schema)`` of a ``$ref`` found at pointer ``at``.

        Raises :class:`~extractkit.errors.SchemaError` for a reference outside the
        document, an unknown anchor or a pointer to nothing.
        """
        return self._refs.resolve(ref, at)

    def check_references(self) -> None:
        """Reject, with the pointer, what no target can use: every ``$ref`` reachable
        from the root must resolve inside the document, and no chain of ``$ref`` and
        in-place applicators (``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``/``then``/
        ``else``) may lead back to where it started without entering a property or
        an item (a validator would recurse forever). Unused definitions are not
        checked. Linear in the size of the document; the result is remembered.
        """
        if self._checked is None:
            try:
                _check_references(self.document, self._refs)
            except SchemaError as exc:
                self._checked = exc
            else:
                self._checked = True
        if isinstance(self._checked, SchemaError):
            raise self._checked

    # -- values -----------------------------------------------------------------

    def leaves(self, value: Any) -> Iterator[Leaf]:
        """Every scalar in ``value`` (document order), with the node describing it.

        Lists and dicts are walked by their schema; a union picks the branch
        that fits the value (:meth:`Node.branch_for`). Parts of the value the
        schema does not describe are walked with an ``any`` node.
        """
        stack: list[tuple[Any, Node | None, tuple[str | int, ...]]] = [(value, self.root, ())]
        while stack:
            item, node, path = stack.pop()
            if node is not None:
                node = node.branch_for(item)
            if isinstance(item, Mapping):
                children = []
                for key, sub in item.items():
                    child = None
                    if node is not None:
                        child = node.properties.get(key) or node.additional
                    children.append((sub, child, (*path, key)))
                stack.extend(reversed(children))
            elif isinstance(item, (list, tuple)):
                children = []
                prefix = node.prefix_items if node is not None else []
                for i, sub in enumerate(item):
                    child = prefix[i] if i < len(prefix) else (node.items if node else None)
                    children.append((sub, child, (*path, i)))
                stack.extend(reversed(children))
            else:
                yield Leaf(_pointer(path), item, node or self._any, path)

    @cached_property
    def _any(self) -> Node:
        return Node(self, "", {}, False)

    # -- building nodes -----------------------------------------------------

    def _node(self, schema: Any, pointer: str, parent: Node | None,
              merging: tuple[str, ...] = ()) -> Node:
        if schema is True:
            schema = {}
        if schema is False:
            return self._never(pointer, parent)
        if not isinstance(schema, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
        recursive = False
        seen: list[str] = []
        merged = schema
        target = pointer
        residue: list[tuple[str, Any]] = []
        try:
            while isinstance(merged.get("$ref"), str):
                if len(seen) > _MAX_REF_CHAIN or target in seen:
                    raise SchemaError(f"$ref cycle through {target or '#'!r}", pointer=pointer,
                                      keyword="$ref")
                seen.append(target)
                ref_target, sub = self._refs.resolve(merged["$ref"], target)
                if ref_target in merging:
                    raise SchemaError(f"$ref cycle through allOf at {ref_target or '#'!r}",
                                      pointer=target, keyword="$ref")
                if sub is False:
                    return self._never(ref_target, parent)
                sub = {} if sub is True else sub
                siblings = {k: v for k, v in merged.items() if k != "$ref"}
                if parent is not None and _is_ancestor(parent, ref_target):
                    recursive = True
                if _has_content(siblings):
                    merged = merge_schemas(siblings, sub, target, residue)
                else:
                    merged = sub
                target = ref_target
            if isinstance(merged.get("allOf"), list):
                merged = self._merge_all_of(merged, target, (*merging, target), residue)
        except Unsatisfiable:
            return self._never(target, parent)
        node = Node(self, target, merged, recursive)
        node._parent = parent
        node.residue = tuple(residue)
        return node

    def _never(self, pointer: str, parent: Node | None) -> Node:
        node = Node(self, pointer, {}, False, never=True)
        node._parent = parent
        return node

    def _merge_all_of(self, schema: dict[str, Any], pointer: str, merging: tuple[str, ...],
                      residue: list[tuple[str, Any]]) -> dict[str, Any]:
        out = {k: v for k, v in schema.items() if k != "allOf"}
        for i, sub in enumerate(schema["allOf"]):
            member = self._node(sub, join_pointer(pointer, "allOf", i), None, merging)
            if member.never:
                raise Unsatisfiable("allOf has a member no value matches", pointer=member.pointer,
                                    keyword="allOf")
            residue.extend(member.residue)
            out = merge_schemas(out, member.schema, pointer, residue)
        return out


#: Keywords whose sub-schemas apply to the same value as their parent.
_IN_PLACE = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "then", "else"})
_NOT_APPLIED = frozenset({"$defs", "definitions"})


def _check_references(document: Any, refs: LocalRefs) -> None:
    # Reachable schemas, each with the pointers it applies to in place.
    in_place: dict[str, list[tuple[str, str]]] = {}  # pointer -> [(next pointer, ref site)]
    stack = [("", document)]
    while stack:
        pointer, schema = stack.pop()
        if pointer in in_place:
            continue
        edges: list[tuple[str, str]] = []
        in_place[pointer] = edges
        if not isinstance(schema, dict):
            continue
        ref = schema.get("$ref")
        if "$ref" in schema:
            if not isinstance(ref, str):
                raise SchemaError("$ref must be a string", pointer=pointer, keyword="$ref")
            target, sub = refs.resolve(ref, pointer)
            edges.append((target, pointer))
            stack.append((target, sub))
        children = []
        for sub_pointer, sub in iter_subschemas(schema, pointer):
            keyword = sub_pointer[len(pointer) + 1:].split("/", 1)[0]  # keywords need no escaping
            if keyword in _NOT_APPLIED:
                continue
            if keyword in _IN_PLACE:
                edges.append((sub_pointer, sub_pointer))
            children.append((sub_pointer, sub))
        stack.extend(reversed(children))  # document order
    # A cycle among in-place edges (iterative depth-first search, three colours).
    state: dict[str, int] = {}
    for start in in_place:
        if start in state:
            continue
        path: list[str] = [start]
        todo = [iter(in_place[start])]
        state[start] = 1
        while todo:
            step = next(todo[-1], None)
            if step is None:
                state[path.pop()] = 2
                todo.pop()
                continue
            target, site = step
            if state.get(target) == 1:
                loop = [*path[path.index(target):], target]
                shown = " -> ".join(p or "#" for p in loop)
                raise SchemaError(f"$ref cycle that never reaches a value: {shown}",
                                  pointer=site, keyword="$ref")
            if target not in state:
                state[target] = 1
                path.append(target)
                todo.append(iter(in_place.get(target, ())))


def _pointer(path: tuple[str | int, ...]) -> str:
    return join_pointer("", *path)


def _is_ancestor(node: Node, pointer: str) -> bool:
    # A reference back to where one of the parents was found makes the schema recursive.
    current: Node | None = node
    for _ in range(10_000):
        if current is None:
            return False
        if current.pointer == pointer:
            return True
        current = current._parent
    return True


def _has_content(schema: Mapping[str, Any]) -> bool:
    return any(k not in ("$defs", "definitions", "$schema", "$id", "$comment") for k in schema)


def _admits_type(node: Node, vtype: str) -> bool:
    kind = node.kind
    if kind in ("any", "union"):
        return True
    if kind == "number":
        return vtype in ("number", "integer")
    return kind == vtype


def _object_fit(node: Node, value: Mapping[str, Any]) -> tuple[int, int, int]:
    props = node.properties
    consts = sum(1 for k, sub in props.items()
                 if "const" in sub.schema and value.get(k) == sub.schema["const"])
    known = sum(1 for k in value if k in props)
    missing = sum(1 for r in node.required if r not in value)
    return (consts, -missing, known)


_views_lock = threading.Lock()
_views: dict[str, SchemaView] = {}


def schema_view(schema: dict[str, Any] | bool) -> SchemaView:
    """The (cached) view of a schema document."""
    key = json.dumps(schema, sort_keys=True, default=str)
    found = _views.get(key)
    if found is None:
        found = SchemaView(schema)
        with _views_lock:
            found = _views.setdefault(key, found)
    return found


__all__ = ["KINDS", "Leaf", "Node", "SchemaView", "is_number", "json_type", "schema_view"]
