"""Schema-aligned parsing: recover answers that parse but do not validate.

Models often write the right values in a slightly wrong shape: ``"Answer"``
for ``answer``, a bare list where the schema wraps it in an object, ``"4"``
for ``4``, ``"eur"`` for ``"EUR"``, the JSON between two paragraphs of prose
or twice. :func:`coerce_reply` walks the parsed answer along the schema of
record (through :mod:`extractkit.schema.view`, the one schema walker) and
applies only these coercions:

* **keys**: a key that is not a property but matches exactly one property
  once case, ``_``, ``-`` and spaces are ignored (a property's own ``title``,
  such as pydantic's ``"Unit Price"``, is a spelling too; names win over titles);
* **wrapping**: a bare list → the one list field of an object whose other
  fields are optional; a single object → a one-item list; ``x`` ↔
  ``{"value": x}`` for simple wrapped return types (see
  :mod:`extractkit.schema.source`); ``{"events": [...]}`` → the list, where a
  list is expected and the object is not an item;
* **scalars**: a string that is wholly a JSON literal of the expected type:
  ``"4"`` → ``4``, ``"4.0"`` → ``4`` for an integer (integral only),
  ``"2.5"`` → ``2.5`` (only when the float is exact to what was written),
  ``"true"`` → ``true``, ``"null"`` → ``null`` where null is allowed;
* **enums**: a string matching exactly one enum value case-insensitively;
* **candidates**: of several JSON documents in one reply, the one that
  validates (JSON inside a fenced block of another language is code, not a
  candidate).

The result is accepted only when the whole coerced answer validates against
the validator of record. Nothing is guessed: two keys that map to one field, a
key that matches two fields, a number that a float cannot hold exactly, an
object that could be a list or its one item, or two candidates that validate
to different values reject the answer (it goes back to the re-ask loop). Every
coercion applied is reported as ``"coerce <pointer>: <what>"``.

Cost: nothing on the valid path (the loop calls this only after validation
failed); linear in the reply, which is walked once per candidate document.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .repair import json_candidates
from .schema.jsonutil import join_pointer
from .schema.source import WRAP_KEY, SchemaSource
from .schema.view import Node, schema_view

__all__ = ["PREFIX", "Coerced", "coerce_reply"]

#: Every note of a coercion starts with this (see :attr:`Result.coercions`).
PREFIX = "coerce "

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
#: Longer literals are left alone (a string of digits is not a number to guess at).
_MAX_LITERAL = 40
_SHOWN = 40


@dataclass(frozen=True)
class Coerced:
    """What :func:`coerce_reply` made of a reply.

    ``value`` is the validated value when ``ok``; ``notes`` the coercions
    applied (``"coerce /age: '4' -> 4"``); ``rejected`` says why the answer was
    refused when a coercion would have been a guess (``None`` otherwise).
    """

    ok: bool
    value: Any = None
    data: Any = None
    notes: tuple[str, ...] = ()
    rejected: str | None = None


class _Guess(Exception):
    """Applying the coercion would mean choosing between readings."""


def coerce_reply(
    raw: str | None,
    data: Any,
    source: SchemaSource,
    validate: Callable[[Any], Any],
    *,
    decode: Callable[[Any], Any] | None = None,
) -> Coerced:
    """Coerce a parsed reply that failed validation (see the module docstring).

    ``data`` is what the syntax repair parsed from ``raw`` (the first
    document); other JSON documents in ``raw`` are candidates too.
    ``validate`` is the validator of record on original-shaped data; ``decode``
    turns wire-shaped data into that shape (strict targets). Never raises for
    bad output.
    """
    candidates = _unique(_with_others(raw, data))
    accepted: list[Coerced] = []
    guesses: list[str] = []
    for index, candidate in enumerate(candidates):
        if decode is not None:
            with contextlib.suppress(Exception):  # a malformed answer may not decode
                candidate = decode(candidate)
        for shaped, shape_notes in _root_shapes(candidate, source):
            notes = list(shape_notes)
            try:
                aligned = _align(shaped, _root(source), notes)
            except _Guess as exc:
                guesses.append(str(exc))
                continue
            try:
                value = validate(aligned)
            except Exception:  # Invalid, or a validator raising something odd
                continue
            if len(candidates) > 1:
                notes.insert(0, f"{PREFIX}(root): took JSON document {index + 1} of "
                                f"{len(candidates)} in the reply")
            accepted.append(Coerced(True, value, aligned, tuple(notes)))
    if guesses:  # one reading needs a guess: no other reading is taken either
        return Coerced(False, rejected=guesses[0])
    if not accepted:
        return Coerced(False)
    first = accepted[0]
    if any(other.value != first.value for other in accepted[1:]):
        return Coerced(False, rejected=f"{len(accepted)} readings of the reply validate to "
                                       "different values; not choosing one")
    return first


def _align(value: Any, node: Node, notes: list[str], pointer: str = "") -> Any:
    """``value`` aligned to ``node``; appends a note per coercion, raises on a guess."""
    nullable = node.nullable
    if value is None and nullable:
        return value
    node = node.unwrap()
    kind = node.kind
    if kind == "union":
        return _union(value, node, notes, pointer)
    if kind == "object":
        return _object(value, node, notes, pointer)
    if kind == "array":
        return _array(value, node, notes, pointer)
    if kind in ("string", "number", "integer", "boolean", "null"):
        return _scalar(value, node, notes, pointer, nullable=nullable)
    return value


# --------------------------------------------------------------------------- candidates


@lru_cache(maxsize=256)
def _root(source: SchemaSource) -> Node:
    return schema_view(source.json_schema).root


def _with_others(raw: str | None, data: Any) -> Iterable[Any]:
    yield data
    if raw:
        for other, _fixes in json_candidates(raw):
            yield other


def _unique(candidates: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for candidate in candidates:
        key = json.dumps(candidate, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def _root_shapes(candidate: Any, source: SchemaSource) -> list[tuple[Any, list[str]]]:
    """The answer as written and, for wrapped simple types, also as the wrapped value."""
    shapes: list[tuple[Any, list[str]]] = [(candidate, [])]
    if source.wrapped and not (isinstance(candidate, dict) and list(candidate) == [WRAP_KEY]):
        note = f"{PREFIX}(root): {_show(candidate)} -> {{{WRAP_KEY!r}: ...}} (bare value)"
        shapes.append(({WRAP_KEY: candidate}, [note]))
    return shapes


# --------------------------------------------------------------------------- by kind


def _union(value: Any, node: Node, notes: list[str], pointer: str) -> Any:
    branch = node.branch_for(value)
    if branch is not None:
        return _align(value, branch, notes, pointer)
    readings: list[tuple[Any, list[str]]] = []
    for option in node.branches:
        trial: list[str] = []
        try:
            coerced = _align(value, option, trial, pointer)
        except _Guess:
            continue
        if trial and all(_differs(coerced, r) for r, _ in readings):
            readings.append((coerced, trial))
    if len(readings) > 1:
        raise _Guess(f"{pointer or '(root)'}: {_show(value)} fits several alternatives")
    if readings:
        notes.extend(readings[0][1])
        return readings[0][0]
    return value


def _object(value: Any, node: Node, notes: list[str], pointer: str) -> Any:
    if isinstance(value, list):
        field = _sole_list_field(node)
        if field is None:
            return value
        notes.append(f"{PREFIX}{pointer or '(root)'}: bare list -> {join_pointer(pointer, field)}")
        value = {field: value}
    if not isinstance(value, dict):
        return value
    props = node.properties
    if props:
        value = _match_keys(value, node, notes, pointer)
    out = {}
    for key, sub in value.items():
        child = props.get(key) or node.additional
        out[key] = sub if child is None else _align(sub, child, notes,
                                                          join_pointer(pointer, key))
    return out


def _array(value: Any, node: Node, notes: list[str], pointer: str) -> Any:
    if isinstance(value, dict):
        value = _dict_as_list(value, node, notes, pointer)
    if not isinstance(value, list):
        return value
    prefix = node.prefix_items
    out = []
    for i, item in enumerate(value):
        child = prefix[i] if i < len(prefix) else node.items
        out.append(item if child is None else _align(item, child, notes,
                                                           join_pointer(pointer, i)))
    return out


def _scalar(value: Any, node: Node, notes: list[str], pointer: str, *, nullable: bool) -> Any:
    if isinstance(value, dict) and list(value) == [WRAP_KEY]:
        notes.append(f"{PREFIX}{pointer or '(root)'}: {{{WRAP_KEY!r}: ...}} -> its value")
        return _align(value[WRAP_KEY], node, notes, pointer)
    if not isinstance(value, str):
        return value
    choices = _choices(node)
    if choices is not None:
        return _choice(value, choices, notes, pointer)
    kind = node.kind
    if kind == "string":
        return value
    text = value.strip()
    found: Any = value
    if kind in ("integer", "number"):
        found = _number(text, integral=kind == "integer")
    elif kind == "boolean" and text.lower() in ("true", "false"):
        found = text.lower() == "true"
    if found is value and nullable and text.lower() == "null":
        found = None
    if found is not value:
        notes.append(f"{PREFIX}{pointer or '(root)'}: {_show(value)} -> {_show(found)}")
    return found


# --------------------------------------------------------------------------- helpers


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def _match_keys(value: dict[str, Any], node: Node, notes: list[str], pointer: str) -> dict[str, Any]:
    props = node.properties
    if all(key in props for key in value):
        return value
    by_form = _key_forms(node)
    renamed: dict[str, str] = {}
    for key in value:
        if key in props or not isinstance(key, str):
            continue
        form = _norm(key)
        if form not in by_form:
            continue  # not a property's name in any spelling: left as written
        target = by_form[form]
        if target is None:
            raise _Guess(f"{join_pointer(pointer, key)}: the key matches several fields")
        if target in value or target in renamed.values():
            raise _Guess(f"{join_pointer(pointer, target)}: two keys of the answer name this field")
        renamed[key] = target
    if not renamed:
        return value
    for key, target in renamed.items():
        notes.append(f"{PREFIX}{join_pointer(pointer, key)} -> {join_pointer(pointer, target)}")
    return {renamed.get(key, key): sub for key, sub in value.items()}


@lru_cache(maxsize=1024)
def _key_forms(node: Node) -> dict[str, str | None]:
    """Normalized spelling → property name (``None`` where two properties share one).

    A property's own ``title`` (pydantic writes ``"Unit Price"`` for ``unit_price``)
    is a spelling too, but names win over titles, and the title of a referenced
    model (the class name) does not count.
    """
    names: dict[str, str | None] = {}
    titles: dict[str, str | None] = {}
    raw = node.schema.get("properties") or {}
    for name in node.properties:
        form = _norm(name)
        names[form] = name if names.get(form, name) == name else None
        title = raw.get(name, {}).get("title") if isinstance(raw.get(name), dict) else None
        if isinstance(title, str):
            form = _norm(title)
            titles[form] = name if titles.get(form, name) == name else None
    return {**titles, **names}


def _sole_list_field(node: Node) -> str | None:
    lists = [name for name, sub in node.properties.items() if sub.unwrap().kind == "array"]
    if len(lists) != 1 or not node.required <= {lists[0]}:
        return None
    return lists[0]


def _dict_as_list(value: dict[str, Any], node: Node, notes: list[str], pointer: str) -> Any:
    """An object where a list belongs: the list it wraps, or a one-item list."""
    where = pointer or "(root)"
    item = node.items.unwrap() if node.items is not None else None
    item_kind = item.kind if item is not None else "any"
    key, inner = next(iter(value.items())) if len(value) == 1 else ("", None)
    wraps_list = isinstance(inner, list)
    if item is not None and item_kind == "object":
        if wraps_list and _norm(key) not in _key_forms(item):
            notes.append(f"{PREFIX}{where}: {{{key!r}: [...]}} -> the list")
            return inner
        notes.append(f"{PREFIX}{where}: object -> one-item list")
        return [value]
    if item_kind in ("any", "union"):
        if wraps_list:  # the list it holds, or itself as the one item: both would validate
            raise _Guess(f"{where}: {{{key!r}: [...]}} is the list or its one item")
        notes.append(f"{PREFIX}{where}: object -> one-item list")
        return [value]
    if wraps_list:  # items are scalars or lists: an object can only be the wrapper
        notes.append(f"{PREFIX}{where}: {{{key!r}: [...]}} -> the list")
        return inner
    return value


def _choices(node: Node) -> list[Any] | None:
    schema = node.schema
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _choice(value: str, choices: list[Any], notes: list[str], pointer: str) -> Any:
    if value in choices:
        return value
    wanted = value.strip().casefold()
    matches = [c for c in choices if isinstance(c, str) and c.casefold() == wanted]
    if len(matches) != 1:
        return value
    notes.append(f"{PREFIX}{pointer or '(root)'}: {_show(value)} -> {_show(matches[0])}")
    return matches[0]


def _number(text: str, *, integral: bool) -> Any:
    """The number ``text`` writes exactly, or ``text`` itself (not a literal, or lossy)."""
    match = _NUMBER.fullmatch(text) if len(text) <= _MAX_LITERAL else None
    if match is None:
        return text
    if match.group(1) is None and match.group(2) is None:
        return int(text)
    exact = Decimal(text)
    if integral:
        if exact.adjusted() > _MAX_LITERAL or exact != exact.to_integral_value():
            return text  # a fraction is lossy; a huge exponent is not a count anyone wrote
        return int(exact)
    return float(exact) if _exact_float(exact) else text


def _exact_float(exact: Decimal) -> bool:
    as_float = float(exact)
    return math.isfinite(as_float) and Decimal(repr(as_float)) == exact


def _differs(a: Any, b: Any) -> bool:
    return type(a) is not type(b) or a != b


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "object" if isinstance(value, dict) else "list"
    shown = repr(value) if isinstance(value, str) else json.dumps(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."
