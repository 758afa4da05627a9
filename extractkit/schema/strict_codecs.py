"""The codecs of a strict encoding: wire-shaped data ⇄ data shaped like the original schema.

:func:`~.strict.encode_strict` builds one codec per place of the schema whose
wire form differs from the original (closed objects with nullable optional
keys, maps as ``{"key", "value"}`` entry lists, tuples as ``item_N`` objects,
any-values, unions told apart by shape) and prunes those that turn out to be
the identity. ``decode`` runs on every model answer; ``encode`` is its inverse
(:meth:`~.strict.StrictEncoding.encode_instance`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from .merge import TYPE_ORDER

#: What decoding does with a ``null`` for an optional key.
KEEP, DROP, DEFAULT = "keep", "drop", "default"


class Codec:
    """Turns wire-shaped data into original-shaped data (``decode``) and back."""

    __slots__ = ()

    def decode(self, data: Any) -> Any:
        raise NotImplementedError

    def encode(self, data: Any) -> Any:
        raise NotImplementedError

    def trivial(self, ident: dict[str, bool]) -> bool:
        return False

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        return self


def prune(
    codec: Codec | None, ident: dict[str, bool], plan: dict[str, Codec | None]
) -> Codec | None:
    if codec is None or codec.trivial(ident):
        return None
    return codec.pruned(ident, plan)


def decode_with(codec: Codec | None, value: Any) -> Any:
    return value if codec is None else codec.decode(value)


def encode_with(codec: Codec | None, value: Any) -> Any:
    return value if codec is None else codec.encode(value)


@dataclass(frozen=True)
class Field:
    name: str
    codec: Codec | None
    on_null: str = KEEP
    default: Any = None
    fill: Any = None  # wire value for an absent key (encode_instance)


class ObjectCodec(Codec):
    """Closed wire object; drops nulls of optional keys; folds the entries list back in."""

    __slots__ = ("by_name", "extra", "extra_name", "fields")

    def __init__(
        self, fields: Iterable[Field], extra_name: str | None, extra: MapCodec | None
    ) -> None:
        self.fields = tuple(fields)
        self.by_name = {f.name: f for f in self.fields}
        self.extra_name = extra_name
        self.extra = extra

    def decode(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        extra_items = None
        for key, value in data.items():
            f = self.by_name.get(key)
            if f is None:
                if key == self.extra_name:
                    extra_items = value
                else:
                    out[key] = value
            elif value is None and f.on_null != KEEP:
                if f.on_null == DEFAULT:
                    out[key] = copy.deepcopy(f.default)
            else:
                codec = f.codec
                out[key] = value if codec is None else codec.decode(value)
        if self.extra is not None and extra_items is not None:
            extras = self.extra.decode(extra_items)
            if not isinstance(extras, dict):
                out[str(self.extra_name)] = extras
                return out
            for key, value in extras.items():
                if key not in self.by_name:
                    out.setdefault(key, value)
        return out

    def encode(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for f in self.fields:
            out[f.name] = encode_with(f.codec, data[f.name]) if f.name in data else f.fill
        extras = {k: v for k, v in data.items() if k not in self.by_name}
        if self.extra is not None:
            out[str(self.extra_name)] = self.extra.encode(extras)
        else:
            out.update(extras)
        return out

    def trivial(self, ident: dict[str, bool]) -> bool:
        return self.extra is None and all(
            f.on_null == KEEP and (f.codec is None or f.codec.trivial(ident)) for f in self.fields
        )

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        fields = []
        for f in self.fields:
            sub = prune(f.codec, ident, plan)
            if sub is not None or f.on_null != KEEP:
                fields.append(Field(f.name, sub, f.on_null, f.default))
        extra = (
            None
            if self.extra is None
            else MapCodec((p, prune(c, ident, plan)) for p, c in self.extra.variants)
        )
        return ObjectCodec(fields, self.extra_name, extra)


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, TypeError):
        return None


class MapCodec(Codec):
    """A list of ``{"key", "value"}`` entries ⇄ a dict."""

    __slots__ = ("_matchers", "_plain", "variants")

    def __init__(self, variants: Iterable[tuple[str | None, Codec | None]]) -> None:
        self.variants = tuple(variants)
        self._plain = all(c is None for _, c in self.variants)
        self._matchers = tuple(
            (None if p is None else compile_pattern(p), p is None, c) for p, c in self.variants
        )

    def _codec_for(self, key: str) -> Codec | None:
        if len(self._matchers) == 1:
            return self._matchers[0][2]
        fallback: Codec | None = None
        seen_fallback = False
        for rx, catch_all, codec in self._matchers:
            if catch_all and not seen_fallback:
                fallback, seen_fallback = codec, True
            elif rx is not None and rx.search(key):
                return codec
        return fallback

    def decode(self, data: Any) -> Any:
        if not isinstance(data, list):
            return data
        out: dict[str, Any] = {}
        plain = self._plain
        for entry in data:
            if not (isinstance(entry, dict) and isinstance(entry.get("key"), str)):
                return data
            key = entry["key"]
            value = entry.get("value")
            out[key] = value if plain else decode_with(self._codec_for(key), value)
        return out

    def encode(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return [{"key": k, "value": encode_with(self._codec_for(k), v)} for k, v in data.items()]

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        return MapCodec((p, prune(c, ident, plan)) for p, c in self.variants)


class ListCodec(Codec):
    __slots__ = ("item",)

    def __init__(self, item: Codec) -> None:
        self.item = item

    def decode(self, data: Any) -> Any:
        if not isinstance(data, list):
            return data
        item = self.item
        return [item.decode(x) for x in data]

    def encode(self, data: Any) -> Any:
        if not isinstance(data, list):
            return data
        return [self.item.encode(x) for x in data]

    def trivial(self, ident: dict[str, bool]) -> bool:
        return self.item.trivial(ident)

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        item = prune(self.item, ident, plan)
        return None if item is None else ListCodec(item)


class TupleCodec(Codec):
    """Object ``{"item_0": …, "item_1": …}`` ⇄ list; a dropped null ends the list."""

    __slots__ = ("codecs", "drops", "names")

    def __init__(
        self, names: tuple[str, ...], codecs: tuple[Codec | None, ...], drops: tuple[bool, ...]
    ) -> None:
        self.names, self.codecs, self.drops = names, codecs, drops

    def decode(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = []
        for name, codec, drop in zip(self.names, self.codecs, self.drops, strict=True):
            if name not in data or (drop and data[name] is None):
                break
            out.append(decode_with(codec, data[name]))
        return out

    def encode(self, data: Any) -> Any:
        if not isinstance(data, list):
            return data
        return {
            name: encode_with(codec, data[i]) if i < len(data) else None
            for i, (name, codec) in enumerate(zip(self.names, self.codecs, strict=True))
        }

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        return TupleCodec(
            self.names, tuple(prune(c, ident, plan) for c in self.codecs), self.drops
        )


class AnyCodec(Codec):
    """Any JSON value; an object travels as a list of ``{"key", "value"}`` entries.

    On the wire no other value is a JSON object, so a non-empty list of objects is an
    object; any other list is an array (``{}`` and ``[]`` both travel as ``[]``).
    """

    __slots__ = ()

    def decode(self, data: Any) -> Any:
        if not isinstance(data, list):
            return data
        if data and all(isinstance(x, dict) for x in data):
            out: dict[str, Any] = {}
            for entry in data:
                if not isinstance(entry.get("key"), str):
                    return data
                out[entry["key"]] = self.decode(entry.get("value"))
            return out
        return [self.decode(x) for x in data]

    def encode(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.encode(x) for x in data]
        if isinstance(data, dict):
            return [{"key": k, "value": self.encode(v)} for k, v in data.items()]
        return data


ANY_VALUE = AnyCodec()


class RefCodec(Codec):
    __slots__ = ("name", "table")

    def __init__(self, name: str, table: dict[str, Codec | None]) -> None:
        self.name, self.table = name, table

    def decode(self, data: Any) -> Any:
        return decode_with(self.table.get(self.name), data)

    def encode(self, data: Any) -> Any:
        return encode_with(self.table.get(self.name), data)

    def trivial(self, ident: dict[str, bool]) -> bool:
        return ident.get(self.name, True)

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        return None if ident.get(self.name, True) else RefCodec(self.name, plan)


_ALL_KINDS = frozenset(TYPE_ORDER)


def _kind_ok(kinds: frozenset[str], data: Any) -> bool:
    if data is None:
        return "null" in kinds
    if isinstance(data, bool):
        return "boolean" in kinds
    if isinstance(data, int):
        return "integer" in kinds or "number" in kinds
    if isinstance(data, float):
        return "number" in kinds or ("integer" in kinds and data.is_integer())
    if isinstance(data, str):
        return "string" in kinds
    if isinstance(data, list):
        return "array" in kinds
    return isinstance(data, dict) and "object" in kinds


class WireCheck:
    """Validation against parts of the finished wire schema (union disambiguation)."""

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}
        self._base: Draft202012Validator | None = None
        self._evolved: dict[int, tuple[dict[str, Any], Any]] = {}
        self._shapes: dict[int, tuple[dict[str, Any], frozenset[str], frozenset[str] | None]] = {}

    def valid(self, data: Any, wire: dict[str, Any]) -> bool:
        found = self._evolved.get(id(wire))
        if found is None:
            if self._base is None:
                self._base = Draft202012Validator(self.root)
            found = (wire, self._base.evolve(schema=wire))
            self._evolved[id(wire)] = found
        return bool(found[1].is_valid(data))

    def accepts(self, data: Any, wire: dict[str, Any]) -> bool:
        found = self._shapes.get(id(wire))
        if found is None:
            kinds, keys = self._shape(wire, frozenset())
            found = (wire, kinds, keys)
            self._shapes[id(wire)] = found
        _, kinds, keys = found
        if not _kind_ok(kinds, data):
            return False
        return keys is None or not isinstance(data, dict) or data.keys() == keys

    def _shape(
        self, wire: Any, seen: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str] | None]:
        if not isinstance(wire, dict):
            return _ALL_KINDS, None
        ref = wire.get("$ref")
        if isinstance(ref, str):
            if ref in seen:
                return _ALL_KINDS, None
            target = self.root if ref == "#" else self.root.get("$defs", {}).get(ref.split("/")[-1])
            return self._shape(target, seen | {ref})
        if isinstance(wire.get("anyOf"), list):
            kinds: set[str] = set()
            for branch in wire["anyOf"]:
                kinds |= self._shape(branch, seen)[0]
            return frozenset(kinds), None
        t = wire.get("type")
        if t is None:
            return _ALL_KINDS, None
        types = frozenset([t] if isinstance(t, str) else t)
        props = wire.get("properties")
        keys = frozenset(props) if types == {"object"} and isinstance(props, dict) else None
        return types, keys


class UnionCodec(Codec):
    """``anyOf`` whose alternatives decode differently: pick the alternative by shape."""

    __slots__ = ("branches", "check")

    def __init__(
        self, branches: Iterable[tuple[dict[str, Any], Codec | None]], check: WireCheck
    ) -> None:
        self.branches = tuple(branches)
        self.check = check

    def decode(self, data: Any) -> Any:
        cands = [b for b in self.branches if self.check.accepts(data, b[0])]
        if not cands:
            return data
        chosen = cands[0]
        if any(c[1] is not chosen[1] for c in cands[1:]):
            chosen = next((c for c in cands if self.check.valid(data, c[0])), chosen)
        return decode_with(chosen[1], data)

    def encode(self, data: Any) -> Any:
        first: Any = None
        for i, (wire, codec) in enumerate(self.branches):
            value = encode_with(codec, data)
            if i == 0:
                first = value
            if self.check.valid(value, wire):
                return value
        return first

    def trivial(self, ident: dict[str, bool]) -> bool:
        return all(c is None or c.trivial(ident) for _, c in self.branches)

    def pruned(self, ident: dict[str, bool], plan: dict[str, Codec | None]) -> Codec | None:
        return UnionCodec(((w, prune(c, ident, plan)) for w, c in self.branches), self.check)


__all__ = [
    "ANY_VALUE",
    "DEFAULT",
    "DROP",
    "KEEP",
    "AnyCodec",
    "Codec",
    "Field",
    "ListCodec",
    "MapCodec",
    "ObjectCodec",
    "RefCodec",
    "TupleCodec",
    "UnionCodec",
    "WireCheck",
    "compile_pattern",
    "decode_with",
    "encode_with",
    "prune",
]
