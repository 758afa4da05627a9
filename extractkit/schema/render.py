"""Compact, TypeScript-like rendering of a JSON Schema for prompted extraction modes.

In the ``json_object`` and ``md_json`` modes the API does not enforce the schema, so
it is shown to the model in the prompt. Raw JSON Schema is long and noisy; this
sketch carries the same information in far fewer tokens and reads naturally to
small models. :func:`render_schema` is deterministic: the same schema always gives
the same text, and any schema (a dict or a boolean) renders without raising;
what it does not understand becomes ``any``.

Notation
--------
The first expression is the type of the whole answer; ``Name = ...`` lines after
it define named types::

    // A person.
    {
      "name": string, // Full name (1-20 chars)
      "age"?: integer | null, // >= 0, default: null
      "role"?: "admin" | "user", // User role. (default: "user")
      "address": Address,
      "tags": string[], // max 5 items
      "scores": { [key: string]: number }
    }
    // A postal address.
    Address = {
      "street": string,
      "city": string // City name
    }

* Keys are quoted exactly as they must appear in the JSON; ``"key"?`` marks an
  optional (not required) property. Properties keep the schema's order. A
  required name that has no property schema is shown as ``"name": any``.
* Scalars: ``string``, ``number``, ``integer``, ``boolean``, ``null``; no
  constraint at all: ``any``; the ``false`` schema: ``never``.
* ``enum``/``const``: JSON literals, ``"a" | "b" | 1 | null``.
* ``anyOf``/``oneOf`` and type arrays: unions ``A | B``, duplicates dropped,
  ``null`` last; ``nullable: true`` adds ``| null``.
* ``allOf``: object parts are merged into one object (a referenced base's
  properties first); anything else is an intersection ``A & B``, where literal
  sets are intersected and a bare type keyword beside a richer member is
  dropped (``string & ("a" | "b")`` is ``"a" | "b"``). A ``$ref`` with sibling
  keywords that add structure counts as ``allOf`` of the two. Sub-schemas that
  only add constraints (no type of their own) next to a typed schema are left
  out, as are ``not``, ``if``/``then``/``else``, ``dependencies`` and ``contains``.
* Arrays: ``T[]``, unions in parentheses ``(A | B)[]``; tuples ``[A, B]`` and
  ``[A, B, ...C[]]`` when further items of type ``C`` are allowed.
* Objects: ``{ ... }`` blocks; maps ``{ [key: string]: T }``; an object with no
  known properties is ``object`` (``{}`` if it allows none). Properties next to
  a schema-valued ``additionalProperties`` get a ``[key: string]: T`` line.
* ``$ref``: a referenced definition (``$defs``, ``definitions`` or any local
  JSON pointer) that renders as an object, or that is recursive, is shown once
  after the root as ``Name = ...`` and referenced by name everywhere; other
  definitions (enums, aliases) are written out in place. Definitions appear in
  the order they are first referenced; unused ones are left out. A name is the
  definition's key as an identifier (other characters become ``_``), shortened
  while unambiguous to its last dotted part (``io.k8s.api.core.v1.Pod`` is
  ``Pod``) or, for keys over 30 characters, its last words; scalar keywords get
  a ``_`` suffix and clashes a number. A schema that refers to its own root
  (``"$ref": "#"``) is named after a short identifier ``title`` (else ``Root``)
  and the sketch then starts with that name. References that are not local
  (other files, URLs, anchors) are ``any``, and so is anything nested deeper
  than 64 levels.
* Comments: ``// description (constraints)`` at the end of a property's first
  line, and on a line of their own above the root and above each definition.
  Descriptions are collapsed to one line and cut at a word boundary with ``…``
  past 200 characters (400 for the root). A property's ``title`` stands in for
  a missing description unless it only repeats the key (as pydantic's do).
  Constraints are short: ``format: date``, ``>= 0``, ``> 0``, ``<= 10``,
  ``multiple of 5``, ``1-20 chars``, ``max 20 chars``, ``pattern: ^..$`` (cut
  past 120 characters), ``1-5 items``, ``unique``, ``max 3 properties``,
  ``keys: pattern ...``, ``deprecated``, ``default: "EUR"`` (cut past 60
  characters), and for array items or map values ``items: ...`` /
  ``values: ...``. Examples are never shown, so the model does not copy them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from ..errors import SchemaError
from .jsonutil import resolve_pointer, split_pointer
from .view import is_number, schema_view

__all__ = ["render_schema"]

_MAX_DESCRIPTION = 200
_MAX_ROOT_DESCRIPTION = 400
_MAX_PATTERN = 120
_MAX_DEFAULT = 60
_MAX_DEPTH = 64
_LONG_NAME = 30
_FILE_WORDS = frozenset({"json", "yaml", "yml", "schema"})
_INDENT = "  "

_SCALARS = frozenset({"string", "number", "integer", "boolean", "null"})
_KEYWORDS = frozenset({*_SCALARS, "object"})
_RESERVED = frozenset({*_SCALARS, "any", "never", "object", "unknown"})
_STRUCTURAL = frozenset(
    {
        "type",
        "properties",
        "patternProperties",
        "additionalProperties",
        "items",
        "prefixItems",
        "enum",
        "const",
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
    }
)
_OBJECT_HINTS = (
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
)
_ARRAY_HINTS = ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems")
_STRING_HINTS = ("pattern", "minLength", "maxLength", "format")
_NUMBER_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_ANNOTATIONS = frozenset(
    {
        "description",
        "title",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
    }
)

_Kind = Literal["atom", "union", "inter"]


@dataclass(frozen=True)
class _Type:
    """A rendered type: its expression plus the comment parts that go with it."""

    expr: str
    desc: str | None = None
    notes: tuple[str, ...] = ()
    kind: _Kind = "atom"
    parts: tuple[_Type, ...] = ()
    literal: bool = False


_ANY = _Type("any")
_NEVER = _Type("never")


@dataclass
class _Target:
    """A place in the schema that a ``$ref`` points to."""

    pointer: str
    schema: Any
    order: int
    info: _Type | None = None
    in_progress: bool = False
    named: bool = False
    name: str | None = None


@dataclass
class _Renderer:
    root: Any
    targets: dict[str, _Target] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)
    depth: int = 0
    #: pointers of the reference targets being rendered (the innermost sets the base URI)
    at: list[str] = field(default_factory=lambda: [""])

    def __post_init__(self) -> None:
        self.view = schema_view(self.root)

    # -- entry point -------------------------------------------------------

    def render(self) -> str:
        root_target = self._target("")
        info = self._render_target(root_target, top=True)
        self._render_pending()
        lines: list[str] = []
        raw = self.root.get("description") if isinstance(self.root, dict) else None
        desc = _clip_desc(raw, _MAX_ROOT_DESCRIPTION) if isinstance(raw, str) else info.desc
        comment = _comment(desc, info.notes)
        if comment:
            lines.append(f"// {comment}")
        if root_target.named:
            lines.append(self._name(root_target))
            lines.append(f"{self._name(root_target)} = {info.expr}")
        else:
            lines.append(info.expr)
        for target in sorted(self.targets.values(), key=lambda t: t.order):
            if target.pointer == "" or not target.named or target.info is None:
                continue
            def_comment = _comment(target.info.desc, target.info.notes)
            if def_comment:
                lines.append(f"// {def_comment}")
            lines.append(f"{self._name(target)} = {target.info.expr}")
        return "\n".join(lines)

    def _render_target(self, target: _Target, *, top: bool = False) -> _Type:
        target.in_progress = True
        self.at.append(target.pointer)
        try:
            target.info = self._render(target.schema, top=top)
        finally:
            target.in_progress = False
            self.at.pop()
        return target.info

    def _render_pending(self) -> None:
        """Render named targets first met while an ``allOf`` merge had them open."""
        pending = [t for t in self.targets.values() if t.named and t.info is None]
        while pending:
            for target in pending:
                self._render_target(target)
            pending = [t for t in self.targets.values() if t.named and t.info is None]

    # -- dispatch ----------------------------------------------------------

    def _render(self, schema: Any, *, top: bool = False) -> _Type:
        if schema is False:
            return _NEVER
        if not isinstance(schema, dict) or not schema:
            return _ANY
        if self.depth >= _MAX_DEPTH:
            return _ANY
        self.depth += 1
        try:
            base = self._render_base(schema, top=top)
        finally:
            self.depth -= 1
        desc, notes = _notes(schema)
        return _annotate(base, desc, notes)

    def _render_base(self, schema: dict[str, Any], *, top: bool) -> _Type:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if not _has_structure({k: v for k, v in rest.items() if k != "type"}):
                return self._ref(ref, top=top)
            # Structure next to "$ref" (2019-09+ semantics, and a common draft-04
            # habit): render as the intersection of the reference and the rest.
            return self._render_base({"allOf": [{"$ref": ref}, rest]}, top=top)
        if "const" in schema:
            return _Type(_literal(schema["const"]), literal=True)
        enum = schema.get("enum")
        if isinstance(enum, list):
            return _union([_Type(_literal(v), literal=True) for v in enum])
        merge = self._merge_all_of(schema)
        if merge is not None:
            return self._render_merged(*merge, top=top)
        base = self._typed(schema)
        base = self._apply_all_of(schema, base)
        base = self._apply_any_of(schema, base)
        if base is not None and schema.get("nullable") is True:
            base = _union([base, _Type("null")])
        return base if base is not None else _ANY

    # -- $ref --------------------------------------------------------------

    def _ref(self, ref: str, *, top: bool) -> _Type:
        pointer = self._local_pointer(ref)
        if pointer is None:
            return _ANY
        target = self._target(pointer)
        if target.in_progress:
            target.named = True
            return _Type(self._name(target))
        info = target.info if target.info is not None else self._render_target(target)
        if "\n" in info.expr and not top:
            target.named = True
        if target.named:
            return _Type(self._name(target))
        return info

    def _local_pointer(self, ref: str) -> str | None:
        """Where ``ref`` points (through the schema view's one resolver); None if nowhere."""
        try:
            return self.view.resolve(ref, self.at[-1])[0]
        except SchemaError:
            return None

    def _target(self, pointer: str) -> _Target:
        target = self.targets.get(pointer)
        if target is None:
            target = _Target(pointer, resolve_pointer(self.root, pointer), len(self.targets))
            self.targets[pointer] = target
        return target

    def _name(self, target: _Target) -> str:
        if target.name is None:
            target.name = self._unique_name(self._name_candidates(target))
        return target.name

    def _name_candidates(self, target: _Target) -> list[str]:
        if target.pointer == "":
            title = self.root.get("title") if isinstance(self.root, dict) else None
            if isinstance(title, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,29}", title):
                return [_identifier(title), "Root"]
            return ["Root"]
        segments = [s for s in split_pointer(target.pointer) if not s.isdigit()]
        last = segments[-1] if segments else ""
        full = _identifier(last)
        candidates = [_identifier(last.rsplit(".", 1)[-1])] if "." in last else []
        if len(full) > _LONG_NAME:
            candidates.extend(_short_names(last))
        return [*candidates, full, "Def"]

    def _unique_name(self, candidates: list[str]) -> str:
        for candidate in candidates:
            if candidate and candidate not in self.used_names:
                self.used_names.add(candidate)
                return candidate
        stem = next((c for c in candidates if c), "Def")
        number = 2
        while f"{stem}{number}" in self.used_names:
            number += 1
        self.used_names.add(f"{stem}{number}")
        return f"{stem}{number}"

    # -- type keyword ------------------------------------------------------

    def _typed(self, schema: dict[str, Any]) -> _Type | None:
        types = _types_of(schema)
        if not types:
            return None
        rendered: list[_Type] = []
        for name in types:
            if name == "object":
                rendered.append(self._object(schema))
            elif name == "array":
                rendered.append(self._array(schema))
            elif name in _SCALARS:
                rendered.append(_Type(name))
            else:
                rendered.append(_ANY)
        return _union(rendered)

    # -- objects -----------------------------------------------------------

    def _object(self, schema: dict[str, Any]) -> _Type:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = _required(schema)
        lines: list[tuple[str, _Type]] = []
        for key, sub in props.items():
            if sub is False:
                continue
            prop = self._property_type(key, sub)
            mark = "" if key in required else "?"
            lines.append((f"{_literal(key)}{mark}", prop))
        lines.extend((_literal(key), _ANY) for key in required if key not in props)
        index, key_notes = self._index_type(schema)
        notes = _object_notes(schema) + key_notes
        if not lines:
            return self._map(schema, index, notes)
        if index is not None:
            lines.append(("[key: string]", index))
        return _Type(_block(lines), notes=notes)

    def _property_type(self, key: str, sub: Any) -> _Type:
        prop = self._render(sub)
        if prop.desc is None and isinstance(sub, dict):
            title = sub.get("title")
            if isinstance(title, str) and _squash(title) != _squash(key):
                return _annotate(prop, _clip_desc(title, _MAX_DESCRIPTION), ())
        return prop

    def _index_type(self, schema: dict[str, Any]) -> tuple[_Type | None, tuple[str, ...]]:
        values: list[_Type] = []
        key_notes: list[str] = []
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            values.append(self._render(additional))
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict):
            for pattern, sub in patterns.items():
                values.append(self._render(sub))
                key_notes.append(f"keys: pattern {_clip(str(pattern), _MAX_PATTERN)}")
        names = schema.get("propertyNames")
        if isinstance(names, dict) and isinstance(names.get("pattern"), str):
            key_notes.append(f"keys: pattern {_clip(names['pattern'], _MAX_PATTERN)}")
        index = _union(values) if values else _ANY
        if index.expr == "any" and not _comment(index.desc, index.notes):
            return None, tuple(key_notes)
        return index, tuple(key_notes)

    def _map(self, schema: dict[str, Any], index: _Type | None, notes: tuple[str, ...]) -> _Type:
        if index is None:
            closed = schema.get("additionalProperties") is False
            return _Type("{}" if closed else "object", notes=notes)
        value_comment = _nested_comment(index)
        if value_comment:
            notes = (*notes, f"values: {value_comment}")
        if "\n" in index.expr:
            return _Type(_block([("[key: string]", _Type(index.expr))]), notes=notes)
        return _Type(f"{{ [key: string]: {index.expr} }}", notes=notes)

    # -- arrays ------------------------------------------------------------

    def _array(self, schema: dict[str, Any]) -> _Type:
        prefix, rest = _tuple_parts(schema)
        if prefix is not None:
            return self._tuple(schema, prefix, rest)
        item = self._render(schema.get("items", True))
        notes = _count_notes(schema, "minItems", "maxItems")
        if schema.get("uniqueItems") is True:
            notes += ("unique",)
        item_comment = _nested_comment(item)
        if item_comment:
            notes += (f"items: {item_comment}",)
        return _Type(f"{_atom(item)}[]", notes=notes)

    def _tuple(self, schema: dict[str, Any], prefix: list[Any], rest: Any) -> _Type:
        elements = [self._render(sub).expr for sub in prefix]
        if isinstance(rest, dict):
            more = self._render(rest)
            if more.expr != "any":
                elements.append(f"...{_atom(more)}[]")
        notes: tuple[str, ...] = ()
        if not (schema.get("minItems") == schema.get("maxItems") == len(prefix)):
            notes = _count_notes(schema, "minItems", "maxItems")
        return _Type(f"[{', '.join(elements)}]", notes=notes)

    # -- combinators -------------------------------------------------------

    def _render_merged(self, merged: dict[str, Any], pointers: set[str], *, top: bool) -> _Type:
        # The merged definitions count as open: a reference back to one of them
        # from inside is recursion and must be shown by name.
        opened = [self._target(p) for p in sorted(pointers)]
        for target in opened:
            target.in_progress = True
        try:
            return self._render_base(merged, top=top)
        finally:
            for target in opened:
                target.in_progress = False

    def _merge_all_of(self, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]] | None:
        parts = schema.get("allOf")
        if not isinstance(parts, list) or len(parts) < 2:
            return None
        merged: dict[str, Any] = {
            k: v for k, v in schema.items() if k not in ("allOf", "$ref", "anyOf", "oneOf")
        }
        merged_props: dict[str, Any] = dict(_dict_or_empty(schema.get("properties")))
        merged_required = _required(schema)
        if not _is_plain_object(schema, allow_untyped=True):
            return None
        objectish = _declares_object(schema)
        pointers: set[str] = set()
        for part in parts:
            resolved = self._deref(part, pointers)
            if resolved is None or not _is_plain_object(
                resolved, allow_untyped=not _has_structure(resolved)
            ):
                return None
            objectish = objectish or _declares_object(resolved)
            for key, sub in _dict_or_empty(resolved.get("properties")).items():
                merged_props.setdefault(key, sub)
            merged_required.extend(k for k in _required(resolved) if k not in merged_required)
        if not objectish:
            return None
        merged.update(type="object", properties=merged_props, required=merged_required)
        return merged, pointers

    def _deref(self, part: Any, pointers: set[str]) -> dict[str, Any] | None:
        """Follow ``$ref`` chains from ``part``; None if one is open, cyclic or not local."""
        while isinstance(part, dict) and isinstance(part.get("$ref"), str):
            if set(part) - _ANNOTATIONS - {"$ref"}:
                return None
            pointer = self._local_pointer(part["$ref"])
            if pointer is None or pointer in pointers:
                return None
            existing = self.targets.get(pointer)
            if existing is not None and existing.in_progress:
                return None
            pointers.add(pointer)
            part = resolve_pointer(self.root, pointer)
        return part if isinstance(part, dict) else None

    def _apply_all_of(self, schema: dict[str, Any], base: _Type | None) -> _Type | None:
        parts = schema.get("allOf")
        if not isinstance(parts, list) or not parts:
            return base
        rendered = [self._render(p) for p in parts if _has_structure(p)]
        if not rendered:
            return base
        return _intersection([base, *rendered] if base is not None else rendered)

    def _apply_any_of(self, schema: dict[str, Any], base: _Type | None) -> _Type | None:
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if not isinstance(branches, list) or not branches:
                continue
            if base is not None and not any(_has_structure(b) for b in branches):
                continue
            union = _union([self._render(b) for b in branches])
            base = union if base is None else _intersection([base, union])
        return base


# -- helpers on _Type ---------------------------------------------------------


def _annotate(base: _Type, desc: str | None, notes: tuple[str, ...]) -> _Type:
    if desc is None and not notes:
        return base
    merged = base.notes + tuple(n for n in notes if n not in base.notes)
    return _Type(base.expr, desc or base.desc, merged, base.kind, base.parts, base.literal)


def _alternatives(t: _Type) -> tuple[_Type, ...]:
    return t.parts if t.kind == "union" else (t,)


def _union(types: list[_Type]) -> _Type:
    alts: list[_Type] = []
    seen: set[str] = set()
    for t in types:
        for alt in _alternatives(t):
            if alt.expr == "any":
                return _Type("any", *_merged_comments(types))
            if alt.expr != "never" and alt.expr not in seen:
                seen.add(alt.expr)
                alts.append(_strip(alt))
    alts.sort(key=lambda a: a.expr == "null")
    desc, notes = _merged_comments(types)
    if not alts:
        return _Type("never", desc, notes)
    if len(alts) == 1:
        return _annotate(alts[0], desc, notes)
    expr = " | ".join(f"({a.expr})" if a.kind == "inter" else a.expr for a in alts)
    return _Type(expr, desc, notes, "union", tuple(alts))


def _intersection(types: list[_Type]) -> _Type:
    members: list[_Type] = []
    seen: set[str] = set()
    for t in types:
        for member in t.parts if t.kind == "inter" else (t,):
            if member.expr == "never":
                return _Type("never", *_merged_comments(types))
            if member.expr != "any" and member.expr not in seen:
                seen.add(member.expr)
                members.append(_strip(member))
    desc, notes = _merged_comments(types)
    members = _simplify_members(members)
    if not members:
        return _Type("any", desc, notes)
    if len(members) == 1:
        return _annotate(members[0], desc, notes)
    expr = " & ".join(f"({m.expr})" if m.kind == "union" else m.expr for m in members)
    return _Type(expr, desc, notes, "inter", tuple(members))


def _simplify_members(members: list[_Type]) -> list[_Type]:
    """Intersect literal sets and drop bare type keywords that a richer member implies."""
    literal_sets = [m for m in members if all(a.literal for a in _alternatives(m))]
    if len(literal_sets) > 1:
        common = [
            alt
            for alt in _alternatives(literal_sets[0])
            if all(alt.expr in {a.expr for a in _alternatives(m)} for m in literal_sets[1:])
        ]
        first = members.index(literal_sets[0])
        members = [m for m in members if m not in literal_sets]
        members.insert(first, _union(common))
    if any(m.expr not in _KEYWORDS for m in members):
        members = [m for m in members if m.expr not in _KEYWORDS]
    return members


def _strip(t: _Type) -> _Type:
    return _Type(t.expr, kind=t.kind, parts=t.parts, literal=t.literal)


def _merged_comments(types: list[_Type]) -> tuple[str | None, tuple[str, ...]]:
    desc = next((t.desc for t in types if t.desc), None)
    notes: list[str] = []
    for t in types:
        for part in (t, *t.parts):
            notes.extend(n for n in part.notes if n not in notes)
    return desc, tuple(notes)


def _atom(t: _Type) -> str:
    return t.expr if t.kind == "atom" else f"({t.expr})"


def _block(lines: list[tuple[str, _Type]]) -> str:
    out = ["{"]
    for i, (key, t) in enumerate(lines):
        body = t.expr.split("\n")
        body[0] = f"{key}: {body[0]}"
        if i < len(lines) - 1:
            body[-1] += ","
        comment = _comment(t.desc, t.notes)
        if comment:
            body[0] += f" // {comment}"
        out.extend(_INDENT + line for line in body)
    out.append("}")
    return "\n".join(out)


def _nested_comment(t: _Type) -> str:
    """The comment of an array item or map value, one level deep only."""
    notes = tuple(n for n in t.notes if not n.startswith(("items: ", "values: ")))
    return _comment(t.desc, notes)


def _comment(desc: str | None, notes: tuple[str, ...]) -> str:
    if desc and notes:
        return f"{desc} ({', '.join(notes)})"
    return desc or ", ".join(notes)


# -- reading schema keywords ---------------------------------------------------


def _notes(schema: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    description = schema.get("description")
    desc = _clip_desc(description, _MAX_DESCRIPTION) if isinstance(description, str) else None
    notes: list[str] = []
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt:
        notes.append(f"format: {_clip(fmt, _MAX_PATTERN)}")
    notes.extend(_range_notes(schema))
    multiple = schema.get("multipleOf")
    if is_number(multiple):
        notes.append(f"multiple of {_literal(multiple)}")
    notes.extend(_count_notes(schema, "minLength", "maxLength"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        notes.append(f"pattern: {_clip(pattern, _MAX_PATTERN)}")
    if schema.get("deprecated") is True:
        notes.append("deprecated")
    if "default" in schema:
        notes.append(f"default: {_clip(_literal(schema['default']), _MAX_DEFAULT)}")
    return desc, tuple(notes)


def _range_notes(schema: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    for bound, exclusive, inclusive_op, exclusive_op in (
        ("minimum", "exclusiveMinimum", ">=", ">"),
        ("maximum", "exclusiveMaximum", "<=", "<"),
    ):
        value = schema.get(bound)
        flag = schema.get(exclusive)
        if is_number(flag):
            notes.append(f"{exclusive_op} {_literal(flag)}")
        elif is_number(value):
            op = exclusive_op if flag is True else inclusive_op
            notes.append(f"{op} {_literal(value)}")
    return notes


_UNITS = {"minItems": "item", "minLength": "char", "minProperties": "property"}
_PLURALS = {"item": "items", "char": "chars", "property": "properties"}


def _count_notes(schema: dict[str, Any], low_key: str, high_key: str) -> tuple[str, ...]:
    """``1-5 items``, ``min 1 char``, ``max 3 properties``, ``exactly 2 items``."""
    raw_low, raw_high = schema.get(low_key), schema.get(high_key)
    low: int | None = raw_low if _is_int(raw_low) and raw_low > 0 else None
    high: int | None = raw_high if _is_int(raw_high) else None
    unit = _UNITS[low_key]

    def units(n: int) -> str:
        return f"{n} {unit if n == 1 else _PLURALS[unit]}"

    if low is not None and high is not None:
        return (f"exactly {units(low)}",) if low == high else (f"{low}-{units(high)}",)
    if low is not None:
        return (f"min {units(low)}",)
    if high is not None:
        return (f"max {units(high)}",)
    return ()


def _object_notes(schema: dict[str, Any]) -> tuple[str, ...]:
    return _count_notes(schema, "minProperties", "maxProperties")


def _types_of(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)] or ["any"]
    if any(k in schema for k in _OBJECT_HINTS):
        return ["object"]
    if any(k in schema for k in _ARRAY_HINTS):
        return ["array"]
    if any(k in schema for k in _STRING_HINTS):
        return ["string"]
    if any(k in schema for k in _NUMBER_HINTS):
        return ["number"]
    return []


def _tuple_parts(schema: dict[str, Any]) -> tuple[list[Any] | None, Any]:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        return prefix, schema.get("items")
    items = schema.get("items")
    if isinstance(items, list):
        return items, schema.get("additionalItems")
    return None, None


def _required(schema: dict[str, Any]) -> list[str]:
    required = schema.get("required")
    if not isinstance(required, list):
        return []
    return list(dict.fromkeys(k for k in required if isinstance(k, str)))


def _has_structure(schema: Any) -> bool:
    return schema is False or (isinstance(schema, dict) and bool(_STRUCTURAL & set(schema)))


def _is_plain_object(schema: dict[str, Any], *, allow_untyped: bool) -> bool:
    if any(k in schema for k in ("anyOf", "oneOf", "enum", "const", "items", "prefixItems")):
        return False
    declared = schema.get("type")
    if declared is None:
        return allow_untyped or isinstance(schema.get("properties"), dict)
    return bool(declared == "object")


def _squash(text: str) -> str:
    """Lower-case letters and digits only: pydantic's "First Name" title squashes to the key."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _declares_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or isinstance(schema.get("properties"), dict)


def _dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# -- text ----------------------------------------------------------------------


def _literal(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)


def _clip(text: str, limit: int) -> str:
    """``text`` on one line (control characters escaped), cut to ``limit`` characters."""
    text = _CONTROL.sub(_escape_control, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _escape_control(match: re.Match[str]) -> str:
    return json.dumps(match.group())[1:-1]


def _clip_desc(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not name:
        return ""
    if name[0].isdigit():
        name = f"T{name}"
    return f"{name}_" if name in _RESERVED else name


def _short_names(text: str) -> list[str]:
    """Shorter names for a long definition key, from its last words (``...v1_PodSpec``)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    while len(words) > 1 and words[-1].lower() in _FILE_WORDS:
        words.pop()
    names: list[str] = []
    for count in range(1, len(words)):
        name = "_".join(words[-count:])
        camel = any(c.isupper() for c in name) and any(c.islower() for c in name)
        if len(name) >= 10 or (camel and len(name) >= 4):
            names.append(_identifier(name))
    return names


# -- public --------------------------------------------------------------------


def render_schema(schema: dict[str, Any]) -> str:
    """Render ``schema`` as a compact TypeScript-like sketch for a prompt.

    See the module docstring for the notation. Accepts any JSON Schema draft
    (04 to 2020-12) as a dict, or a boolean schema; raises :class:`SchemaError`
    only when ``schema`` is neither.
    """
    if not isinstance(schema, (dict, bool)):
        raise SchemaError(
            f"a JSON Schema must be an object or a boolean, not {type(schema).__name__}",
            pointer="",
        )
    return _Renderer(schema).render()
