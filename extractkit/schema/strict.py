"""Encode a JSON Schema into OpenAI's *strict* Structured Outputs subset, and decode back.

:func:`encode_strict` turns any JSON Schema document (draft-04 … 2020-12, e.g. a
Pydantic ``model_json_schema()``) into a *wire* schema that OpenAI accepts with
``strict: true``, plus a decode plan that turns the model's wire-shaped output back
into data shaped like the original schema. The original schema stays the
validator of record: whatever the wire schema cannot say is enforced locally.

The strict subset (OpenAI "Supported schemas", Structured Outputs guide)
    Types ``string``, ``number``, ``integer``, ``boolean``, ``object``, ``array``,
    ``null``, plus ``enum``, ``const`` and ``anyOf``; ``$defs``/``$ref`` with
    recursion (``#`` and ``#/$defs/...``); strings may carry ``pattern`` and
    ``format`` (date-time, time, date, duration, email, hostname, ipv4, ipv6,
    uuid); numbers ``minimum``, ``maximum``, ``exclusiveMinimum``,
    ``exclusiveMaximum``, ``multipleOf``; arrays ``minItems``, ``maxItems``. Every
    object lists all its properties in ``required`` and has
    ``additionalProperties: false``; the root is an object (not ``anyOf``); a
    ``$ref`` has no sibling keywords. Limits: 5000 object properties in total,
    10 levels of object nesting, 1000 enum values in total (15,000 characters
    for one string enum of more than 250 values), 120,000 characters of property
    names, definition names, enum and const values.

The encoding
    * **Optional properties** (not in ``required``, or with a ``default``) stay in
      the wire schema but become nullable. When the model sends ``null`` and the
      original schema did not accept ``null`` there, :meth:`StrictEncoding.decode`
      removes the key again (so Pydantic defaults apply), or, for a required
      property with a default, puts the default back. Where ``null`` was already
      allowed it is kept as given.
    * **Open objects** — ``additionalProperties: <schema>``, ``patternProperties``,
      or an object schema without ``properties`` — carry their free-form members
      as a list of entries ``{"key": <string>, "value": <schema>}``. A pure map
      (no fixed properties) is that list itself; an object with fixed properties
      gets one more property ``additional_entries`` (suffixed ``_2`` … if the name
      is taken) holding the list, and a pure map at the root, or in a union where
      another alternative is an array, becomes an object whose one property
      ``entries`` holds it. ``patternProperties`` become
      alternative entry shapes whose key carries the ``pattern``;
      ``propertyNames`` constrains the key; ``minProperties``/``maxProperties``
      of a pure map become ``minItems``/``maxItems``. Objects that declare
      ``properties`` and leave ``additionalProperties`` absent or ``true`` are
      closed (the model gives only the declared properties).
    * **Any value** (``{}``, ``true``, a schema without type keywords) becomes a
      union (recursive ``$defs/JsonValue``) of string, number, boolean, null, an
      array of any values, and an object written as a list of ``{"key", "value"}``
      entries. No other value on the wire is a JSON object, so a non-empty list of
      objects decodes to an object and any other list to an array (an empty
      object comes back as ``[]``).
    * **Tuples** (``prefixItems``, or ``items`` as a list) that admit no further
      items become an object ``{"item_0": …, "item_1": …}`` (positions past
      ``minItems`` nullable); open tuples become an array of the union of the
      item schemas (positional rules enforced locally).
    * ``oneOf`` becomes ``anyOf``; ``allOf`` is merged (properties, ``required``,
      ``type``, bounds, ``enum``; a ``$ref`` inside is inlined; unions inside are
      multiplied out); ``anyOf`` alongside other keywords is distributed into its
      alternatives, except alternatives that only add constraints (``required``,
      ``not`` …), which move to the description. A ``type`` list becomes
      ``anyOf`` (``[T, "null"]`` stays a type list for scalar ``T``); a missing
      ``type`` is inferred from the keywords or the ``enum``/``const`` values.
    * ``$ref`` targets become ``$defs`` (draft-04 ``definitions`` included); a
      ``$ref`` with sibling keywords is inlined one level (recursion stays a
      reference). Should the result break the size limits, references with only
      annotation siblings (``description``, ``default`` …) are kept as plain
      references instead and those annotations dropped.
    * Keywords outside the subset (``minLength``, ``maxLength``, unsupported
      ``format``, ``uniqueItems``, ``contains``, ``not``, ``if``/``then``/``else``,
      ``dependentRequired``, ``minProperties`` …, and ``default``, ``examples``,
      ``readOnly`` …) leave the wire schema, are recorded in
      :attr:`StrictEncoding.moved` and appended to the node's ``description``
      ("Default: 5. Constraints: maxLength 20."). ``$schema``, ``$id``,
      ``$comment`` and unknown keywords are dropped.

Inexpressible schemas raise :class:`~extractkit.errors.SchemaError` with the
JSON pointer and keyword: a root that is not an object schema, ``$ref`` outside
the document, ``enum``/``const`` of objects or arrays, unsatisfiable ``allOf``,
and wire schemas over the limits.

The parts: this module is the encoder (schema → wire schema + codecs);
:mod:`.strict_codecs` holds the codecs that decode answers and encode
instances, :mod:`.strict_limits` the size limits, and :mod:`.merge` the
``allOf`` merge it shares with the schema view.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaError
from .jsonutil import LocalRefs, is_number, join_pointer, resolve_pointer, split_pointer
from .merge import (
    ANNOTATION_KEYWORDS,
    INFO_KEYWORDS,
    Unsatisfiable,
    merge_schemas,
    same_json,
)
from .strict_codecs import (
    ANY_VALUE,
    DEFAULT,
    DROP,
    KEEP,
    Codec,
    Field,
    ListCodec,
    MapCodec,
    ObjectCodec,
    RefCodec,
    TupleCodec,
    UnionCodec,
    WireCheck,
    compile_pattern,
    prune,
)
from .strict_limits import TooLarge, check_limits
from .view import json_type

SUPPORTED_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)

_ANNOT = ANNOTATION_KEYWORDS
_INFO = INFO_KEYWORDS
_GENERIC = ("not", "if", "then", "else")
_STRING_KW = frozenset(
    {"pattern", "format", "minLength", "maxLength", "contentEncoding", "contentMediaType",
     "contentSchema"}
)  # fmt: skip
_NUMBER_KW = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_ARRAY_KW = frozenset(
    {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
     "contains", "minContains", "maxContains", "unevaluatedItems"}
)  # fmt: skip
_OBJECT_KW = frozenset(
    {"properties", "patternProperties", "additionalProperties", "required", "propertyNames",
     "minProperties", "maxProperties", "dependencies", "dependentRequired",
     "dependentSchemas", "unevaluatedProperties"}
)  # fmt: skip
_STRUCT = frozenset({"type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf"})
_VALIDATION = (
    _STRING_KW | frozenset(_NUMBER_KW) | _ARRAY_KW | _OBJECT_KW | _STRUCT | frozenset(_GENERIC)
)
_CONSTRAINT_ONLY = (
    _ANNOT
    | frozenset(_INFO)
    | frozenset(_GENERIC)
    | frozenset(
        {"$comment", "required", "minProperties", "maxProperties", "dependencies",
         "dependentRequired", "dependentSchemas"}
    )
)  # fmt: skip
_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_SCALARS = frozenset({"string", "number", "integer", "boolean"})
_INFER = (
    ("object", _OBJECT_KW),
    ("array", _ARRAY_KW),
    ("string", _STRING_KW),
    ("number", frozenset(_NUMBER_KW)),
)
_ANY_DEF = "JsonValue"


class _Recursive(SchemaError):
    """A recursive ``$ref`` would have to be inlined into itself."""


_Chain = tuple[str, ...]  # pointers of the $ref targets being inlined, outermost first


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class StrictEncoding:
    """A wire schema for OpenAI strict mode and the way back to the original shape."""

    #: schema to send as strict ``json_schema`` / strict tool ``parameters``
    wire: dict[str, Any]
    #: ``(json_pointer, keyword)`` left out of the wire schema, enforced locally
    moved: tuple[tuple[str, str], ...]
    #: ``True`` when :meth:`decode` returns its input unchanged
    identity: bool
    _decoder: Codec | None = field(default=None, repr=False, compare=False)
    _encoder: Codec | None = field(default=None, repr=False, compare=False)

    def decode(self, data: Any) -> Any:
        """Wire-shaped model output → data shaped like the original schema.

        Untransformed sub-values are shared with ``data``, not copied.
        """
        return data if self._decoder is None else self._decoder.decode(data)

    def encode_instance(self, data: Any) -> Any:
        """Original-shaped data → wire-shaped data (the inverse of :meth:`decode`)."""
        return data if self._encoder is None else self._encoder.encode(data)


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Enc:
    wire: dict[str, Any]
    codec: Codec | None
    is_any: bool = False


def _short(value: Any, limit: int = 160) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    """:func:`.view.json_type`, but an integral float is an integer (as JSON Schema says)."""
    if isinstance(value, float) and value.is_integer():
        return "integer"
    kind = json_type(value)
    return kind if kind in _JSON_KINDS else "object"


_JSON_KINDS = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


def _matches_type(value: Any, t: str) -> bool:
    jt = _json_type(value)
    return jt == t or (t == "number" and jt == "integer")


def _modernize(schema: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy with draft-04 numeric exclusives and ``$recursiveRef`` normalised."""
    s = _Expanded(schema, schema.also, schema.at) if isinstance(schema, _Expanded) else dict(schema)
    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(s.get(excl), bool) and s.pop(excl) and bound in s:
            s[excl] = s.pop(bound)
    if "$recursiveRef" in s and "$ref" not in s:
        s["$ref"] = s.pop("$recursiveRef")
    if s.get("type") == "any":
        del s["type"]
    return s


class _Expanded(dict[str, Any]):
    """A schema mid-encoding, with the encoder's side information kept beside its keys.

    ``also``: ``(keyword, value)`` pairs an ``allOf`` merge could not fold in
    (enforced locally, noted in the description); ``at``: keyword → the pointer
    where it was written (for the siblings of an inlined ``$ref``).
    """

    __slots__ = ("also", "at")

    def __init__(self, items: Any = (), also: Iterable[tuple[str, Any]] = (),
                 at: dict[str, str] | None = None) -> None:
        super().__init__(items)
        self.also: list[tuple[str, Any]] = list(also)
        self.at: dict[str, str] = dict(at or {})


def _also(s: Any) -> list[tuple[str, Any]]:
    return s.also if isinstance(s, _Expanded) else []


def _at(s: Any) -> dict[str, str]:
    return s.at if isinstance(s, _Expanded) else {}


def _has_validation(s: dict[str, Any]) -> bool:
    return bool(_also(s)) or any(k in _VALIDATION for k in s)


def _meaningful_siblings(s: dict[str, Any]) -> bool:
    return bool(_also(s)) or any(
        k in _VALIDATION or k in _INFO or k == "description" for k in s
    )


def _constraint_only(branch: Any) -> bool:
    return isinstance(branch, dict) and all(k in _CONSTRAINT_ONLY for k in branch)


def _merge(a: dict[str, Any], b: dict[str, Any], pointer: str) -> dict[str, Any]:
    """Both schemas at once (``allOf``); what cannot be merged goes to the residue."""
    residue: list[tuple[str, Any]] = []
    out = merge_schemas(a, b, pointer, residue)
    return _Expanded(out, [*_also(a), *residue, *_also(b)], {**_at(b), **_at(a)})


def _notes_text(info: list[str], constraints: list[str]) -> str:
    parts = list(info)
    if constraints:
        parts.append("Constraints: " + "; ".join(constraints) + ".")
    return " ".join(parts)


def _join_description(*texts: Any) -> str | None:
    parts: list[str] = []
    for t in texts:
        if isinstance(t, str) and t.strip() and t not in parts:
            parts.append(t.strip())
    return "\n".join(parts) if parts else None


def _annotate(wire: dict[str, Any], title: Any, *descriptions: Any) -> dict[str, Any]:
    desc = _join_description(*descriptions, wire.get("description"))
    if desc is None and not isinstance(title, str):
        return wire
    out = dict(wire)
    if isinstance(title, str) and "title" not in out:
        out["title"] = title
    if desc is not None:
        out["description"] = desc
    return out


def _nullable(enc: _Enc) -> _Enc:
    w = enc.wire
    if isinstance(w.get("anyOf"), list):
        return _Enc({**w, "anyOf": [*w["anyOf"], {"type": "null"}]}, enc.codec)
    t = w.get("type")
    if isinstance(t, str) and t in _SCALARS and "enum" not in w and "const" not in w:
        return _Enc({**w, "type": [t, "null"]}, enc.codec)
    annot: dict[str, Any] = {k: w[k] for k in ("title", "description") if k in w}
    inner = {k: v for k, v in w.items() if k not in annot}
    return _Enc({"anyOf": [inner, {"type": "null"}], **annot}, enc.codec)


def _single_value(wire: dict[str, Any]) -> tuple[Any] | None:
    if "const" in wire:
        return (wire["const"],)
    values = wire.get("enum")
    return (values[0],) if isinstance(values, list) and len(values) == 1 else None


def _entry(key: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"key": key, "value": value},
        "required": ["key", "value"],
        "additionalProperties": False,
    }


def _object_wire(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _unique_name(base: str, taken: Iterable[str]) -> str:
    used = set(taken)
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    return name


# --------------------------------------------------------------------------- encoder


class _Encoder:
    def __init__(self, schema: dict[str, Any], *, inline_annotated: bool) -> None:
        self.root = schema
        self.refs = LocalRefs(schema)
        self.inline_annotated = inline_annotated
        self.defs: dict[str, dict[str, Any]] = {}
        self.def_names: dict[str, str] = {}
        self.full: dict[str, Codec | None] = {}
        self.moved: dict[tuple[str, str], None] = {}
        self.check = WireCheck()
        self.any_name: str | None = None

    # ---- entry point

    def run(self) -> StrictEncoding:
        enc = self._node(self.root, "", ("",), root=True)
        if enc.wire.get("type") != "object":
            raise SchemaError("the root schema must be an object", pointer="", keyword="type")
        self.full["#"] = enc.codec
        wire = dict(enc.wire)
        if self.defs:
            wire["$defs"] = self.defs
        check_limits(wire)
        self.check.root = wire
        ident = self._identity()
        plan: dict[str, Codec | None] = {}
        for name, codec in self.full.items():
            plan[name] = prune(codec, ident, plan)
        decoder = plan["#"]
        return StrictEncoding(wire, tuple(self.moved), decoder is None, decoder, enc.codec)

    def _identity(self) -> dict[str, bool]:
        ident = dict.fromkeys(self.full, True)
        changed = True
        while changed:
            changed = False
            for name, codec in self.full.items():
                if ident[name] and codec is not None and not codec.trivial(ident):
                    ident[name] = False
                    changed = True
        return ident

    # ---- bookkeeping

    def _move(self, pointer: str, keyword: str, s: dict[str, Any] | None = None) -> None:
        if s is not None:
            pointer = _at(s).get(keyword, pointer)
        self.moved[(pointer, keyword)] = None

    def _def_name(self, pointer: str) -> str:
        tokens = split_pointer(pointer)
        base = re.sub(r"[^A-Za-z0-9_-]", "_", tokens[-1] if tokens else "Root") or "Def"
        return _unique_name(base, [*self.defs, _ANY_DEF])

    def _ref_to(self, target_ptr: str) -> _Enc:
        if target_ptr == "":
            return _Enc({"$ref": "#"}, RefCodec("#", self.full))
        name = self.def_names.get(target_ptr)
        if name is None:
            name = self._def_name(target_ptr)
            self.def_names[target_ptr] = name
            self.defs[name] = {}
            self.full[name] = None
            target = resolve_pointer(self.root, target_ptr)
            try:
                enc = self._node(target, target_ptr, (target_ptr,))
            except SchemaError:
                del self.defs[name], self.full[name], self.def_names[target_ptr]
                raise
            self.defs[name] = enc.wire
            self.full[name] = enc.codec
        return _Enc({"$ref": f"#/$defs/{name}"}, RefCodec(name, self.full))

    def _follow(self, ref: Any, pointer: str) -> tuple[str, Any]:
        """Resolve ``ref``, skipping targets that are bare references themselves."""
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", pointer=pointer, keyword="$ref")
        target_ptr, target = self.refs.resolve(ref, pointer)
        seen = {target_ptr}
        while isinstance(target, dict):
            rest = _modernize(target)
            nxt = rest.pop("$ref", None)
            if nxt is None or _meaningful_siblings(rest):
                break
            if not isinstance(nxt, str):
                raise SchemaError("$ref must be a string", pointer=target_ptr, keyword="$ref")
            target_ptr, target = self.refs.resolve(nxt, target_ptr)
            if target_ptr in seen:
                raise SchemaError("$ref cycle", pointer=target_ptr, keyword="$ref")
            seen.add(target_ptr)
        return target_ptr, target

    def _any(self) -> _Enc:
        if self.any_name is None:
            self.any_name = _ANY_DEF
            ref = {"$ref": f"#/$defs/{_ANY_DEF}"}
            self.defs[_ANY_DEF] = {"anyOf": self._any_branches(ref)}
            self.full[_ANY_DEF] = ANY_VALUE
        ref = {"$ref": f"#/$defs/{_ANY_DEF}"}
        return _Enc({"anyOf": self._any_branches(ref)}, ANY_VALUE, is_any=True)

    @staticmethod
    def _any_branches(ref: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": dict(ref)},
            {"type": "array", "items": _entry({"type": "string"}, dict(ref))},
        ]

    # ---- original-schema analysis

    def _accepts_null(self, schema: Any, pointer: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``schema`` surely accepts ``null`` (``False`` when unsure).

        Only asked for optional properties, where leaving the key out is the safe
        answer to a ``null`` from the model.
        """
        if not isinstance(schema, dict):
            return schema is not False
        s = _modernize(schema)
        if _also(s) or any(k in s for k in (*_GENERIC, "dependentSchemas", "$dynamicRef")):
            return False
        if "$ref" in s:
            try:
                target_ptr, target = self.refs.resolve(s["$ref"], pointer)
            except SchemaError:
                return False
            if target_ptr in seen or not self._accepts_null(
                target, target_ptr, seen | {target_ptr}
            ):
                return False
        if "const" in s and s["const"] is not None:
            return False
        if isinstance(s.get("enum"), list) and not any(v is None for v in s["enum"]):
            return False
        t = s.get("type")
        if (isinstance(t, str) and t != "null") or (isinstance(t, list) and "null" not in t):
            return False
        for key, check in (("allOf", all), ("anyOf", any), ("oneOf", any)):
            subs = s.get(key)
            if isinstance(subs, list) and subs:
                ok = check(
                    self._accepts_null(x, join_pointer(pointer, key, i), seen)
                    for i, x in enumerate(subs)
                )
                if not ok:
                    return False
        return True

    # ---- normalisation

    def _expand(
        self, schema: Any, pointer: str, chain: _Chain, *, inline: bool
    ) -> _Enc | tuple[dict[str, Any], str, _Chain]:
        """Resolve ``$ref`` with siblings, ``allOf`` and ``oneOf`` at the top of ``schema``.

        Returns a plain reference (an :class:`_Enc`) or ``(schema, pointer, chain)``.
        """
        if schema is True:
            return {}, pointer, chain
        if schema is False:
            raise Unsatisfiable("the schema `false` accepts no value", pointer=pointer)
        if not isinstance(schema, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
        s = _modernize(schema)
        all_of = s.get("allOf")
        if "$ref" not in s and isinstance(all_of, list) and len(all_of) == 1:
            only = all_of[0]
            if isinstance(only, dict) and "$ref" in only and not (set(only) & set(s)):
                inner = _modernize(only)
                s = _Expanded({**{k: v for k, v in s.items() if k != "allOf"}, **inner},
                              [*_also(s), *_also(inner)], {**_at(inner), **_at(s)})
        if "$dynamicRef" in s:
            raise SchemaError(
                "$dynamicRef is not supported", pointer=pointer, keyword="$dynamicRef"
            )
        if "$ref" in s:
            ref = s.pop("$ref")
            target_ptr, target = self._follow(ref, pointer)
            annotated = _meaningful_siblings(s)
            validating = _has_validation(s)
            if not inline and (not annotated or (not validating and not self.inline_annotated)):
                for key in _INFO:
                    if key in s:
                        self._move(pointer, key)
                return self._ref_to(target_ptr)
            if inline and chain.count(target_ptr) >= 2:
                raise _Recursive(
                    "recursive $ref cannot be inlined here", pointer=pointer, keyword="$ref"
                )
            if not inline and target_ptr in chain:
                for key in s:
                    if key in _VALIDATION or key in _INFO:
                        self._move(pointer, key)
                return self._ref_to(target_ptr)
            found = self._expand(target, target_ptr, (*chain, target_ptr), inline=True)
            assert isinstance(found, tuple)
            t, t_ptr, chain = found
            s = _Expanded(s, _also(s), {**_at(s), **dict.fromkeys(s, pointer)})
            s = _merge(s, t, pointer)
            if not validating:
                pointer = t_ptr
        if "allOf" in s:
            s, chain = self._merge_all_of(s, pointer, chain)
        if "oneOf" in s:
            one = s.pop("oneOf")
            if "anyOf" in s:
                s = _merge(s, {"anyOf": one}, pointer)
            else:
                s["anyOf"] = one
        return s, pointer, chain

    def _merge_all_of(
        self, s: dict[str, Any], pointer: str, chain: _Chain
    ) -> tuple[dict[str, Any], _Chain]:
        members = s.pop("allOf")
        if not isinstance(members, list):
            raise SchemaError("allOf must be a list", pointer=pointer, keyword="allOf")
        acc = s
        for i, member in enumerate(members):
            found = self._expand(member, join_pointer(pointer, "allOf", i), chain, inline=True)
            assert isinstance(found, tuple)
            m, _, chain = found
            acc = _merge(acc, m, pointer)
        if "allOf" in acc:
            return self._merge_all_of(acc, pointer, chain)
        return acc, chain

    # ---- nodes

    def _node(
        self,
        schema: Any,
        pointer: str,
        chain: _Chain,
        *,
        root: bool = False,
        wrap_map: bool = False,
    ) -> _Enc:
        found = self._expand(schema, pointer, chain, inline=root)
        if isinstance(found, _Enc):
            return found
        s, pointer, chain = found
        if "anyOf" in s:
            return self._union(s, pointer, chain, root=root)
        return self._typed(s, pointer, chain, root=root, wrap_map=wrap_map)

    def _info_notes(self, s: dict[str, Any], pointer: str) -> tuple[list[str], list[str]]:
        info: list[str] = []
        constraints: list[str] = []
        for key in _INFO:
            if key in s:
                self._move(pointer, key, s)
                if key == "default" and s[key] is not None:
                    info.append(f"Default: {_short(s[key])}.")
                elif key == "examples":
                    info.append(f"Examples: {_short(s[key])}.")
                elif key != "default" and s[key]:
                    info.append(f"{key}.")
        for key in _GENERIC:
            if key in s:
                self._move(pointer, key, s)
                constraints.append(f"{key} {_short(s[key])}")
        for key, value in _also(s):
            self._move(pointer, key)
            constraints.append(f"{key} {_short(value)}")
        return info, constraints

    def _union(self, s: dict[str, Any], pointer: str, chain: _Chain, *, root: bool) -> _Enc:
        branches = s["anyOf"]
        if not isinstance(branches, list) or not branches:
            raise SchemaError(
                "anyOf/oneOf must be a non-empty list", pointer=pointer, keyword="anyOf"
            )
        rest = _Expanded(((k, v) for k, v in s.items() if k != "anyOf"), _also(s), _at(s))
        shape = {k: v for k, v in rest.items() if k in _VALIDATION and k not in _GENERIC}
        if shape and all(_constraint_only(b) for b in branches):
            rest.also.append(("anyOf", branches))
            return self._typed(rest, pointer, chain, root=root, wrap_map=False)
        if root:
            raise SchemaError(
                "the root schema must be an object, not a union", pointer="", keyword="anyOf"
            )
        if shape:
            rest = _Expanded(((k, v) for k, v in rest.items() if k not in shape), rest.also,
                             rest.at)
        live = [(i, b) for i, b in enumerate(branches) if b is not False]
        if len(live) == 1:
            b = live[0][1] if not shape else {"allOf": [shape, live[0][1]]}
            return self._node({"allOf": [rest, b]}, pointer, chain)
        encs, live = self._alternatives(live, shape, pointer, chain)
        info, constraints = self._info_notes(rest, pointer)
        notes = _notes_text(info, constraints)
        if any(e.is_any for e in encs):
            e = self._any()
            return _Enc(
                _annotate(e.wire, rest.get("title"), rest.get("description"), notes), ANY_VALUE, True
            )
        encs = self._unambiguous_maps(encs, live, pointer, chain)
        wires, codecs = self._flatten(encs)
        if len(wires) == 1:
            return _Enc(
                _annotate(wires[0], rest.get("title"), rest.get("description"), notes), codecs[0]
            )
        wire = _annotate({"anyOf": wires}, rest.get("title"), rest.get("description"), notes)
        return _Enc(wire, self._union_codec(wires, codecs))

    def _alternatives(
        self, live: list[tuple[int, Any]], shape: dict[str, Any], pointer: str, chain: _Chain
    ) -> tuple[list[_Enc], list[tuple[int, Any]]]:
        """Encode the alternatives of a union, each merged with the shared ``shape``."""
        encs: list[_Enc] = []
        kept: list[tuple[int, Any]] = []
        for i, branch in live:
            sub_ptr = join_pointer(pointer, "anyOf", i)
            merged = (
                branch if self._redundant(shape, branch, sub_ptr) else {"allOf": [shape, branch]}
            )
            try:
                try:
                    enc = self._node(merged, sub_ptr, chain)
                except _Recursive:
                    enc = self._node(branch, sub_ptr, chain)
                    for key in shape:
                        self._move(pointer, key)
            except Unsatisfiable:
                continue
            encs.append(enc)
            kept.append((i, merged))
        if not encs:
            raise Unsatisfiable(
                "no alternative of anyOf can match", pointer=pointer, keyword="anyOf"
            )
        return encs, kept

    def _redundant(self, shape: dict[str, Any], branch: Any, pointer: str) -> bool:
        """Whether a ``$ref`` alternative already says everything in ``shape``."""
        if not shape:
            return True
        if not (isinstance(branch, dict) and "$ref" in branch):
            return False
        try:
            _, target = self._follow(branch["$ref"], pointer)
        except SchemaError:
            return False
        return isinstance(target, dict) and all(
            k in target and same_json(target[k], v) for k, v in shape.items()
        )

    def _union_codec(
        self, wires: list[dict[str, Any]], codecs: list[Codec | None]
    ) -> Codec | None:
        active = [c for c in codecs if c is not None]
        if not active:
            return None
        others_null = all(
            w == {"type": "null"} for w, c in zip(wires, codecs, strict=True) if c is None
        )
        if len(active) == 1 and others_null:
            return active[0]
        return UnionCodec(zip(wires, codecs, strict=True), self.check)

    def _unambiguous_maps(
        self, encs: list[_Enc], live: list[tuple[int, Any]], pointer: str, chain: _Chain
    ) -> list[_Enc]:
        arrays = [e for e in encs if e.wire.get("type") == "array"]
        if len(arrays) < 2 or not any(isinstance(e.codec, MapCodec) for e in arrays):
            return encs
        out = []
        for e, (i, b) in zip(encs, live, strict=True):
            if isinstance(e.codec, MapCodec):
                e = self._node(b, join_pointer(pointer, "anyOf", i), chain, wrap_map=True)
            out.append(e)
        return out

    @staticmethod
    def _flatten(encs: list[_Enc]) -> tuple[list[dict[str, Any]], list[Codec | None]]:
        wires: list[dict[str, Any]] = []
        codecs: list[Codec | None] = []
        seen: set[str] = set()

        def add(w: dict[str, Any], c: Codec | None) -> None:
            key = json.dumps(w, sort_keys=True, default=str)
            if c is None and key in seen:
                return
            seen.add(key)
            wires.append(w)
            codecs.append(c)

        for e in encs:
            if set(e.wire) == {"anyOf"} and (e.codec is None or isinstance(e.codec, UnionCodec)):
                subs = {id(w): c for w, c in e.codec.branches} if e.codec is not None else {}
                for w in e.wire["anyOf"]:
                    add(w, subs.get(id(w)))
            else:
                add(e.wire, e.codec)
        return wires, codecs

    def _types(self, s: dict[str, Any], pointer: str, root: bool) -> list[str] | None:
        t = s.get("type")
        if isinstance(t, str):
            types: list[str] | None = [t]
        elif isinstance(t, list):
            types = list(dict.fromkeys(x for x in t if isinstance(x, str)))
        elif t is None:
            types = None
        else:
            raise SchemaError("type must be a string or a list", pointer=pointer, keyword="type")
        for name in types or []:
            if name not in _TYPES:
                raise SchemaError(f"unknown type {name!r}", pointer=pointer, keyword="type")
        values = self._values(s, pointer)
        if values is not None:
            if types is None:
                types = list(dict.fromkeys(_json_type(v) for v in values))
            else:
                types = [t for t in types if any(_matches_type(v, t) for v in values)]
        elif types is None:
            types = [name for name, kws in _INFER if any(k in s for k in kws)] or None
        if types is not None and "number" in types and "integer" in types:
            types.remove("integer")
        if root:
            if not types or "object" not in types:
                raise SchemaError("the root schema must be an object", pointer="", keyword="type")
            types = ["object"]
        if types == []:
            keyword = "enum" if values is not None else "type"
            raise Unsatisfiable("no value can match this schema", pointer=pointer, keyword=keyword)
        return types

    @staticmethod
    def _values(s: dict[str, Any], pointer: str) -> list[Any] | None:
        if "const" in s:
            return [s["const"]]
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError("enum must be a list", pointer=pointer, keyword="enum")
            return s["enum"]
        return None

    def _typed(
        self, s: dict[str, Any], pointer: str, chain: _Chain, *, root: bool, wrap_map: bool
    ) -> _Enc:
        types = self._types(s, pointer, root)
        info, constraints = self._info_notes(s, pointer)
        if types is None:
            e = self._any()
            notes = _notes_text(info, constraints)
            return _Enc(_annotate(e.wire, s.get("title"), s.get("description"), notes), ANY_VALUE, True)
        values = self._values(s, pointer)
        wrap = wrap_map or ("object" in types and "array" in types)
        parts = [self._branch(t, s, pointer, chain, values, wrap, root) for t in types]
        title, desc = s.get("title"), s.get("description")
        if len(parts) == 1:
            enc, own = parts[0]
            notes = _notes_text(info, constraints + own)
            return _Enc(_annotate(enc.wire, title, desc, notes), enc.codec)
        notes = _notes_text(info, constraints)
        wires = [_annotate(e.wire, None, _notes_text([], own)) for e, own in parts]
        codecs = [e.codec for e, _ in parts]
        null_pair = len(wires) == 2 and wires[1] == {"type": "null"}
        first_type = wires[0].get("type")
        if null_pair and first_type in _SCALARS and not ({"enum", "const"} & set(wires[0])):
            wire = {**wires[0], "type": [first_type, "null"]}
            return _Enc(_annotate(wire, title, desc, notes), codecs[0])
        return _Enc(
            _annotate({"anyOf": wires}, title, desc, notes), self._union_codec(wires, codecs)
        )

    def _branch(
        self,
        t: str,
        s: dict[str, Any],
        pointer: str,
        chain: _Chain,
        values: list[Any] | None,
        wrap_map: bool,
        root: bool,
    ) -> tuple[_Enc, list[str]]:
        vals = None if values is None else [v for v in values if _matches_type(v, t)]
        if vals is not None and t in ("object", "array"):
            keyword = "const" if "const" in s else "enum"
            raise SchemaError(
                f"{keyword} with {t} values is not supported", pointer=pointer, keyword=keyword
            )
        if t == "object":
            return self._object(s, pointer, chain, wrap_map=wrap_map, root=root)
        if t == "array":
            return self._array(s, pointer, chain)
        wire: dict[str, Any] = {"type": t}
        notes: list[str] = []
        if t == "string":
            notes = self._string(s, pointer, wire)
        elif t in ("number", "integer"):
            for key in _NUMBER_KW:
                if is_number(s.get(key)):
                    wire[key] = s[key]
        if vals is not None and t != "null":
            if "const" in s:
                wire["const"] = vals[0]
            else:
                wire["enum"] = list(vals)
        return _Enc(wire, None), notes

    def _string(self, s: dict[str, Any], pointer: str, wire: dict[str, Any]) -> list[str]:
        notes = []
        if isinstance(s.get("pattern"), str):
            wire["pattern"] = s["pattern"]
        fmt = s.get("format")
        if fmt in SUPPORTED_FORMATS:
            wire["format"] = fmt
        elif fmt is not None:
            self._move(pointer, "format", s)
            notes.append(f"format {_short(fmt)}")
        for key in (
            "minLength",
            "maxLength",
            "contentEncoding",
            "contentMediaType",
            "contentSchema",
        ):
            if key in s:
                self._move(pointer, key, s)
                notes.append(f"{key} {_short(s[key])}")
        return notes

    # ---- objects

    def _object(
        self, s: dict[str, Any], pointer: str, chain: _Chain, *, wrap_map: bool, root: bool
    ) -> tuple[_Enc, list[str]]:
        props: dict[str, Any] = s["properties"] if isinstance(s.get("properties"), dict) else {}
        required = (
            [r for r in s.get("required", []) if isinstance(r, str)]
            if isinstance(s.get("required"), list)
            else []
        )
        pattern_props = s.get("patternProperties")
        pattern_props = pattern_props if isinstance(pattern_props, dict) else {}
        ap = s.get("additionalProperties")
        names = list(props) + [r for r in dict.fromkeys(required) if r not in props]
        extra = [(p, sub) for p, sub in pattern_props.items() if sub is not False]
        if isinstance(ap, dict) and _has_validation(ap):
            extra.append((None, ap))
        elif ap is not False and not names and not pattern_props:
            extra.append((None, ap if isinstance(ap, dict) else True))
        pure_map = bool(extra) and not names
        notes: list[str] = []
        for key in (
            "dependencies",
            "dependentRequired",
            "dependentSchemas",
            "unevaluatedProperties",
        ):
            if key in s:
                self._move(pointer, key, s)
                notes.append(f"{key} {_short(s[key])}")
        counts = {k: s[k] for k in ("minProperties", "maxProperties") if isinstance(s.get(k), int)}
        if counts and not (pure_map and not root and not wrap_map):
            for key, value in counts.items():
                self._move(pointer, key, s)
                notes.append(f"{key} {value}")
        fields, wire_props = self._fields(names, props, required, extra, pointer, chain)
        if not extra:
            if "propertyNames" in s:
                self._move(pointer, "propertyNames", s)
                notes.append(f"propertyNames {_short(s['propertyNames'])}")
            return _Enc(_object_wire(wire_props), ObjectCodec(fields, None, None)), notes
        items, map_codec = self._entries(s, extra, pointer, chain, notes)
        entries: dict[str, Any] = {"type": "array", "items": items}
        if pure_map and not root and not wrap_map:
            if "minProperties" in counts:
                entries["minItems"] = counts["minProperties"]
            if "maxProperties" in counts:
                entries["maxItems"] = counts["maxProperties"]
            return _Enc(entries, map_codec), notes
        extra_name = _unique_name("entries" if not names else "additional_entries", names)
        what = "Members" if not names else "Further members"
        entries["description"] = f"{what} of this object as key/value pairs."
        wire_props[extra_name] = entries
        codec = ObjectCodec(fields, extra_name, map_codec)
        return _Enc(_object_wire(wire_props), codec), notes

    def _fields(
        self,
        names: list[str],
        props: dict[str, Any],
        required: list[str],
        extra: list[tuple[str | None, Any]],
        pointer: str,
        chain: _Chain,
    ) -> tuple[list[Field], dict[str, Any]]:
        fields: list[Field] = []
        wire_props: dict[str, Any] = {}
        for name in names:
            sub = props[name] if name in props else self._extra_schema_for(name, extra)
            if sub is False:
                continue
            sub_ptr = join_pointer(pointer, "properties", name)
            try:
                enc = self._node(sub, sub_ptr, chain)
            except Unsatisfiable:
                if name in required:
                    raise
                continue  # the property can never be present
            has_default = isinstance(sub, dict) and "default" in sub
            on_null, default, fill = KEEP, None, None
            single = _single_value(enc.wire)
            if single is not None and (name not in required or has_default):
                fill = single[0]  # a lone constant: the model just repeats it
            elif name not in required or has_default:
                if not self._accepts_null(sub, sub_ptr):
                    on_null = DEFAULT if name in required else DROP
                    default = sub.get("default") if isinstance(sub, dict) else None
                if not self._wire_nullable(enc.wire, frozenset()):
                    enc = _nullable(enc)
            fields.append(Field(name, enc.codec, on_null, default, fill))
            wire_props[name] = enc.wire
        return fields, wire_props

    @staticmethod
    def _extra_schema_for(name: str, extra: list[tuple[str | None, Any]]) -> Any:
        fallback: Any = True
        for pattern, sub in extra:
            if pattern is None:
                fallback = sub
            else:
                rx = compile_pattern(pattern)
                if rx is not None and rx.search(name):
                    return sub
        return fallback

    def _entries(
        self,
        s: dict[str, Any],
        extra: list[tuple[str | None, Any]],
        pointer: str,
        chain: _Chain,
        notes: list[str],
    ) -> tuple[dict[str, Any], MapCodec]:
        key = self._key_schema(s, pointer, chain, notes)
        variants: list[dict[str, Any]] = []
        codecs: list[tuple[str | None, Codec | None]] = []
        for pattern, sub in extra:
            if pattern is None:
                sub_ptr = join_pointer(pointer, "additionalProperties")
                key_wire = key
            else:
                sub_ptr = join_pointer(pointer, "patternProperties", pattern)
                if "pattern" in key:
                    self._move(pointer, "propertyNames")
                key_wire = {**key, "pattern": pattern}
            enc = self._node(sub, sub_ptr, chain)
            variants.append(_entry(key_wire, enc.wire))
            codecs.append((pattern, enc.codec))
        items = variants[0] if len(variants) == 1 else {"anyOf": variants}
        return items, MapCodec(codecs)

    def _key_schema(
        self, s: dict[str, Any], pointer: str, chain: _Chain, notes: list[str]
    ) -> dict[str, Any]:
        names = s.get("propertyNames")
        if names is None or names is True:
            return {"type": "string"}
        try:
            enc = self._node(names, join_pointer(pointer, "propertyNames"), chain)
        except SchemaError:
            enc = None
        if enc is not None and enc.wire.get("type") == "string" and enc.codec is None:
            return enc.wire
        self._move(pointer, "propertyNames")
        notes.append(f"propertyNames {_short(names)}")
        return {"type": "string"}

    def _wire_nullable(self, wire: Any, seen: frozenset[str]) -> bool:
        if not isinstance(wire, dict):
            return False
        t = wire.get("type")
        if t == "null" or (isinstance(t, list) and "null" in t):
            return True
        if "const" in wire and wire["const"] is None:
            return True
        if isinstance(wire.get("enum"), list) and any(v is None for v in wire["enum"]):
            return True
        if isinstance(wire.get("anyOf"), list):
            return any(self._wire_nullable(b, seen) for b in wire["anyOf"])
        ref = wire.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            target = self.defs.get(ref.split("/")[-1]) if ref != "#" else None
            return self._wire_nullable(target, seen | {ref})
        return False

    # ---- arrays

    def _array(self, s: dict[str, Any], pointer: str, chain: _Chain) -> tuple[_Enc, list[str]]:
        notes: list[str] = []
        for key in ("uniqueItems", "contains", "minContains", "maxContains", "unevaluatedItems"):
            if key in s and not (key == "uniqueItems" and s[key] is False):
                self._move(pointer, key, s)
                notes.append(f"{key} {_short(s[key])}")
        items = s.get("items")
        prefix, rest, prefix_kw = None, None, "prefixItems"
        if isinstance(items, list):
            prefix, rest, prefix_kw = items, s.get("additionalItems", True), "items"
        elif isinstance(s.get("prefixItems"), list):
            prefix, rest = s["prefixItems"], items if "items" in s else True
        if prefix:
            return self._tuple(s, prefix, rest, prefix_kw, pointer, chain, notes)
        if prefix is not None:
            items = rest
        wire: dict[str, Any] = {"type": "array"}
        if items is False:
            wire["maxItems"] = 0
            items = True
        try:
            enc = self._node(
                True if items is None else items, join_pointer(pointer, "items"), chain
            )
        except Unsatisfiable:
            wire["maxItems"] = 0
            enc = self._any()
        wire["items"] = enc.wire
        for key in ("minItems", "maxItems"):
            if isinstance(s.get(key), int) and key not in wire:
                wire[key] = s[key]
        return _Enc(wire, None if enc.codec is None else ListCodec(enc.codec)), notes

    def _tuple(
        self,
        s: dict[str, Any],
        prefix: list[Any],
        rest: Any,
        prefix_kw: str,
        pointer: str,
        chain: _Chain,
        notes: list[str],
    ) -> tuple[_Enc, list[str]]:
        min_items: int = s["minItems"] if isinstance(s.get("minItems"), int) else 0
        max_items: int | None = s["maxItems"] if isinstance(s.get("maxItems"), int) else None
        if rest is not False and (max_items is None or max_items > len(prefix)):
            return self._open_tuple(s, prefix, rest, prefix_kw, pointer, chain, notes)
        count = len(prefix) if max_items is None else min(len(prefix), max_items)
        names, codecs, drops, props = [], [], [], {}
        for i in range(count):
            sub_ptr = join_pointer(pointer, prefix_kw, i)
            enc = self._node(prefix[i], sub_ptr, chain)
            drop = False
            if i >= min_items:
                drop = not self._accepts_null(prefix[i], sub_ptr)
                if not self._wire_nullable(enc.wire, frozenset()):
                    enc = _nullable(enc)
            name = f"item_{i}"
            names.append(name)
            codecs.append(enc.codec)
            drops.append(drop)
            props[name] = enc.wire
        wire = _object_wire(props)
        wire["description"] = "The array's items by position."
        return _Enc(wire, TupleCodec(tuple(names), tuple(codecs), tuple(drops))), notes

    def _open_tuple(
        self,
        s: dict[str, Any],
        prefix: list[Any],
        rest: Any,
        prefix_kw: str,
        pointer: str,
        chain: _Chain,
        notes: list[str],
    ) -> tuple[_Enc, list[str]]:
        self._move(pointer, prefix_kw)
        positions = ", ".join(f"{i + 1}) {_short(p, 60)}" for i, p in enumerate(prefix))
        notes.append(f"items by position: {positions}")
        extra = [rest] if isinstance(rest, dict) and _has_validation(rest) else []
        union = {"anyOf": [*prefix, *extra]}
        enc = self._node(union, join_pointer(pointer, prefix_kw), chain)
        wire: dict[str, Any] = {"type": "array", "items": enc.wire}
        for key in ("minItems", "maxItems"):
            if isinstance(s.get(key), int):
                wire[key] = s[key]
        return _Enc(wire, None if enc.codec is None else ListCodec(enc.codec)), notes


# --------------------------------------------------------------------------- API


def encode_strict(schema: dict[str, Any]) -> StrictEncoding:
    """Encode ``schema`` for OpenAI strict mode (see the module docstring).

    Pure: ``schema`` is not modified and equal inputs give equal outputs. Raises
    :class:`~extractkit.errors.SchemaError` when the schema cannot be expressed.
    """
    if not isinstance(schema, dict):
        raise SchemaError("the root schema must be an object schema", pointer="", keyword="type")
    try:
        return _Encoder(schema, inline_annotated=True).run()
    except TooLarge:
        return _Encoder(schema, inline_annotated=False).run()


__all__ = ["SUPPORTED_FORMATS", "StrictEncoding", "encode_strict"]
