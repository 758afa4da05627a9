"""The one allOf merge (schema/merge.py), as the view and the strict encoder use it."""

from __future__ import annotations

import pytest

from extractkit.errors import SchemaError
from extractkit.schema.merge import Unsatisfiable, merge_schemas
from extractkit.schema.strict import encode_strict
from extractkit.schema.view import schema_view

BOUNDED = {
    "$defs": {"Base": {"type": "object", "properties": {"n": {"type": "number", "minimum": 0,
                                                              "maximum": 100}}}},
    "type": "object",
    "properties": {
        "x": {"allOf": [
            {"$ref": "#/$defs/Base"},
            {"properties": {"n": {"type": "integer", "minimum": 5, "maximum": 500},
                            "tag": {"enum": ["a", "b", "c"]}},
             "required": ["n"]},
            {"properties": {"tag": {"enum": ["b", "c", "d"]}}},
        ]},
    },
    "required": ["x"],
}


def test_merge_intersects_types_bounds_and_enums() -> None:
    residue: list[tuple[str, object]] = []
    merged = merge_schemas(
        {"type": ["number", "string"], "minimum": 1, "maxLength": 9, "enum": [1, 2, "a"],
         "description": "left", "pattern": "^a"},
        {"type": "integer", "minimum": 3, "maxLength": 4, "enum": [2, "a", 3],
         "description": "right", "pattern": "^b"},
        "/p", residue)
    assert merged["type"] == "integer"
    assert (merged["minimum"], merged["maxLength"]) == (3, 4)
    assert merged["enum"] == [2, "a"]
    assert merged["description"] == "left"
    assert merged["pattern"] == "^a" and residue == [("pattern", "^b")]


@pytest.mark.parametrize(("left", "right"), [
    ({"type": "string"}, {"type": "integer"}),
    ({"const": 1}, {"const": 2}),
])
def test_merge_rejects_what_no_value_matches(left: dict, right: dict) -> None:
    with pytest.raises(Unsatisfiable, match="allOf") as info:
        merge_schemas(left, right, "/q")
    assert info.value.pointer == "/q"


def test_view_merges_all_of_with_an_inlined_ref_like_the_encoder() -> None:
    x = schema_view(BOUNDED).root.properties["x"]
    assert x.kind == "object" and x.required == {"n"}
    n = x.properties["n"]
    assert n.kind == "integer"
    assert (n.schema["minimum"], n.schema["maximum"]) == (5, 100)
    assert x.properties["tag"].schema["enum"] == ["b", "c"]
    wire = encode_strict(BOUNDED).wire["properties"]["x"]
    assert wire["properties"]["n"] == {"type": "integer", "minimum": 5, "maximum": 100}
    assert wire["properties"]["tag"]["anyOf"][0]["enum"] == ["b", "c"]


def test_unsatisfiable_all_of_is_never_in_the_view_and_an_error_for_the_encoder() -> None:
    schema = {"type": "object",
              "properties": {"a": {"allOf": [{"type": "string"}, {"type": "integer"}]},
                             "b": {"type": "string"}},
              "required": ["a"]}
    root = schema_view(schema).root
    assert root.properties["a"].kind == "never"
    assert root.properties["b"].kind == "string"
    with pytest.raises(SchemaError, match="incompatible types") as info:
        encode_strict(schema)
    assert info.value.pointer == "/properties/a"
    optional = {**schema, "required": []}
    assert "a" not in encode_strict(optional).wire["properties"]


def test_ref_siblings_override_the_target_annotations() -> None:
    schema = {"$defs": {"N": {"type": "string", "description": "a name"}},
              "type": "object",
              "properties": {"who": {"$ref": "#/$defs/N", "description": "who signed"}}}
    who = schema_view(schema).root.properties["who"]
    assert who.kind == "string" and who.schema["description"] == "who signed"
    assert encode_strict(schema).wire["properties"]["who"]["description"] == "who signed"


ANCHORED = {
    "$defs": {"Code": {"$anchor": "code", "type": "string", "enum": ["AB", "CD"]},
              "Qty": {"$id": "https://example.com/qty", "type": "integer", "minimum": 1}},
    "type": "object",
    "properties": {"code": {"$ref": "#code"}, "qty": {"$ref": "https://example.com/qty"}},
    "required": ["code", "qty"],
}


def test_strict_prompt_and_grammar_agree_on_anchor_and_id_references() -> None:
    from extractkit.schema.gbnf import schema_to_gbnf, unsupported
    from extractkit.schema.render import render_schema

    wire = encode_strict(ANCHORED).wire
    defs = {f"#/$defs/{name}": sub for name, sub in wire["$defs"].items()}
    props = {k: defs.get(v.get("$ref"), v) for k, v in wire["properties"].items()}
    assert props["code"] == {"type": "string", "enum": ["AB", "CD"]}
    assert props["qty"] == {"type": "integer", "minimum": 1}
    prompt = render_schema(ANCHORED)
    assert '"code": "AB" | "CD"' in prompt and '"qty": integer' in prompt
    assert "any" not in prompt
    grammar = schema_to_gbnf(ANCHORED)
    assert '"\\"AB\\""' in grammar and '"\\"CD\\""' in grammar
    assert unsupported(ANCHORED) == []
    view = schema_view(ANCHORED).root
    assert (view.properties["code"].kind, view.properties["qty"].kind) == ("string", "integer")
