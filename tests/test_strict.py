"""The OpenAI strict-mode encoder: every rule, Pydantic models, and round trips."""

from __future__ import annotations

import copy
import enum
import json
from datetime import date
from typing import Annotated, Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

from extractkit.errors import SchemaError
from extractkit.schema.strict import StrictEncoding, encode_strict

_WIRE_KEYS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "enum",
        "const",
        "$ref",
        "$defs",
        "description",
        "title",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
_TYPE_NAMES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def strict_problems(wire: Any) -> list[str]:
    """Every way ``wire`` breaks OpenAI's strict subset (empty when it is fine).

    Written independently of the encoder, from the documented rules.
    """
    problems: list[str] = []
    if not isinstance(wire, dict) or wire.get("type") != "object" or "anyOf" in wire:
        return ["the root must be an object schema that is not anyOf"]
    defs = wire.get("$defs", {})
    totals = {"properties": 0, "enum": 0}
    heights: dict[str, int] = {}

    def target_of(ref: str) -> Any:
        if ref == "#":
            return wire
        return defs.get(ref[8:]) if ref.startswith("#/$defs/") else None

    def check(node: Any, where: str) -> None:
        if not isinstance(node, dict):
            problems.append(f"{where}: not a schema object")
            return
        if "$ref" in node:
            if set(node) != {"$ref"}:
                problems.append(f"{where}: $ref with siblings {sorted(set(node) - {'$ref'})}")
            if target_of(node["$ref"]) is None:
                problems.append(f"{where}: unresolvable $ref {node['$ref']!r}")
            return
        for key in node:
            if key not in _WIRE_KEYS:
                problems.append(f"{where}: keyword {key!r} is not allowed")
        if "$defs" in node and where != "#":
            problems.append(f"{where}: $defs below the root")
        if not ({"type", "anyOf", "enum", "const"} & set(node)):
            problems.append(f"{where}: no type")
        types = _types(node)
        for t in types:
            if t not in _TYPE_NAMES:
                problems.append(f"{where}: unknown type {t!r}")
        if "format" in node and node["format"] not in _FORMATS:
            problems.append(f"{where}: unsupported format {node['format']!r}")
        for value in node.get("enum", []):
            if isinstance(value, (dict, list)):
                problems.append(f"{where}: enum value {value!r} is not a scalar")
        totals["enum"] += len(node.get("enum", []))
        if "object" in types or "properties" in node:
            props = node.get("properties")
            if not isinstance(props, dict):
                problems.append(f"{where}: object without properties")
                props = {}
            if node.get("additionalProperties") is not False:
                problems.append(f"{where}: additionalProperties is not false")
            if sorted(node.get("required", [])) != sorted(props):
                problems.append(f"{where}: not every property is required")
            totals["properties"] += len(props)
        if ("array" in types or "items" in node) and not isinstance(node.get("items"), dict):
            problems.append(f"{where}: array without items")
        for sub_where, sub in _children(node, where):
            check(sub, sub_where)

    def height(node: Any, stack: frozenset[str]) -> int:
        if not isinstance(node, dict):
            return 0
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in stack:
                return 0
            if ref not in heights:
                heights[ref] = height(target_of(ref), stack | {ref})
            return heights[ref]
        below = max((height(sub, stack) for _, sub in _children(node, "")), default=0)
        return below + (1 if "object" in _types(node) else 0)

    check(wire, "#")
    for name, sub in defs.items():
        check(sub, f"#/$defs/{name}")
    depth = height(wire, frozenset({"#"}))
    if depth > 10:
        problems.append(f"objects nest {depth} levels deep (limit 10)")
    if totals["properties"] > 5000:
        problems.append(f"{totals['properties']} properties (limit 5000)")
    if totals["enum"] > 1000:
        problems.append(f"{totals['enum']} enum values (limit 1000)")
    return problems


def _types(node: dict[str, Any]) -> list[str]:
    types = node.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def _children(node: dict[str, Any], where: str) -> list[tuple[str, Any]]:
    props = node.get("properties")
    out = (
        [(f"{where}/properties/{k}", v) for k, v in props.items()]
        if isinstance(props, dict)
        else []
    )
    if isinstance(node.get("items"), dict):
        out.append((f"{where}/items", node["items"]))
    out.extend((f"{where}/anyOf/{i}", v) for i, v in enumerate(node.get("anyOf", [])))
    return out


def _assert_strict(wire: Any) -> None:
    problems = strict_problems(wire)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- helpers


def _encode(schema: dict[str, Any]) -> StrictEncoding:
    enc = encode_strict(schema)
    _assert_strict(enc.wire)
    json.dumps(enc.wire)  # plain JSON
    return enc


def _through_wire(enc: StrictEncoding, data: Any) -> Any:
    """Original-shaped ``data`` → wire (checked against the wire schema) → decoded."""
    wire = enc.encode_instance(data)
    Draft202012Validator(enc.wire).validate(wire)
    return enc.decode(wire)


def _round_trip_model(model: type[BaseModel], instance: BaseModel) -> None:
    enc = _encode(model.model_json_schema())
    back = _through_wire(enc, instance.model_dump(mode="json"))
    assert model.model_validate(back) == instance


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or [], **extra}


# --------------------------------------------------------------------------- the checker


def test_checker_catches_what_strict_mode_rejects() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "minLength": 2},
            "b": {"$ref": "#/$defs/X", "description": "d"},
            "c": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
        "$defs": {"X": {"type": "string", "format": "uri"}},
    }
    text = "\n".join(strict_problems(bad))
    for needle in ("'minLength'", "$ref with siblings", "additionalProperties is not false",
                   "not every property is required", "unsupported format"):  # fmt: skip
        assert needle in text
    assert strict_problems({"anyOf": [{"type": "object"}]})
    assert not strict_problems(
        {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    )


# --------------------------------------------------------------------------- objects


def test_every_object_is_closed_with_all_properties_required() -> None:
    schema = _obj({"a": {"type": "string"}, "b": {"type": "integer"}}, ["a"])
    enc = _encode(schema)
    assert enc.wire["required"] == ["a", "b"]
    assert enc.wire["additionalProperties"] is False
    assert enc.wire["properties"]["a"] == {"type": "string"}
    assert enc.wire["properties"]["b"] == {"type": ["integer", "null"]}
    assert enc.identity is False
    assert enc.decode({"a": "x", "b": None}) == {"a": "x"}
    assert enc.decode({"a": "x", "b": 2}) == {"a": "x", "b": 2}
    assert enc.encode_instance({"a": "x"}) == {"a": "x", "b": None}


def test_identity_when_there_is_nothing_to_undo() -> None:
    schema = _obj({"a": {"type": "string"}, "n": {"type": ["integer", "null"]}}, ["a", "n"])
    enc = _encode(schema)
    assert enc.identity is True
    data = {"a": "x", "n": None}
    assert enc.decode(data) is data


def test_optional_property_that_allowed_null_keeps_null() -> None:
    class M(BaseModel):
        x: int | None = None
        y: int = 0

    enc = _encode(M.model_json_schema())
    assert enc.decode({"x": None, "y": None}) == {"x": None}
    assert M.model_validate(enc.decode({"x": None, "y": None})) == M()


def test_required_property_with_default_gets_the_default_back() -> None:
    schema = _obj({"n": {"type": "integer", "default": 3}, "tags": {"type": "array",
                   "items": {"type": "string"}, "default": ["a"]}}, ["n", "tags"])  # fmt: skip
    enc = _encode(schema)
    out = enc.decode({"n": None, "tags": None})
    assert out == {"n": 3, "tags": ["a"]}
    out["tags"].append("b")
    assert enc.decode({"n": None, "tags": None})["tags"] == ["a"]  # the default is copied


def test_input_schema_is_not_mutated() -> None:
    class Inner(BaseModel):
        v: dict[str, int] = {}

    class Outer(BaseModel):
        inner: Inner = Field(description="the inner one")
        items: list[Inner] = []

    schema = Outer.model_json_schema()
    before = copy.deepcopy(schema)
    encode_strict(schema)
    assert schema == before


def test_encoding_is_deterministic() -> None:
    schema = _obj({"m": {"type": "object", "additionalProperties": {"type": "string"}}}, ["m"])
    assert encode_strict(schema).wire == encode_strict(schema).wire


# --------------------------------------------------------------------------- combinators


def test_one_of_becomes_any_of() -> None:
    schema = _obj({"v": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}, ["v"])
    enc = _encode(schema)
    assert enc.wire["properties"]["v"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_all_of_merges_objects_and_inlines_refs() -> None:
    schema = {
        "definitions": {"Base": _obj({"id": {"type": "integer", "minimum": 1}}, ["id"])},
        "allOf": [
            {"$ref": "#/definitions/Base"},
            _obj({"name": {"type": "string"}, "id": {"maximum": 9}}, ["name"]),
        ],
    }
    enc = _encode(schema)
    props = enc.wire["properties"]
    assert set(props) == {"id", "name"}
    assert props["id"] == {"type": "integer", "minimum": 1, "maximum": 9}
    assert props["name"] == {"type": "string"}
    assert "$defs" not in enc.wire
    assert enc.identity


def test_all_of_multiplies_out_unions() -> None:
    schema = _obj(
        {"v": {"allOf": [{"anyOf": [{"type": "string"}, {"type": "integer"}]},
                         {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}]}},
        ["v"],
    )  # fmt: skip
    enc = _encode(schema)
    assert enc.wire["properties"]["v"] == {"type": "integer"}


def test_all_of_with_no_common_type_is_an_error_only_when_required() -> None:
    clash = {"allOf": [{"type": "string"}, {"type": "integer"}]}
    with pytest.raises(SchemaError) as info:
        encode_strict(_obj({"v": clash}, ["v"]))
    assert info.value.keyword == "allOf"
    assert info.value.pointer == "/properties/v"
    enc = _encode(_obj({"v": clash, "w": {"type": "string"}}, ["w"]))
    assert list(enc.wire["properties"]) == ["w"]  # never present: left out


def test_union_alongside_properties_is_distributed() -> None:
    schema = {
        "type": "object",
        "properties": {"kind": {"type": "string"}},
        "required": ["kind"],
        "anyOf": [_obj({"a": {"type": "integer"}}, ["a"]), _obj({"b": {"type": "boolean"}}, ["b"])],
    }
    with pytest.raises(SchemaError) as info:  # a union at the root
        encode_strict(schema)
    assert (info.value.pointer, info.value.keyword) == ("", "anyOf")
    enc = _encode(_obj({"v": schema}, ["v"]))
    branches = enc.wire["properties"]["v"]["anyOf"]
    assert [sorted(b["properties"]) for b in branches] == [["a", "kind"], ["b", "kind"]]


def test_constraint_only_alternatives_move_to_the_description() -> None:
    schema = _obj({"a": {"type": "string"}, "b": {"type": "string"}}, [],
                  oneOf=[{"required": ["a"]}, {"required": ["b"]}])  # fmt: skip
    enc = _encode(schema)
    assert ("", "anyOf") in enc.moved
    assert "required" in enc.wire["description"]
    assert enc.decode({"a": "x", "b": None}) == {"a": "x"}


# --------------------------------------------------------------------------- references


def test_draft04_definitions_become_defs_and_unused_ones_go() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "definitions": {
            "n": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            "unused": {"type": "string", "format": "uri"},
        },
        "properties": {"a": {"$ref": "#/definitions/n"}, "b": {"$ref": "#/definitions/n"}},
        "required": ["a", "b"],
    }
    enc = _encode(schema)
    assert enc.wire["properties"]["a"] == {"$ref": "#/$defs/n"}
    assert enc.wire["$defs"] == {"n": {"type": "number", "exclusiveMinimum": 0}}
    assert "$schema" not in enc.wire


def test_recursion_through_the_root() -> None:
    schema = _obj({"name": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "#"}}},
                  ["name"])  # fmt: skip
    enc = _encode(schema)
    assert enc.wire["properties"]["kids"]["anyOf"][0]["items"] == {"$ref": "#"}
    data = {"name": "a", "kids": [{"name": "b", "kids": [{"name": "c"}]}]}
    assert _through_wire(enc, data) == data
    assert enc.decode({"name": "a", "kids": [{"name": "b", "kids": None}]}) == {
        "name": "a", "kids": [{"name": "b"}]}  # fmt: skip


def test_ref_with_siblings_is_inlined_and_keeps_the_description() -> None:
    schema = {
        "$defs": {"Color": {"type": "string", "enum": ["red", "blue"]}},
        **_obj({"c": {"$ref": "#/$defs/Color", "description": "paint"}}, ["c"]),
    }
    enc = _encode(schema)
    assert enc.wire["properties"]["c"] == {
        "type": "string", "enum": ["red", "blue"], "description": "paint"}  # fmt: skip


def test_anchor_and_id_references_resolve() -> None:
    schema = {
        "$id": "https://example.com/root.json",
        "type": "object",
        "definitions": {"a": {"$id": "#thing", "type": "integer"}},
        "properties": {
            "x": {"$ref": "#thing"},
            "y": {"$ref": "https://example.com/root.json#/definitions/a"},
        },
        "required": ["x", "y"],
    }
    enc = _encode(schema)
    assert enc.wire["$defs"] == {"a": {"type": "integer"}}


def test_refs_outside_the_document_are_errors() -> None:
    schema = _obj({"x": {"$ref": "other.json#/definitions/a"}}, ["x"])
    with pytest.raises(SchemaError) as info:
        encode_strict(schema)
    assert (info.value.pointer, info.value.keyword) == ("/properties/x", "$ref")


# --------------------------------------------------------------------------- open objects


def test_map_becomes_a_list_of_entries() -> None:
    schema = _obj({"m": {"type": "object", "additionalProperties": {"type": "integer"},
                         "minProperties": 1}}, ["m"])  # fmt: skip
    enc = _encode(schema)
    m = enc.wire["properties"]["m"]
    assert m["type"] == "array" and m["minItems"] == 1
    assert m["items"]["properties"] == {"key": {"type": "string"}, "value": {"type": "integer"}}
    assert enc.decode({"m": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]}) == {
        "m": {"a": 1, "b": 2}}  # fmt: skip
    assert _through_wire(enc, {"m": {"x": 5}}) == {"m": {"x": 5}}


def test_object_with_fixed_and_extra_members() -> None:
    schema = _obj({"id": {"type": "string"}}, ["id"], additionalProperties={"type": "number"})
    enc = _encode(schema)
    assert list(enc.wire["properties"]) == ["id", "additional_entries"]
    data = {"id": "x", "a": 1.5, "b": 2}
    assert _through_wire(enc, data) == data


def test_pattern_properties_become_alternative_entries() -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^x-": {"type": "string"}, "^n": {"type": "array",
                              "items": {"type": "object", "additionalProperties": {"type": "integer"}}}},
        "additionalProperties": False,
    }  # fmt: skip
    enc = _encode(schema)
    items = enc.wire["properties"]["entries"]["items"]["anyOf"]
    assert [i["properties"]["key"]["pattern"] for i in items] == ["^x-", "^n"]
    data = {"x-a": "s", "n1": [{"k": 1}]}
    assert _through_wire(enc, data) == data


def test_property_names_constrain_the_key() -> None:
    class M(BaseModel):
        h: dict[Literal["x", "y"], int]

    enc = _encode(M.model_json_schema())
    key = enc.wire["properties"]["h"]["items"]["properties"]["key"]
    assert key == {"type": "string", "enum": ["x", "y"]}


def test_root_map_is_wrapped_in_an_object() -> None:
    enc = _encode({"type": "object", "additionalProperties": {"type": "boolean"}})
    assert list(enc.wire["properties"]) == ["entries"]
    assert enc.decode({"entries": [{"key": "k", "value": True}]}) == {"k": True}


def test_declared_properties_close_an_open_object() -> None:
    enc = _encode(_obj({"a": {"type": "string"}}, ["a"], additionalProperties=True))
    assert list(enc.wire["properties"]) == ["a"]


def test_map_next_to_an_array_in_a_union_stays_unambiguous() -> None:
    schema = _obj({"v": {"anyOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ]}}, ["v"])  # fmt: skip
    enc = _encode(schema)
    assert _through_wire(enc, {"v": []}) == {"v": []}
    assert _through_wire(enc, {"v": {}}) == {"v": {}}
    assert _through_wire(enc, {"v": {"a": "b"}}) == {"v": {"a": "b"}}
    assert _through_wire(enc, {"v": ["a"]}) == {"v": ["a"]}


# --------------------------------------------------------------------------- any value, types


def test_any_value_round_trips() -> None:
    enc = _encode(_obj({"v": {}, "w": {"description": "anything"}}, ["v", "w"]))
    assert enc.wire["properties"]["w"]["description"] == "anything"
    assert "JsonValue" in enc.wire["$defs"]
    for value in ("s", 1, 2.5, True, None, [1, [2, "x"]], {"a": {"b": [None, {"c": 1}]}}):
        assert _through_wire(enc, {"v": value, "w": value}) == {"v": value, "w": value}
    assert _through_wire(enc, {"v": {}, "w": []}) == {"v": [], "w": []}  # documented


def test_type_lists() -> None:
    schema = _obj({"a": {"type": ["string", "integer"], "maxLength": 4},
                   "b": {"type": ["string", "null"]}}, ["a", "b"])  # fmt: skip
    enc = _encode(schema)
    a = enc.wire["properties"]["a"]
    assert a["anyOf"][0]["type"] == "string" and "maxLength 4" in a["anyOf"][0]["description"]
    assert a["anyOf"][1] == {"type": "integer"}
    assert enc.wire["properties"]["b"] == {"type": ["string", "null"]}


def test_missing_type_is_inferred() -> None:
    schema = {
        "properties": {
            "o": {"properties": {"x": {"minimum": 1}}, "required": ["x"]},
            "e": {"enum": ["a", 1, None]},
            "s": {"pattern": "^a"},
        },
        "required": ["o", "e", "s"],
    }
    enc = _encode(schema)
    props = enc.wire["properties"]
    assert props["o"]["type"] == "object"
    assert props["o"]["properties"]["x"] == {"type": "number", "minimum": 1}
    assert props["e"] == {"anyOf": [{"type": "string", "enum": ["a"]},
                                    {"type": "integer", "enum": [1]}, {"type": "null"}]}  # fmt: skip
    assert props["s"] == {"type": "string", "pattern": "^a"}


# --------------------------------------------------------------------------- keywords


def test_supported_keywords_stay_on_the_wire() -> None:
    schema = _obj(
        {
            "when": {"type": "string", "format": "date-time", "pattern": "^2"},
            "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 10, "multipleOf": 0.5},
            "xs": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "k": {"const": "k"},
        },
        ["when", "n", "xs", "k"],
    )
    enc = _encode(schema)
    assert enc.moved == ()
    assert enc.wire["properties"]["when"] == {
        "type": "string",
        "pattern": "^2",
        "format": "date-time",
    }
    assert enc.wire["properties"]["n"] == {"type": "number", "minimum": 0, "exclusiveMaximum": 10,
                                           "multipleOf": 0.5}  # fmt: skip
    assert enc.wire["properties"]["k"] == {"type": "string", "const": "k"}


def test_unsupported_keywords_move_to_the_description() -> None:
    schema = _obj(
        {
            "name": {"type": "string", "maxLength": 20, "minLength": 1, "description": "Name."},
            "site": {"type": "string", "format": "uri"},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "age": {"type": "integer", "not": {"const": 13}, "examples": [30]},
        },
        ["name", "site", "tags", "age"],
        minProperties=1,
        **{"$comment": "dropped", "x-vendor": 1},
    )
    enc = _encode(schema)
    props = enc.wire["properties"]
    assert props["name"] == {"type": "string",
                             "description": "Name.\nConstraints: minLength 1; maxLength 20."}  # fmt: skip
    assert 'format "uri"' in props["site"]["description"]
    assert "uniqueItems true" in props["tags"]["description"]
    assert props["age"]["description"] == 'Examples: [30]. Constraints: not {"const": 13}.'
    assert set(enc.moved) == {
        ("/properties/name", "maxLength"), ("/properties/name", "minLength"),
        ("/properties/site", "format"), ("/properties/tags", "uniqueItems"),
        ("/properties/age", "not"), ("/properties/age", "examples"), ("", "minProperties"),
    }  # fmt: skip
    assert "$comment" not in json.dumps(enc.wire) and "x-vendor" not in enc.wire


def test_defaults_are_described() -> None:
    enc = _encode(_obj({"n": {"type": "integer", "default": 5}}))
    assert enc.wire["properties"]["n"]["description"] == "Default: 5."
    assert enc.moved == (("/properties/n", "default"),)


# --------------------------------------------------------------------------- arrays


def test_closed_tuple_becomes_an_object() -> None:
    schema = _obj({"t": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
                         "items": False, "minItems": 1}}, ["t"])  # fmt: skip
    enc = _encode(schema)
    t = enc.wire["properties"]["t"]
    assert t["properties"] == {
        "item_0": {"type": "string"},
        "item_1": {"type": ["integer", "null"]},
    }
    assert _through_wire(enc, {"t": ["a", 2]}) == {"t": ["a", 2]}
    assert _through_wire(enc, {"t": ["a"]}) == {"t": ["a"]}


def test_open_tuple_becomes_an_array_of_the_item_union() -> None:
    schema = _obj(
        {"t": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}}, ["t"]
    )
    enc = _encode(schema)
    t = enc.wire["properties"]["t"]
    assert t["items"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert ("/properties/t", "items") in enc.moved
    assert _through_wire(enc, {"t": ["a", 1, 2]}) == {"t": ["a", 1, 2]}


# --------------------------------------------------------------------------- errors, limits


@pytest.mark.parametrize(
    ("schema", "pointer", "keyword"),
    [
        ({"type": "string"}, "", "type"),
        ({}, "", "type"),
        (
            {"anyOf": [_obj({"a": {"type": "string"}}), _obj({"b": {"type": "string"}})]},
            "",
            "anyOf",
        ),
        (_obj({"x": {"enum": [{"a": 1}]}}, ["x"]), "/properties/x", "enum"),
        (_obj({"x": {"$ref": "#/definitions/missing"}}, ["x"]), "/properties/x", "$ref"),
        (_obj({"x": {"enum": ["a"], "type": "integer"}}, ["x"]), "/properties/x", "enum"),
    ],
)
def test_inexpressible_schemas_raise(schema: dict[str, Any], pointer: str, keyword: str) -> None:
    with pytest.raises(SchemaError) as info:
        encode_strict(schema)
    assert (info.value.pointer, info.value.keyword) == (pointer, keyword)


def test_non_object_root_raises() -> None:
    with pytest.raises(SchemaError):
        encode_strict([{"type": "object"}])  # type: ignore[arg-type]


def test_size_limits() -> None:
    many = _obj({f"p{i}": {"type": "integer"} for i in range(5001)}, [])
    with pytest.raises(SchemaError) as info:
        encode_strict(many)
    assert info.value.keyword == "properties"
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(11):
        deep = _obj({"x": deep}, ["x"])
    with pytest.raises(SchemaError, match="nesting"):
        encode_strict(deep)
    enums = _obj({f"e{i}": {"enum": list(range(101))} for i in range(10)}, [])
    with pytest.raises(SchemaError) as info:
        encode_strict(enums)
    assert info.value.keyword == "enum"


def test_decode_passes_odd_shapes_through() -> None:
    enc = _encode(
        _obj({"m": {"type": "object", "additionalProperties": {"type": "string"}}}, ["m"])
    )
    assert enc.decode("nonsense") == "nonsense"
    assert enc.decode({"m": "x"}) == {"m": "x"}
    assert enc.decode({"m": [1, 2]}) == {"m": [1, 2]}


# --------------------------------------------------------------------------- pydantic models


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str
    city: str = "Springfield"
    zip_code: str | None = Field(default=None, pattern=r"^\d{5}$")


class Tree(BaseModel):
    """A recursive model."""

    label: str = Field(description="node label", max_length=20)
    children: list[Tree] = []
    weights: dict[str, float] = {}


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = Field(default=9, ge=0, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Person(BaseModel):
    name: str = Field(min_length=1)
    age: int | None = Field(default=None, ge=0)
    email: str = Field(json_schema_extra={"format": "email"})
    born: date | None = None
    color: Color = Color.RED
    home: Address
    other_homes: list[Address] = []
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    mood: Literal["happy", "sad", 3] = "happy"
    scores: dict[str, int] = {}
    by_city: dict[str, Address] = {}
    point: tuple[int, str]
    tags: set[str] = set()
    anything: Any = None
    id_or_name: int | str
    family: Tree | None = None


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")

    x: int


def _person(**changes: Any) -> Person:
    base: dict[str, Any] = {
        "name": "Ann",
        "email": "ann@example.com",
        "home": Address(street="Main"),
        "pet": Dog(kind="dog", good=True),
        "point": (1, "a"),
        "id_or_name": 7,
    }
    return Person(**{**base, **changes})


@pytest.mark.parametrize(
    "person",
    [
        _person(),
        _person(age=40, born=date(1980, 1, 2), color=Color.GREEN, mood=3, id_or_name="ann"),
        _person(pet=Cat(lives=3), scores={"a": 1, "b": 2}, tags={"x", "y"}),
        _person(other_homes=[Address(street="A", zip_code="12345"), Address(street="B", city="C")]),
        _person(by_city={"Paris": Address(street="Rue")}, anything={"k": [1, {"z": None}]}),
        _person(family=Tree(label="r", children=[Tree(label="c", weights={"w": 0.5})])),
        _person(anything=[1, "two", 3.0, None, True]),
    ],
)
def test_pydantic_model_round_trip(person: Person) -> None:
    _round_trip_model(Person, person)


def test_pydantic_model_wire_details() -> None:
    enc = _encode(Person.model_json_schema())
    props = enc.wire["properties"]
    assert props["email"]["type"] == "string" and props["email"]["format"] == "email"
    assert props["point"]["properties"] == {
        "item_0": {"type": "integer"},
        "item_1": {"type": "string"},
    }
    assert props["scores"]["anyOf"][0]["type"] == "array"
    assert props["pet"]["anyOf"] == [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]
    cat = enc.wire["$defs"]["Cat"]["properties"]
    assert cat["kind"]["const"] == "cat" and "null" not in json.dumps(
        cat["kind"]
    )  # a tag stays a tag
    assert ("/properties/tags", "uniqueItems") in enc.moved
    assert ("/properties/name", "minLength") in enc.moved
    assert ("/$defs/Tree/properties/label", "maxLength") in enc.moved


def test_model_output_with_nulls_for_defaults_validates() -> None:
    enc = _encode(Person.model_json_schema())
    wire = enc.encode_instance(_person().model_dump(mode="json"))
    for key in ("age", "born", "color", "other_homes", "mood", "scores", "tags", "family"):
        wire[key] = None
    wire["home"]["city"] = None
    person = Person.model_validate(enc.decode(wire))
    assert person.color is Color.RED and person.home.city == "Springfield"
    assert person.mood == "happy" and person.scores == {} and person.age is None


def test_pydantic_recursive_root_model() -> None:
    enc = _encode(Tree.model_json_schema())
    assert enc.wire["type"] == "object" and "Tree" in enc.wire["$defs"]
    _round_trip_model(Tree, Tree(label="a", children=[Tree(label="b", children=[Tree(label="c")])]))


def test_pydantic_extra_allow_is_closed() -> None:
    enc = _encode(Loose.model_json_schema())
    assert enc.wire["properties"] == {"x": {"type": "integer", "title": "X"}}
