"""JSON Schema → GBNF, the grammar language of llama.cpp's constrained decoding.

:func:`schema_to_gbnf` turns a schema into a grammar whose sentences are JSON
documents of that shape. The grammar is deliberately tight where a small
model tends to run away:

* strings are strict JSON strings -- no raw control characters (so no raw
  newlines), escapes allowed;
* numbers have a bounded count of digits;
* whitespace between tokens is one space, or one newline and a bounded indent;
* ``minItems``/``maxItems``/``minLength``/``maxLength`` become bounded
  repetitions.

Whatever cannot be expressed falls back to a looser rule (in the worst case a
generic JSON value); :func:`unsupported` lists those places as
``(JSON pointer, keyword)`` pairs. Callers validate the output against the
original schema afterwards, so a looser grammar never lets a wrong value
through -- it only makes a retry more likely.

Properties are generated in the schema's order; optional properties may be
left out. ``$ref`` (local pointers, ``$defs``/``definitions``), recursion,
``anyOf``/``oneOf`` (as alternation), ``allOf`` (merged), type lists, ``enum``
and ``const`` of any JSON value, and the ``date``/``time``/``date-time``/
``uuid`` formats are supported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..errors import SchemaError
from .jsonutil import escape_token
from .view import is_number, schema_view

#: Largest count of digits in an integer part or a fraction.
MAX_NUMBER_DIGITS = 15
#: Largest ``maxItems``/``maxLength`` turned into a bounded repetition; larger
#: bounds become unbounded repetitions (and are listed by :func:`unsupported`).
MAX_BOUNDED_REPEAT = 256
#: Most spaces allowed after a newline between two tokens.
MAX_INDENT = 12
#: Integer ranges at most this wide are enumerated exactly.
MAX_ENUMERATED_RANGE = 64

_MAX_NESTING = 48

#: Keywords that only annotate; they never constrain a value.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "example",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
        "contentMediaType",
        "contentEncoding",
        "strict",
    }
)

#: Keywords the grammar never enforces.
_UNENFORCED = (
    "pattern",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "if",
    "not",
    "uniqueItems",
    "contains",
    "unevaluatedProperties",
    "unevaluatedItems",
    "multipleOf",
)

_OBJECT_HINTS = ("properties", "additionalProperties", "required", "patternProperties")
_ARRAY_HINTS = ("items", "prefixItems", "minItems", "maxItems")
_STRING_HINTS = ("minLength", "maxLength", "pattern", "format")
_NUMBER_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")

_DIGITS = MAX_NUMBER_DIGITS - 1

#: Rules every grammar may use, by name. Added to a grammar only when used.
_BASE_RULES: dict[str, str] = {
    "char": r'[^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )',
    "string": r'"\"" char* "\""',
    "integer": f'"-"? ( "0" | [1-9] [0-9]{{0,{_DIGITS}}} )',
    "number": f'integer ( "." [0-9]{{1,{MAX_NUMBER_DIGITS}}} )? ( [eE] [-+]? [0-9]{{1,3}} )?',
    "boolean": '"true" | "false"',
    "null": '"null"',
    "value": "object | array | string | number | boolean | null",
    "member": 'string ws ":" ws value',
    "object": '"{" ws ( member ( ws "," ws member )* )? ws "}"',
    "array": '"[" ws ( value ( ws "," ws value )* )? ws "]"',
    "date-body": '[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] )',
    "time-body": (
        '( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? '
        '( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )'
    ),
    "date": r'"\"" date-body "\""',
    "time": r'"\"" time-body "\""',
    "date-time": r'"\"" date-body "T" time-body "\""',
    "uuid": (
        r'"\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" '
        r'[0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\""'
    ),
}

#: Base rules each base rule refers to.
_BASE_DEPS: dict[str, tuple[str, ...]] = {
    "string": ("char",),
    "number": ("integer",),
    "value": ("object", "array", "string", "number", "boolean", "null"),
    "member": ("string", "ws", "value"),
    "object": ("ws", "member"),
    "array": ("ws", "value"),
    "date": ("date-body",),
    "time": ("time-body",),
    "date-time": ("date-body", "time-body"),
}

_FORMATS = {"date": "date", "time": "time", "date-time": "date-time", "uuid": "uuid"}

_WORD = re.compile(r"[^a-zA-Z0-9]+")
_RULE_REF = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|([a-zA-Z][a-zA-Z0-9-]*)')


def schema_to_gbnf(
    schema: dict[str, Any] | bool, *, max_indent: int = MAX_INDENT, compact: bool = False
) -> str:
    """The GBNF grammar of JSON documents matching ``schema``.

    Between two tokens the grammar allows one space, or one newline and up to
    ``max_indent`` spaces (the layout small models like to write; with less
    room they tend to close arrays and objects at once); ``compact`` allows
    no whitespace at all. The start rule is ``root``.
    """
    ws = '""' if compact else f'( " " | "\\n" " "{{0,{max_indent}}} )?'
    return _Converter(schema, ws).run()


def unsupported(schema: dict[str, Any] | bool) -> list[tuple[str, str]]:
    """``(JSON pointer, keyword)`` of every constraint the grammar does not enforce."""
    converter = _Converter(schema, '""')
    converter.run()
    return list(converter.unsupported)


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json_literal(value: Any) -> str:
    return gbnf_literal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _repeat(expr: str, low: int, high: int | None) -> str:
    """``expr`` repeated ``low`` to ``high`` times (``None``: unbounded)."""
    if high is None:
        if low == 0:
            return f"{expr}*"
        return f"{expr}+" if low == 1 else f"{expr}{{{low},}}"
    if high == 0:
        return ""
    if low == high:
        return expr if low == 1 else f"{expr}{{{low}}}"
    if (low, high) == (0, 1):
        return f"{expr}?"
    return f"{expr}{{{low},{high}}}"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


class _Converter:
    """One conversion: collects rules and the constraints left unenforced."""

    def __init__(self, schema: dict[str, Any] | bool, ws_body: str) -> None:
        self.root = schema
        self.view = schema_view(schema)
        self.rules: dict[str, str] = {}
        self.by_body: dict[str, str] = {}
        self.refs: dict[str, str] = {}
        self.expanding: dict[str, int] = {}
        self.pending: set[str] = set()
        self.nesting = 0
        self.depth = 0
        self.unsupported: list[tuple[str, str]] = []
        self.ws_body = ws_body

    # -- bookkeeping ---------------------------------------------------------

    def run(self) -> str:
        expr = self.visit(self.root, "", "schema")
        lines = [f"root ::= {expr}"]
        lines += [f"{name} ::= {body}" for name, body in self.rules.items()]
        lines += [f"{name} ::= {body}" for name, body in self._base_rules(lines).items()]
        return "\n".join(lines) + "\n"

    def _base_rules(self, lines: list[str]) -> dict[str, str]:
        wanted: list[str] = []
        for line in lines:
            wanted += [m for m in _RULE_REF.findall(line.split("::=", 1)[1]) if m]
        out: dict[str, str] = {}
        stack = [name for name in wanted if name in _BASE_RULES or name == "ws"]
        while stack:
            name = stack.pop()
            if name in out:
                continue
            out[name] = self.ws_body if name == "ws" else _BASE_RULES[name]
            stack += _BASE_DEPS.get(name, ())
        return dict(sorted(out.items()))

    def note(self, pointer: str, keyword: str) -> None:
        if (pointer, keyword) not in self.unsupported:
            self.unsupported.append((pointer, keyword))

    def name(self, hint: str) -> str:
        base = _WORD.sub("-", hint).strip("-").lower()[:48] or "rule"
        if base[0].isdigit():
            base = "r-" + base
        candidate, i = base, 2
        while candidate in self.rules or candidate in _BASE_RULES or candidate in ("root", "ws"):
            candidate, i = f"{base}-{i}", i + 1
        self.rules[candidate] = ""
        return candidate

    def rule(self, hint: str, body: str) -> str:
        """A rule with ``body`` (reusing an identical one) and its name."""
        if hint in self.pending:  # the body of a reference, named after its target
            self.pending.discard(hint)
            self.rules[hint] = body
            self.by_body.setdefault(body, hint)
            return hint
        if body in self.by_body:
            return self.by_body[body]
        name = self.name(hint)
        self.rules[name] = body
        self.by_body[body] = name
        return name

    # -- dispatch ------------------------------------------------------------

    def visit(self, schema: Any, pointer: str, hint: str) -> str:
        """An atom (rule name, literal or group) matching ``schema``."""
        if self.nesting >= _MAX_NESTING:  # e.g. recursion through merged allOf parts
            self.note(pointer, "$ref" if isinstance(schema, dict) else "schema")
            return "value"
        self.nesting += 1
        try:
            return self._visit(schema, pointer, hint)
        finally:
            self.nesting -= 1

    def _visit(self, schema: Any, pointer: str, hint: str) -> str:
        if schema is True or schema == {}:
            return "value"
        if not isinstance(schema, dict):
            self.note(pointer, "false" if schema is False else "schema")
            return "value"
        for keyword in _UNENFORCED:
            if keyword in schema:
                self.note(pointer, keyword)
        if "$ref" in schema:
            return self._visit_ref(schema, pointer, hint)
        if "allOf" in schema:
            return self._visit_all_of(schema, pointer, hint)
        if "const" in schema:
            return _json_literal(schema["const"])
        if "enum" in schema:
            return self._visit_enum(schema, pointer, hint)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self._visit_union(schema, keyword, pointer, hint)
        return self._visit_typed(schema, pointer, hint)

    def _visit_typed(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        kind = schema.get("type", _infer_type(schema))
        if schema.get("nullable") is True and kind is not None:
            kind = [*([kind] if isinstance(kind, str) else kind), "null"]
        if isinstance(kind, list):
            exprs = [self._visit_type(schema, str(k), pointer, f"{hint}-{k}") for k in kind]
            unique = list(dict.fromkeys(exprs))
            return unique[0] if len(unique) == 1 else self.rule(hint, " | ".join(unique))
        if kind is None:
            return "value"
        return self._visit_type(schema, str(kind), pointer, hint)

    def _visit_type(self, schema: dict[str, Any], kind: str, pointer: str, hint: str) -> str:
        if kind == "object":
            return self._visit_object(schema, pointer, hint)
        if kind == "array":
            return self._visit_array(schema, pointer, hint)
        if kind == "string":
            return self._visit_string(schema, pointer, hint)
        if kind == "integer":
            return self._visit_integer(schema, pointer, hint)
        if kind == "number":
            return self._visit_number(schema, pointer)
        if kind in ("boolean", "null"):
            return kind
        self.note(pointer, "type")
        return "value"

    # -- references and combinators -----------------------------------------

    def _resolve(self, ref: str, pointer: str) -> tuple[Any, str] | None:
        try:
            target_pointer, target = self.view.resolve(ref, pointer)
        except SchemaError:
            self.note(pointer, "$ref")
            return None
        return target, target_pointer

    def _visit_ref(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        siblings = {k: v for k, v in schema.items() if k != "$ref" and k not in _ANNOTATIONS}
        if siblings:
            merged = {"allOf": [{"$ref": schema["$ref"]}, siblings]}
            return self.visit(merged, pointer, hint)
        resolved = self._resolve(str(schema["$ref"]), pointer)
        if resolved is None:
            return "value"
        target, target_pointer = resolved
        key = "$ref:" + target_pointer
        if key in self.refs:
            return self._named_again(key, pointer)
        hint = "def-" + (target_pointer.rsplit("/", 1)[-1] or "root")
        return self._named(key, hint, lambda name: self.visit(target, target_pointer, name))

    def _visit_all_of(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        key = "allOf:" + json.dumps(schema, sort_keys=True, default=str)
        if key in self.refs:
            return self._named_again(key, pointer)
        return self._named(
            key, hint, lambda name: self.visit(self._merge_all(schema, pointer), pointer, name)
        )

    def _named(self, key: str, hint: str, build: Callable[[str], str]) -> str:
        """A rule named once per ``key`` (a reference, a merged ``allOf``): recursion-safe."""
        name = self.name(hint)
        self.refs[key] = name
        self.expanding[key] = self.depth
        self.pending.add(name)
        body = build(name)
        del self.expanding[key]
        if name in self.pending:  # the body was an atom (a primitive, a literal)
            self.pending.discard(name)
            self.rules[name] = body
        return name

    def _named_again(self, key: str, pointer: str) -> str:
        if self.expanding.get(key) == self.depth:  # left recursion: no token consumed
            self.note(pointer, "$ref")
            return "value"
        return self.refs[key]

    def _visit_enum(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            self.note(pointer, "enum")
            return "value"
        literals = [_json_literal(v) for v in values]
        if len(set(literals)) == 1:
            return literals[0]
        return self.rule(hint, " | ".join(dict.fromkeys(literals)))

    def _visit_union(self, schema: dict[str, Any], keyword: str, pointer: str, hint: str) -> str:
        branches = schema[keyword]
        if not isinstance(branches, list) or not branches:
            self.note(pointer, keyword)
            return "value"
        rest = {k: v for k, v in schema.items() if k != keyword}
        exprs = []
        for i, branch in enumerate(branches):
            sub = f"{pointer}/{keyword}/{i}"
            if _is_constraining(rest):
                branch = {"allOf": [rest, branch]}
            exprs.append(self.visit(branch, sub, f"{hint}-{i}"))
        unique = list(dict.fromkeys(exprs))
        return unique[0] if len(unique) == 1 else self.rule(hint, " | ".join(unique))

    def _merge_all(self, schema: dict[str, Any], pointer: str) -> dict[str, Any]:
        """``schema`` with its ``$ref`` and ``allOf`` merged in (by the schema view)."""
        try:
            node = self.view.node_for(schema, pointer)
        except SchemaError as exc:
            self.note(exc.pointer if exc.pointer is not None else pointer, exc.keyword or "allOf")
            return {}
        if node.never:
            self.note(pointer, "allOf")
            return {}
        for keyword, _ in node.residue:
            self.note(pointer, keyword)
        return node.schema

    # -- objects -------------------------------------------------------------

    def _visit_object(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        props = schema.get("properties")
        props = dict(props) if isinstance(props, dict) else {}
        for key in schema.get("required") or []:
            props.setdefault(str(key), {})
        extra = schema.get("additionalProperties")
        if not props and not isinstance(extra, dict):
            if extra is False and "patternProperties" not in schema:
                return '( "{" ws "}" )'
            return "object"
        required = set(schema.get("required") or [])
        self.depth += 1
        members = [
            (self._member(name, sub, f"{pointer}/properties/{escape_token(name)}", hint), name)
            for name, sub in props.items()
        ]
        extra_member = None
        if isinstance(extra, dict):
            value = self.visit(extra, f"{pointer}/additionalProperties", f"{hint}-extra")
            extra_member = self.rule(f"{hint}-extra-kv", f'string ws ":" ws {value}')
        self.depth -= 1
        flags = [(member, name in required) for member, name in members]
        return self.rule(hint, self._object_body(flags, extra_member, hint))

    def _member(self, name: str, schema: Any, pointer: str, hint: str) -> str:
        value = self.visit(schema, pointer, f"{hint}-{name}")
        return self.rule(f"{hint}-{name}-kv", f'{_json_literal(name)} ws ":" ws {value}')

    def _object_body(self, members: list[tuple[str, bool]], extra: str | None, hint: str) -> str:
        """Members in order; optional ones may be skipped; commas only between."""
        count = len(members)
        first_required = next((i for i, (_, req) in enumerate(members) if req), count)
        tails = [""] * (count + 1)
        tails[count] = f'( ws "," ws {extra} )*' if extra else ""
        for i in range(count - 1, -1, -1):
            member, is_required = members[i]
            step = f'ws "," ws {member}' if is_required else f'( ws "," ws {member} )?'
            tails[i] = f"{step} {tails[i + 1]}".strip()
            if 1 <= i <= first_required and i < count - 1:  # reused: one rule keeps size linear
                tails[i] = self.rule(f"{hint}-tail{i}", tails[i])
        alternatives = []
        for j in range(min(first_required + 1, count)):
            alternatives.append(f"{members[j][0]} {tails[j + 1]}".strip())
        if first_required == count and extra:
            alternatives.append(f"{extra} {tails[count]}")
        inner = " | ".join(alternatives)
        optional = "?" if first_required == count else ""
        return f'"{{" ws ( {inner} ){optional} ws "}}"'

    # -- arrays --------------------------------------------------------------

    def _visit_array(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        low = _as_int(schema.get("minItems")) or 0
        high = _as_int(schema.get("maxItems"))
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        rest_pointer = f"{pointer}/items"
        if isinstance(items, list):  # draft 4-2019 tuple form
            prefix, items = items, schema.get("additionalItems")
            rest_pointer = f"{pointer}/additionalItems"
        self.depth += 1
        elements: list[str] = []
        if isinstance(prefix, list):
            key = "prefixItems" if "prefixItems" in schema else "items"
            limit = len(prefix) if high is None else min(high, len(prefix))
            elements = [
                self.visit(sub, f"{pointer}/{key}/{i}", f"{hint}-{i}")
                for i, sub in enumerate(prefix[:limit])
            ]
            if items is None:
                items = False
        item = None if items is False else self.visit(items or {}, rest_pointer, f"{hint}-item")
        self.depth -= 1
        low, high = self._bounds(low, high, pointer, "minItems", "maxItems")
        return self.rule(hint, self._array_body(elements, item, low, high))

    def _array_body(self, elements: list[str], item: str | None, low: int, high: int | None) -> str:
        if elements:
            fixed = ' ws "," ws '.join(elements)
            if item is None or high == len(elements):
                return f'"[" ws {fixed} ws "]"'
            more_high = None if high is None else high - len(elements)
            more = _repeat(f'( ws "," ws {item} )', max(0, low - len(elements)), more_high)
            return f'"[" ws {fixed} {more} ws "]"'
        if item is None or high == 0:
            return '"[" ws "]"'
        tail = _repeat(f'( ws "," ws {item} )', max(0, low - 1), None if high is None else high - 1)
        body = f"{item} {tail}".strip()
        return f'"[" ws {body} ws "]"' if low >= 1 else f'"[" ws ( {body} )? ws "]"'

    def _bounds(
        self, low: int, high: int | None, pointer: str, low_kw: str, high_kw: str
    ) -> tuple[int, int | None]:
        if low > MAX_BOUNDED_REPEAT:
            self.note(pointer, low_kw)
            low = MAX_BOUNDED_REPEAT
        if high is not None and high > MAX_BOUNDED_REPEAT:
            self.note(pointer, high_kw)
            high = None
        if high is not None and high < low:
            self.note(pointer, high_kw)
            high = None
        return low, high

    # -- scalars -------------------------------------------------------------

    def _visit_string(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        fmt = schema.get("format")
        low = _as_int(schema.get("minLength")) or 0
        high = _as_int(schema.get("maxLength"))
        if fmt in _FORMATS and low == 0 and high is None:
            return _FORMATS[fmt]
        if fmt is not None:
            self.note(pointer, "format")
        if low == 0 and high is None:
            return "string"
        low, high = self._bounds(low, high, pointer, "minLength", "maxLength")
        return self.rule(f"{hint}-string", f'"\\"" {_repeat("char", low, high)} "\\""')

    def _visit_integer(self, schema: dict[str, Any], pointer: str, hint: str) -> str:
        low = self._lower_bound(schema, integer=True)
        high = self._upper_bound(schema)
        if low is not None and high is not None and 0 <= high - low <= MAX_ENUMERATED_RANGE:
            values = range(int(low), int(high) + 1)
            return self.rule(f"{hint}-range", " | ".join(_json_literal(v) for v in values))
        if high is not None:
            self.note(pointer, "maximum" if "maximum" in schema else "exclusiveMaximum")
        if low is None or low < 0:
            if low is not None:
                self.note(pointer, _bound_keyword(schema, low=True))
            return "integer"
        if low > 1:
            self.note(pointer, _bound_keyword(schema, low=True))
        if low >= 1:
            return self.rule("positive-integer", f"[1-9] [0-9]{{0,{_DIGITS}}}")
        return self.rule("natural-integer", f'"0" | [1-9] [0-9]{{0,{_DIGITS}}}')

    def _visit_number(self, schema: dict[str, Any], pointer: str) -> str:
        low = self._lower_bound(schema, integer=False)
        if self._upper_bound(schema) is not None:
            self.note(pointer, "maximum" if "maximum" in schema else "exclusiveMaximum")
        if low is None:
            return "number"
        exclusive = "exclusiveMinimum" in schema and "minimum" not in schema
        if low != 0 or exclusive:
            self.note(pointer, _bound_keyword(schema, low=True))
        if low < 0:
            return "number"
        body = (
            f'( "0" | [1-9] [0-9]{{0,{_DIGITS}}} ) ( "." [0-9]{{1,{MAX_NUMBER_DIGITS}}} )? '
            "( [eE] [-+]? [0-9]{1,3} )?"
        )
        return self.rule("natural-number", body)

    def _lower_bound(self, schema: dict[str, Any], *, integer: bool) -> float | None:
        bounds = []
        if is_number(schema.get("minimum")):
            bounds.append(float(schema["minimum"]))
        if is_number(schema.get("exclusiveMinimum")):
            value = float(schema["exclusiveMinimum"])
            bounds.append(float(int(value) + 1 if integer and value.is_integer() else value))
        if not bounds:
            return None
        low = max(bounds)
        return float(-(-low // 1)) if integer else low

    def _upper_bound(self, schema: dict[str, Any]) -> float | None:
        bounds = []
        if is_number(schema.get("maximum")):
            bounds.append(float(schema["maximum"]))
        if is_number(schema.get("exclusiveMaximum")):
            value = float(schema["exclusiveMaximum"])
            bounds.append(value - 1 if value.is_integer() else float(int(value // 1)))
        return min(bounds) if bounds else None


def _bound_keyword(schema: dict[str, Any], *, low: bool) -> str:
    inclusive, exclusive = (
        ("minimum", "exclusiveMinimum") if low else ("maximum", "exclusiveMaximum")
    )
    return inclusive if inclusive in schema else exclusive


def _infer_type(schema: dict[str, Any]) -> str | None:
    for kind, hints in (
        ("object", _OBJECT_HINTS),
        ("array", _ARRAY_HINTS),
        ("string", _STRING_HINTS),
        ("number", _NUMBER_HINTS),
    ):
        if any(h in schema for h in hints):
            return kind
    return None


def _is_constraining(schema: dict[str, Any]) -> bool:
    return any(k not in _ANNOTATIONS for k in schema)


__all__ = [
    "MAX_BOUNDED_REPEAT",
    "MAX_NUMBER_DIGITS",
    "gbnf_literal",
    "schema_to_gbnf",
    "unsupported",
]
