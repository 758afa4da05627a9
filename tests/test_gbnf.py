"""JSON Schema → GBNF.

The structural tests need nothing but extractkit. Tests marked ``local_model``
run the grammars through llama.cpp's own parser and matcher (with the bundled
model's vocabulary): the grammar must compile, accept documents of the schema
and refuse what a small model must not write.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from extractkit.schema.gbnf import (
    MAX_NUMBER_DIGITS,
    gbnf_literal,
    schema_to_gbnf,
    unsupported,
)

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "email": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "age"],
}

TREE: dict[str, Any] = {
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
            "required": ["value"],
        }
    },
    "$ref": "#/$defs/Node",
}

ALL_OPTIONAL: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "number"}, "c": {"type": "boolean"}},
    "additionalProperties": {"type": "integer"},
}

KITCHEN_SINK: dict[str, Any] = {
    "type": "object",
    "definitions": {"Color": {"enum": ["red", "green", {"rgb": [1, 2, 3]}]}},
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "code": {"type": "string", "minLength": 2, "maxLength": 4},
        "kind": {"const": "fixed"},
        "color": {"$ref": "#/definitions/Color"},
        "score": {"type": ["number", "null"]},
        "level": {"type": "integer", "minimum": 1, "maximum": 5},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        "anything": {},
        "both": {
            "allOf": [
                {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
                {"properties": {"y": {"type": "boolean"}}, "required": ["y"]},
            ]
        },
        "ratio": {"type": "number", "minimum": 0},
        "quote": {"type": "string", "pattern": "^[a-z]+$"},
    },
    "required": ["id", "kind"],
}

_IDENTIFIER = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|\{[0-9,]*\}|([a-zA-Z][\w-]*)')


def rules_of(grammar: str) -> dict[str, str]:
    rules = {}
    for line in grammar.strip().splitlines():
        name, body = line.split(" ::= ", 1)
        assert name not in rules, f"rule {name} defined twice"
        rules[name] = body
    return rules


def referenced(body: str) -> set[str]:
    return {m for m in _IDENTIFIER.findall(body) if m}


@pytest.mark.parametrize("schema", [PERSON, TREE, ALL_OPTIONAL, KITCHEN_SINK, {}, True])
def test_every_referenced_rule_is_defined(schema: Any) -> None:
    rules = rules_of(schema_to_gbnf(schema))
    assert "root" in rules
    for name, body in rules.items():
        missing = referenced(body) - set(rules)
        assert not missing, f"{name} refers to undefined {missing}"
        assert re.fullmatch(r"[a-z0-9-]+", name), name


def test_strings_forbid_raw_control_characters() -> None:
    rules = rules_of(schema_to_gbnf(PERSON))
    assert rules["char"].startswith(r'[^"\\\x00-\x1F]')
    assert '"\\\\"' in rules["char"]  # escapes are allowed
    assert rules["string"] == r'"\"" char* "\""'


def test_whitespace_is_bounded() -> None:
    assert rules_of(schema_to_gbnf(PERSON))["ws"] == '( " " | "\\n" " "{0,12} )?'
    assert rules_of(schema_to_gbnf(PERSON, max_indent=4))["ws"] == '( " " | "\\n" " "{0,4} )?'
    assert rules_of(schema_to_gbnf(PERSON, compact=True))["ws"] == '""'


def test_numbers_have_bounded_digits() -> None:
    rules = rules_of(schema_to_gbnf({"type": "object", "properties": {"x": {"type": "number"}}}))
    assert f"[0-9]{{0,{MAX_NUMBER_DIGITS - 1}}}" in rules["integer"]
    assert f"[0-9]{{1,{MAX_NUMBER_DIGITS}}}" in rules["number"]
    assert "*" not in rules["integer"] + rules["number"]


def test_properties_keep_schema_order_and_required_ones_are_not_optional() -> None:
    root = rules_of(schema_to_gbnf(PERSON))
    kv = {name: body for name, body in root.items() if name.endswith("-kv")}
    assert [
        json.loads(body.split(" ws ")[0][1:-1].replace('\\"', '"')) for body in kv.values()
    ] == [
        "name",
        "age",
        "email",
        "tags",
    ]
    obj = root["schema"]
    assert "schema-name-kv ws" in obj and '( ws "," ws schema-email-kv )?' in obj
    assert '( ws "," ws schema-age-kv )?' not in obj


def test_array_bounds_become_bounded_repetition() -> None:
    rules = rules_of(schema_to_gbnf(PERSON))
    assert rules["schema-tags"] == '"[" ws ( string ( ws "," ws string ){0,2} )? ws "]"'
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4}
    assert "{1,3}" in schema_to_gbnf(schema)


def test_recursion_uses_named_rules() -> None:
    rules = rules_of(schema_to_gbnf(TREE))
    assert rules["root"] == "def-node"
    assert any("def-node ( ws" in body for body in rules.values())


def test_left_recursion_falls_back_to_a_generic_value() -> None:
    schema = {
        "$defs": {"A": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]}},
        "$ref": "#/$defs/A",
    }
    grammar = schema_to_gbnf(schema)
    assert "value" in rules_of(grammar)
    assert ("/$defs/A/anyOf/0", "$ref") in unsupported(schema)


def test_enum_and_const_are_literals() -> None:
    rules = rules_of(schema_to_gbnf(KITCHEN_SINK))
    assert rules["def-color"] == r'"\"red\"" | "\"green\"" | "{\"rgb\":[1,2,3]}"'
    assert r'"\"kind\"" ws ":" ws "\"fixed\""' in rules.values()


def test_small_integer_ranges_are_enumerated() -> None:
    rules = rules_of(schema_to_gbnf(KITCHEN_SINK))
    assert rules["schema-level-range"] == '"1" | "2" | "3" | "4" | "5"'


def test_unsupported_lists_what_the_grammar_leaves_to_validation() -> None:
    found = unsupported(KITCHEN_SINK)
    assert ("/properties/quote", "pattern") in found
    assert ("/properties/level", "minimum") not in found  # enumerated exactly
    assert ("/properties/ratio", "minimum") not in found  # sign rule is exact for 0
    assert unsupported(PERSON) == []
    big = {"type": "integer", "minimum": 10, "maximum": 10_000, "multipleOf": 5}
    assert set(unsupported(big)) == {("", "minimum"), ("", "maximum"), ("", "multipleOf")}
    remote = {"$ref": "https://example.com/schema.json"}
    assert unsupported(remote) == [("", "$ref")]


def test_gbnf_literal_escapes() -> None:
    assert gbnf_literal('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\x01"'


# -- through llama.cpp --------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Any:
    from extractkit.backends.local import load_model

    return load_model()


SCHEMAS = {
    "person": PERSON,
    "tree": TREE,
    "optional": ALL_OPTIONAL,
    "sink": KITCHEN_SINK,
    "generic": {},
    "string": {"type": "string"},
}


@pytest.mark.local_model
@pytest.mark.parametrize("name", list(SCHEMAS))
def test_llama_cpp_parses_the_grammar(model: Any, name: str) -> None:
    model.matcher(schema_to_gbnf(SCHEMAS[name])).close()


@pytest.mark.local_model
def test_llama_cpp_rejects_a_broken_grammar(model: Any) -> None:
    from extractkit.errors import SchemaError

    with pytest.raises(SchemaError):
        model.matcher("root ::= undefined-rule\n")


ACCEPTED = [
    ("person", '{"name": "John Smith", "age": 42}'),
    ("person", '{"name":"Ann","age":0,"email":null,"tags":["a","b","c"]}'),
    ("person", '{\n"name": "A \\"quoted\\" name\\nwith escapes \\u00e9", "age": 7, "tags": []}'),
    ("tree", '{"value": 1, "children": [{"value": 2}, {"value": 3, "children": []}]}'),
    ("optional", "{}"),
    ("optional", '{"b": 1.5e3, "extra": 4}'),
    ("optional", '{"a": "x", "c": true, "k1": 1, "k2": -2}'),
    ("sink", '{"id": "123e4567-e89b-12d3-a456-426614174000", "kind": "fixed"}'),
    (
        "sink",
        '{"id": "123e4567-e89b-12d3-a456-426614174000", "when": "2024-02-29T13:45:00Z", '
        '"day": "2024-01-31", "code": "ab", "kind": "fixed", "color": {"rgb":[1,2,3]}, '
        '"score": null, "level": 5, "pair": ["x", 3], "anything": [1, {"k": "v"}], '
        '"both": {"x": 1, "y": false}, "ratio": 0.25}',
    ),
    ("generic", '{"a": [1, 2.5, "x", null, true, {"b": {}}]}'),
    ("string", '"h\\u00e9llo"'),
]

REJECTED = [
    ("person", '{"name": "John\nSmith", "age": 42}'),  # raw newline in a string
    ("person", '{"name": "John\tSmith", "age": 42}'),  # raw tab
    ("person", '{"age": 42, "name": "John"}'),  # out of order
    ("person", '{"name": "John"}'),  # required missing
    ("person", '{"name": "John", "age": -1}'),  # minimum 0
    ("person", '{"name": "John", "age": 42, "tags": ["a", "b", "c", "d"]}'),  # maxItems
    ("person", '{"name": "John", "age": 1234567890123456}'),  # 16 digits
    ("person", '{"name": "John", "age": 42, "other": 1}'),  # unknown property
    ("person", '{"name": "John",    "age": 42}'),  # 4 spaces of whitespace
    ("person", '{"name": "John", "age": 42,}'),  # trailing comma
    ("optional", '{, "b": 1}'),  # leading comma
    ("sink", '{"id": "not-a-uuid", "kind": "fixed"}'),
    ("sink", '{"id": "123e4567-e89b-12d3-a456-426614174000", "kind": "other"}'),
    ("sink", '{"id": "123e4567-e89b-12d3-a456-426614174000", "kind": "fixed", "code": "a"}'),
    ("sink", '{"id": "123e4567-e89b-12d3-a456-426614174000", "kind": "fixed", "level": 6}'),
    (
        "sink",
        '{"id": "123e4567-e89b-12d3-a456-426614174000", "kind": "fixed", "day": "2024-13-01"}',
    ),
    ("string", '"bad \\x escape"'),
]


@pytest.mark.local_model
@pytest.mark.parametrize(("name", "text"), ACCEPTED)
def test_grammar_accepts_documents_of_the_schema(model: Any, name: str, text: str) -> None:
    assert model.grammar_accepts(schema_to_gbnf(SCHEMAS[name]), text)


@pytest.mark.local_model
@pytest.mark.parametrize(("name", "text"), REJECTED)
def test_grammar_rejects_what_the_schema_forbids(model: Any, name: str, text: str) -> None:
    assert not model.grammar_accepts(schema_to_gbnf(SCHEMAS[name]), text)
