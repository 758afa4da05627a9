"""A deterministic fake model for the scripted server: a valid answer for any schema.

``ScriptedServer(default=fake_reply)`` answers every chat completion with a
minimal instance of the schema found in the request, in the place the request
asks for. The docs harness (``tests/test_docs.py``) uses it so that every code
example in the documentation runs for real, through the ``openai`` SDK, with no
network and no key.

Where the schema is read from
    * ``response_format = {"type": "json_schema", "json_schema": {"schema": S}}``
      → ``S``, answered in ``message.content``;
    * ``response_format = {"type": "json_object", "schema": S}`` → ``S``, in
      ``message.content``;
    * ``tools`` with a forced ``tool_choice`` (or a single tool) → that tool's
      ``parameters``, answered as ``message.tool_calls[0]``.

What an instance looks like (:func:`instance_for`)
    Objects carry their required properties only. Strings are ``"example"``
    (padded or cut to ``minLength``/``maxLength``), or a fixed value for the
    formats ``date``, ``date-time``, ``time``, ``duration``, ``email``,
    ``hostname``, ``ipv4``, ``ipv6``, ``uuid``, ``uri``/``url``; a ``pattern``
    is satisfied by a literal built from the pattern (see :func:`string_for_pattern`)
    when the pattern is simple enough. Numbers are ``0`` moved into
    ``minimum``/``maximum``/``exclusive*`` bounds and up to a ``multipleOf``;
    booleans ``false``; arrays hold ``minItems`` items (``prefixItems`` first);
    ``enum`` gives its first value and ``const`` its value. ``anyOf``/``oneOf``
    and type lists take the first alternative that can be built (``null``
    last); ``allOf`` parts are merged; ``$ref`` follows local pointers
    (``#``, ``#/$defs/...``, ``#/definitions/...``). A reference back into a
    definition being built is not followed: the alternative is not viable, so a
    nullable or optional recursive field stops the recursion (``null``, left
    out, or an empty list).

Documented limits
    * ``json_object`` without ``schema`` and ``md_json`` put the schema in the
      prompt only, so the fake answers ``{}`` (fenced in a ```json block for
      ``md_json``), which fails validation for any schema with required fields.
    * Not honoured: ``not``, ``if``/``then``/``else``, ``dependent*``,
      ``uniqueItems`` with ``minItems`` > 1, ``minProperties`` beyond the required
      properties, oneOf exclusivity, patterns beyond the simple subset (the
      fallback ``"example"`` may then fail validation and lead to re-asks).
    * Pydantic validators (``field_validator``, ``model_validator``) are not
      visible in a schema; an answer may fail them. That is how examples show
      re-asks and :class:`~extractkit.errors.ExtractionError`.
    * Streaming (``stream=true``) is answered with one choice whatever ``n`` is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from tests.scripted_server import Reply, choice, completion, stream

__all__ = [
    "NotViable",
    "fake_reply",
    "instance_for",
    "request_schema",
    "string_for_pattern",
]

EXAMPLE_STRING = "example"

FORMAT_VALUES: dict[str, str] = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
}

_TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


class NotViable(Exception):
    """No instance can be built for this schema (recursion, ``false``, empty union)."""


# --------------------------------------------------------------------------- replies


def fake_reply(body: Any) -> Reply:
    """The fake model's answer to one ``POST /v1/chat/completions`` body."""
    request = body if isinstance(body, Mapping) else {}
    place, schema, tool_name = request_schema(request)
    text = _answer_text(place, schema)
    model = str(request.get("model") or "fake-model")
    usage = (_prompt_tokens(request), max(1, len(text) // 4))
    if request.get("stream"):
        if place == "tool":
            return stream(tool_args=text, tool_name=tool_name, usage=usage, model=model)
        return stream(text, usage=usage, model=model)
    n = int(request.get("n") or 1)
    if place == "tool":
        entries = [choice(tool_args=text, tool_name=tool_name) for _ in range(n)]
    else:
        entries = [choice(text) for _ in range(n)]
    return completion(choices=entries, usage=usage, model=model)


def request_schema(request: Mapping[str, Any]) -> tuple[str, Any, str]:
    """``(place, schema, tool_name)``: place is ``"content"``, ``"tool"`` or ``"fenced"``;
    ``schema`` is ``None`` when the request carries none."""
    tool = _forced_tool(request)
    if tool is not None:
        function = tool.get("function") or {}
        return "tool", function.get("parameters") or {}, str(function.get("name") or "extract")
    fmt = request.get("response_format")
    if isinstance(fmt, Mapping):
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema") or {}
            return "content", spec.get("schema") or {}, ""
        if fmt.get("type") == "json_object":
            return "content", fmt.get("schema"), ""
    return "fenced", None, ""


def _forced_tool(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools = [t for t in request.get("tools") or [] if isinstance(t, Mapping)]
    if not tools:
        return None
    wanted = request.get("tool_choice")
    if isinstance(wanted, Mapping):
        name = (wanted.get("function") or {}).get("name")
        for tool in tools:
            if (tool.get("function") or {}).get("name") == name:
                return tool
    return tools[0] if len(tools) == 1 else None


def _answer_text(place: str, schema: Any) -> str:
    value = {} if schema is None else instance_for(schema)
    text = json.dumps(value, ensure_ascii=False)
    if place == "fenced":
        return f"```json\n{text}\n```"
    return text


def _prompt_tokens(request: Mapping[str, Any]) -> int:
    messages = request.get("messages") or []
    chars = sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, Mapping))
    return max(1, chars // 4)


# --------------------------------------------------------------------------- instances


def instance_for(schema: Any, root: Any = None) -> Any:
    """A minimal instance valid against ``schema`` (see the module docstring).

    ``root`` is the document that ``$ref`` pointers resolve against (default:
    ``schema`` itself). Raises :class:`NotViable` when no instance can be built.
    """
    if root is None:
        return _Builder(schema).build(schema, ("#",))
    return _Builder(root).build(schema, ())


class _Builder:
    def __init__(self, root: Any) -> None:
        self.root = root

    def build(self, schema: Any, stack: tuple[str, ...]) -> Any:
        if schema is True or schema == {}:
            return None
        if schema is False or not isinstance(schema, Mapping):
            raise NotViable("the schema false (or a non-schema) admits no value")
        if "$ref" in schema:
            return self._ref(schema, stack)
        if "allOf" in schema:
            return self.build(self._merge_all_of(schema, stack), stack)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union(schema, key, stack)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            values = list(schema["enum"])
            if not values:
                raise NotViable("empty enum")
            return values[0]
        return self._typed(schema, stack)

    # -- combinators ------------------------------------------------------------

    def _ref(self, schema: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
        ref = str(schema["$ref"])
        if ref in stack:
            raise NotViable(f"recursion through {ref}")
        target = _resolve(self.root, ref)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        merged = {**target, **siblings} if isinstance(target, Mapping) and siblings else target
        return self.build(merged, (*stack, ref))

    def _merge_all_of(self, schema: Mapping[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            while isinstance(part, Mapping) and "$ref" in part:
                part = _resolve(self.root, str(part["$ref"]))
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _union(self, schema: Mapping[str, Any], key: str, stack: tuple[str, ...]) -> Any:
        siblings = {k: v for k, v in schema.items() if k != key}
        alternatives = list(schema[key])
        alternatives.sort(key=lambda alt: isinstance(alt, Mapping) and alt.get("type") == "null")
        for alternative in alternatives:
            candidate = (
                {**siblings, **alternative} if isinstance(alternative, Mapping) else alternative
            )
            try:
                return self.build(candidate, stack)
            except NotViable:
                continue
        raise NotViable(f"no alternative of {key} can be built")

    # -- types ------------------------------------------------------------------

    def _typed(self, schema: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
        for kind in _types_of(schema):
            try:
                return self._of_type(kind, schema, stack)
            except NotViable:
                continue
        raise NotViable("no type of this schema can be built")

    def _of_type(self, kind: str, schema: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
        if kind == "object":
            return self._object(schema, stack)
        if kind == "array":
            return self._array(schema, stack)
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        return None

    def _object(self, schema: Mapping[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for name in schema.get("required") or []:
            if name in properties:
                out[name] = self.build(properties[name], stack)
            elif isinstance(extra, Mapping):
                out[name] = self.build(extra, stack)
            else:
                out[name] = EXAMPLE_STRING
        return out

    def _array(self, schema: Mapping[str, Any], stack: tuple[str, ...]) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft-04 tuple form
            prefix, items = items, schema.get("additionalItems")
        wanted = int(schema.get("minItems") or 0)
        out = [self.build(p, stack) for p in (prefix or [])[:wanted]]
        while len(out) < wanted:
            out.append(self.build(items if items is not None else {}, stack))
        return out


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return sorted(declared, key=lambda t: t == "null")
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema or "prefixItems" in schema or "minItems" in schema:
        return ["array"]
    if "pattern" in schema or "format" in schema or "minLength" in schema:
        return ["string"]
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return ["number"]
    return ["null"]


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        raise NotViable(f"non-local $ref {ref!r}")
    node = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise NotViable(f"unresolvable $ref {ref!r}")
    return node


# --------------------------------------------------------------------------- scalars


def _string(schema: Mapping[str, Any]) -> str:
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        found = string_for_pattern(pattern)
        if found is not None:
            return found
    fmt = schema.get("format")
    text = FORMAT_VALUES.get(fmt, EXAMPLE_STRING) if isinstance(fmt, str) else EXAMPLE_STRING
    low = int(schema.get("minLength") or 0)
    high = schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
    candidates: list[float] = [0]
    if low is not None:
        candidates.append(low + 1 if low_open else low)
    if high is not None:
        candidates.append(high - 1 if high_open else high)
    if low is not None and high is not None:
        candidates.append((low + high) / 2)
    multiple = schema.get("multipleOf")
    for candidate in candidates:
        value = math.floor(candidate) if integer else candidate
        if isinstance(multiple, (int, float)) and multiple > 0:
            value = math.ceil(value / multiple) * multiple
        if _within(value, low, low_open, high, high_open):
            return int(value) if integer or float(value).is_integer() else value
    raise NotViable("no number found within the bounds")


def _within(
    value: float, low: float | None, low_open: bool, high: float | None, high_open: bool
) -> bool:
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    open_bound = schema.get(exclusive)
    if isinstance(open_bound, bool):  # draft-04: a flag on minimum/maximum
        value = schema.get(inclusive)
        return (float(value) if value is not None else None), open_bound
    if isinstance(open_bound, (int, float)):
        return float(open_bound), True
    value = schema.get(inclusive)
    return (float(value) if isinstance(value, (int, float)) else None), False


# --------------------------------------------------------------------------- patterns

_CLASS_ESCAPES = {"d": "0", "w": "a", "s": " ", "D": "a", "W": "-", "S": "a"}


def string_for_pattern(pattern: str) -> str | None:
    """A string matching ``pattern`` (JSON Schema search semantics), or ``None``.

    Handles literals, escapes, ``.``, ``\\d \\w \\s`` and their negations,
    character classes (first member; not negated ones), groups with ``|``
    (first alternative) and the quantifiers ``? * + {n} {n,} {n,m}`` (fewest
    repetitions). The result is checked with :func:`re.search`.
    """
    try:
        text, _ = _sequence(pattern, 0)
        if re.search(pattern, text) is not None:
            return text
    except (_Unsupported, re.error, IndexError):
        return None
    return None


class _Unsupported(Exception):
    pass


def _sequence(pattern: str, i: int) -> tuple[str, int]:
    """Synthesise from position ``i`` to the end of the current group (first alternative)."""
    out: list[str] = []
    while i < len(pattern):
        ch = pattern[i]
        if ch == ")":
            return "".join(out), i
        if ch == "|":
            return "".join(out), _skip_alternatives(pattern, i)
        atom, i = _atom(pattern, i)
        count, i = _quantifier(pattern, i)
        out.append(atom * count)
    return "".join(out), i


def _skip_alternatives(pattern: str, i: int) -> int:
    depth = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _class_end(pattern, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return i


def _atom(pattern: str, i: int) -> tuple[str, int]:
    ch = pattern[i]
    if ch in "^$":
        return "", i + 1
    if ch == ".":
        return "a", i + 1
    if ch == "\\":
        nxt = pattern[i + 1]
        if nxt in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[nxt], i + 2
        if nxt.isalnum() and nxt not in "nrtf":
            raise _Unsupported(f"escape \\{nxt}")
        return {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}.get(nxt, nxt), i + 2
    if ch == "[":
        end = _class_end(pattern, i)
        return _class_member(pattern[i + 1 : end - 1]), end
    if ch == "(":
        start = i + 1
        if pattern.startswith("?:", start):
            start += 2
        elif pattern.startswith("?", start):
            raise _Unsupported("group extension")
        text, end = _sequence(pattern, start)
        if end >= len(pattern) or pattern[end] != ")":
            raise _Unsupported("unbalanced group")
        return text, end + 1
    if ch in "*+?{":
        raise _Unsupported("dangling quantifier")
    return ch, i + 1


def _class_end(pattern: str, i: int) -> int:
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    if j >= len(pattern):
        raise _Unsupported("unterminated class")
    return j + 1


def _class_member(body: str) -> str:
    if not body or body.startswith("^"):
        raise _Unsupported("negated or empty class")
    if body[0] == "\\":
        return _CLASS_ESCAPES.get(body[1], body[1])
    return body[0]


def _quantifier(pattern: str, i: int) -> tuple[int, int]:
    if i >= len(pattern):
        return 1, i
    ch = pattern[i]
    if ch in "*?":
        count, i = 0, i + 1
    elif ch == "+":
        count, i = 1, i + 1
    elif ch == "{":
        match = re.match(r"\{(\d+)(,\d*)?\}", pattern[i:])
        if match is None:
            return 1, i
        count, i = int(match.group(1)), i + match.end()
    else:
        return 1, i
    if i < len(pattern) and pattern[i] in "?+":  # lazy / possessive suffix
        i += 1
    return count, i
