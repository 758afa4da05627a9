"""A remote ``$ref`` or a ``$ref`` cycle is rejected when the schema is compiled, on
every target and profile, with the pointer (not at validation time, attempt after attempt)."""

from __future__ import annotations

import json

import pytest

from extractkit.cli import main
from extractkit.errors import SchemaError
from extractkit.modes import build_plan
from extractkit.profiles import get_profile, profile_names
from extractkit.schema import WIRE_FORMATS, compile_schema, get_source
from extractkit.schema.view import schema_view

REMOTE = {"type": "object",
          "properties": {"who": {"type": "string"},
                         "where": {"$ref": "https://example.invalid/place.json"}}}
CYCLE = {"type": "object",
         "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"allOf": [{"$ref": "#/$defs/A"}]}},
         "properties": {"x": {"$ref": "#/$defs/A"}}}
UNION_CYCLE = {"type": "object",
               "$defs": {"T": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/T"}]}},
               "properties": {"t": {"$ref": "#/$defs/T"}}}
DANGLING = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}
BAD = [
    (REMOTE, "/properties/where", "only references inside the document"),
    (CYCLE, "/$defs/B/allOf/0", "cycle"),
    (UNION_CYCLE, "/$defs/T/anyOf/1", "cycle"),
    (DANGLING, "/properties/a", "points nowhere"),
]


@pytest.mark.parametrize("wire_format", WIRE_FORMATS)
@pytest.mark.parametrize(("schema", "pointer", "message"), BAD)
def test_every_target_rejects_at_compile_time(schema: dict, pointer: str, message: str,
                                              wire_format: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        compile_schema(json.loads(json.dumps(schema)), wire_format)
    assert info.value.pointer == pointer and info.value.keyword == "$ref"


@pytest.mark.parametrize("profile", profile_names())
def test_every_profile_rejects_before_building_a_request(profile: str) -> None:
    for schema, pointer, _ in BAD:
        with pytest.raises(SchemaError) as info:
            build_plan(schema, "auto", get_profile(profile))
        assert info.value.pointer == pointer


def test_recursion_through_properties_and_unused_definitions_are_fine() -> None:
    tree = {"type": "object",
            "properties": {"name": {"type": "string"},
                           "children": {"type": "array", "items": {"$ref": "#"}}},
            "$defs": {"unused": {"$ref": "https://example.invalid/x.json"}}}
    for wire_format in WIRE_FORMATS:
        assert compile_schema(tree, wire_format).source.json_schema["properties"]
    schema_view(tree).check_references()


def test_schema_command_exits_2_naming_file_and_pointer(tmp_path, capsys) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "string"}}}))
    bad = tmp_path / "remote.json"
    bad.write_text(json.dumps(REMOTE))
    for endpoint in ("openai", "llamacpp"):
        code = main(["schema", str(good), str(bad), "--endpoint", endpoint])
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert code == 2
        assert lines[0]["ok"] is True and lines[1]["ok"] is False
        assert "remote.json" in lines[1]["error"] and "/properties/where" in lines[1]["error"]
    get_source(good)  # a good file stays usable
