"""render_schema: exact renderings for pydantic models and JSON Schema dicts, plus
robustness over a fixture of varied hand-written schemas and the JSONSchemaBench
sample (when present)."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter

from extractkit.errors import SchemaError
from extractkit.schema.render import render_schema

DATA = Path(__file__).parent / "data"
FIXTURES: list[dict[str, Any]] = json.loads((DATA / "render-fixtures.json").read_text("utf-8"))
BENCH_SAMPLE = DATA / "jsonschemabench-sample.jsonl"


def _lines(*lines: str) -> str:
    return "\n".join(lines)


# -- pydantic models ---------------------------------------------------------------


class Role(str, Enum):
    """Access level."""

    ADMIN = "admin"
    USER = "user"


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str = Field(description="City name")


class Person(BaseModel):
    """A person."""

    name: str = Field(description="Full name", min_length=1, max_length=20)
    age: int | None = Field(None, ge=0)
    role: Role = Role.USER
    kind: Literal["lead", "member"]
    address: Address
    previous: list[Address] = []
    billing: Address | None = None
    tags: list[str] = Field(default_factory=list, max_length=5)
    scores: dict[str, float]


def test_pydantic_nested_optional_literal_enum_dict() -> None:
    assert render_schema(Person.model_json_schema()) == _lines(
        "// A person.",
        "{",
        '  "name": string, // Full name (1-20 chars)',
        '  "age"?: integer | null, // >= 0, default: null',
        '  "role"?: "admin" | "user", // Access level. (default: "user")',
        '  "kind": "lead" | "member",',
        '  "address": Address,',
        '  "previous"?: Address[], // default: []',
        '  "billing"?: Address | null, // default: null',
        '  "tags"?: string[], // max 5 items',
        '  "scores": { [key: string]: number }',
        "}",
        "// A postal address.",
        "Address = {",
        '  "street": string,',
        '  "city": string // City name',
        "}",
    )


class Node(BaseModel):
    value: int
    children: list[Node] = []


def test_pydantic_recursive_root_is_named() -> None:
    assert render_schema(Node.model_json_schema()) == _lines(
        "Node",
        "Node = {",
        '  "value": integer,',
        '  "children"?: Node[] // default: []',
        "}",
    )


class Tree(BaseModel):
    name: str
    root: Node
    lookup: dict[str, Node] = {}


def test_pydantic_recursive_definition_below_the_root() -> None:
    assert render_schema(Tree.model_json_schema()) == _lines(
        "{",
        '  "name": string,',
        '  "root": Node,',
        '  "lookup"?: { [key: string]: Node } // default: {}',
        "}",
        "Node = {",
        '  "value": integer,',
        '  "children"?: Node[] // default: []',
        "}",
    )


class LineItem(BaseModel):
    description: str
    quantity: float = Field(gt=0)
    unit_price: float = Field(multiple_of=0.01)


class Invoice(BaseModel):
    number: str = Field(pattern=r"^INV-\d+$")
    issued: date
    currency: str = "EUR"
    items: list[LineItem] = Field(min_length=1, max_length=50)
    codes: list[Annotated[int, Field(gt=0, lt=1000)]] = []
    pair: tuple[int, str]
    mixed: list[int | str]
    discount: float = Field(0.0, ge=0, le=1, description="Fraction off the   total.\nRarely set.")


def test_pydantic_defaults_and_constraints() -> None:
    assert render_schema(Invoice.model_json_schema()) == _lines(
        "{",
        '  "number": string, // pattern: ^INV-\\d+$',
        '  "issued": string, // format: date',
        '  "currency"?: string, // default: "EUR"',
        '  "items": LineItem[], // 1-50 items',
        '  "codes"?: integer[], // items: > 0, < 1000, default: []',
        '  "pair": [integer, string],',
        '  "mixed": (integer | string)[],',
        '  "discount"?: number // Fraction off the total. Rarely set. (>= 0, <= 1, default: 0.0)',
        "}",
        "LineItem = {",
        '  "description": string,',
        '  "quantity": number, // > 0',
        '  "unit_price": number // multiple of 0.01',
        "}",
    )


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"


def test_pydantic_list_of_models_and_union_of_models_at_the_root() -> None:
    schema = TypeAdapter(list[Cat | Dog]).json_schema()
    assert render_schema(schema) == _lines(
        "(Cat | Dog)[]",
        "Cat = {",
        '  "kind"?: "cat", // default: "cat"',
        '  "lives"?: integer // default: 9',
        "}",
        "Dog = {",
        '  "kind"?: "dog" // default: "dog"',
        "}",
    )


# -- JSON Schema dicts ---------------------------------------------------------------


def test_types_enums_const_and_nullable() -> None:
    schema = {
        "type": "object",
        "properties": {
            "value": {"type": ["string", "null", "number"]},
            "level": {"enum": [1, "two", None, True]},
            "version": {"const": {"major": 2}},
            "note": {"type": "string", "nullable": True},
            "free": {},
        },
        "required": ["value", "missing"],
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "value": string | number | null,',
        '  "level"?: 1 | "two" | true | null,',
        '  "version"?: {"major": 2},',
        '  "note"?: string | null,',
        '  "free"?: any,',
        '  "missing": any',
        "}",
    )


def test_draft04_exclusive_bounds_and_inferred_types() -> None:
    schema = {
        "properties": {
            "port": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 10},
            "ratio": {"exclusiveMaximum": 1},
            "day": {"format": "date"},
            "ids": {
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 2,
                "uniqueItems": True,
            },
        }
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "port"?: integer, // > 0, <= 10',
        '  "ratio"?: number, // < 1',
        '  "day"?: string, // format: date',
        '  "ids"?: integer[] // exactly 2 items, unique',
        "}",
    )


def test_maps_pattern_properties_and_index_lines() -> None:
    schema = {
        "type": "object",
        "properties": {
            "labels": {
                "type": "object",
                "patternProperties": {"^x-": {"type": "string"}},
                "propertyNames": {"maxLength": 10},
            },
            "extras": {
                "type": "object",
                "properties": {"id": {"type": "integer"}},
                "additionalProperties": {"type": "number", "minimum": 0},
            },
            "open": {"type": "object"},
            "closed": {"type": "object", "additionalProperties": False},
            "nested": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        },
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "labels"?: { [key: string]: string }, // keys: pattern ^x-',
        '  "extras"?: {',
        '    "id"?: integer,',
        "    [key: string]: number // >= 0",
        "  },",
        '  "open"?: object,',
        '  "closed"?: {},',
        '  "nested"?: {',
        "    [key: string]: {",
        '      "a"?: string',
        "    }",
        "  }",
        "}",
    )


def test_tuples_in_both_drafts() -> None:
    schema = {
        "type": "object",
        "properties": {
            "old": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
            "new": {
                "type": "array",
                "prefixItems": [{"type": "number"}],
                "items": {"type": "string"},
            },
            "grid": {"type": "array", "items": {"type": "array", "items": {"enum": [0, 1]}}},
        },
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "old"?: [string, integer],',
        '  "new"?: [number, ...string[]],',
        '  "grid"?: (0 | 1)[][]',
        "}",
    )


def test_all_of_objects_are_merged() -> None:
    schema = {
        "allOf": [
            {"$ref": "#/definitions/base"},
            {"properties": {"extra": {"type": "boolean"}}, "required": ["extra"]},
        ],
        "definitions": {
            "base": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "extra": {"type": "boolean"}},
                "required": ["id"],
            }
        },
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "id": string,',
        '  "extra": boolean',
        "}",
    )


def test_all_of_that_cannot_merge_is_an_intersection() -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"allOf": [{"$ref": "#/$defs/Codes"}, {"enum": ["b", "c", "z"]}]},
            "both": {"allOf": [{"$ref": "#/$defs/Named"}, {"$ref": "#/$defs/Listed"}]},
            "typed": {"type": "string", "anyOf": [{"format": "date"}, {"format": "email"}]},
        },
        "$defs": {
            "Codes": {"enum": ["a", "b", "c"]},
            "Named": {"type": "object", "properties": {"name": {"type": "string"}}},
            "Listed": {"type": "array", "items": {"type": "string"}},
        },
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "code"?: "b" | "c",',
        '  "both"?: Named & string[],',
        '  "typed"?: string',
        "}",
        "Named = {",
        '  "name"?: string',
        "}",
    )


def test_unions_of_objects_and_arrays() -> None:
    schema = {
        "description": "Either shape.",
        "oneOf": [
            {"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"]},
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            {"type": "null"},
        ],
    }
    assert render_schema(schema) == _lines(
        "// Either shape.",
        "{",
        '  "r": number',
        "} | (string | integer)[] | null",
    )


def test_recursion_through_the_root_uses_the_title() -> None:
    schema = {
        "title": "Category",
        "description": "A product category.",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "sub": {"type": "array", "items": {"$ref": "#"}},
        },
    }
    assert render_schema(schema) == _lines(
        "// A product category.",
        "Category",
        "Category = {",
        '  "name"?: string,',
        '  "sub"?: Category[]',
        "}",
    )


def test_mutual_recursion_and_definition_order() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/definitions/A"}, "c": {"$ref": "#/definitions/C"}},
        "definitions": {
            "C": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}},
            "A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
            "Unused": {"type": "object", "properties": {"u": {"type": "string"}}},
        },
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "a"?: A,',
        '  "c"?: C',
        "}",
        "A = {",
        '  "b"?: B',
        "}",
        "B = {",
        '  "a"?: A',
        "}",
        "C = {",
        '  "x"?: integer',
        "}",
    )


def test_simple_definitions_are_inlined_with_their_comment() -> None:
    schema = {
        "type": "object",
        "properties": {
            "color": {"$ref": "#/definitions/color"},
            "accent": {"$ref": "#/definitions/color", "description": "Accent colour."},
            "alias": {"$ref": "#/definitions/alias"},
        },
        "definitions": {
            "color": {"enum": ["red", "green"], "description": "A colour."},
            "alias": {"$ref": "#/definitions/color"},
        },
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "color"?: "red" | "green", // A colour.',
        '  "accent"?: "red" | "green", // Accent colour.',
        '  "alias"?: "red" | "green" // A colour.',
        "}",
    )


def test_ref_with_sibling_properties_is_merged() -> None:
    schema = {
        "$ref": "#/definitions/base",
        "properties": {"level": {"type": "string", "default": "warning"}},
        "definitions": {"base": {"properties": {"ignore": {"type": "string"}}}},
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "ignore"?: string,',
        '  "level"?: string // default: "warning"',
        "}",
    )


def test_definition_names_escapes_collisions_and_long_keys() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "b": {"$ref": "#/definitions/io.k8s.api.core.v2.Probe"},
            "c": {"$ref": "#/definitions/a~1b%20c"},
            "d": {"$ref": "#/definitions/string"},
            "e": {"$ref": "#/definitions/https:__example_com_schemas_apps_v1_DeploymentSpec"},
        },
        "definitions": {
            "io.k8s.api.core.v1.Probe": {"properties": {"p": {"type": "integer"}}},
            "io.k8s.api.core.v2.Probe": {"properties": {"q": {"type": "integer"}}},
            "a/b c": {"properties": {"r": {"type": "integer"}}},
            "string": {"properties": {"s": {"type": "integer"}}},
            "https:__example_com_schemas_apps_v1_DeploymentSpec": {
                "properties": {"t": {"type": "integer"}}
            },
        },
    }
    rendered = render_schema(schema)
    assert rendered.split("\n")[:7] == [
        "{",
        '  "a"?: Probe,',
        '  "b"?: io_k8s_api_core_v2_Probe,',
        '  "c"?: a_b_c,',
        '  "d"?: string_,',
        '  "e"?: DeploymentSpec',
        "}",
    ]
    for name in ("Probe", "io_k8s_api_core_v2_Probe", "a_b_c", "string_", "DeploymentSpec"):
        assert f"\n{name} = {{\n" in rendered


def test_unresolvable_and_remote_references_become_any() -> None:
    schema = {
        "$id": "https://example.com/root.json",
        "type": "object",
        "properties": {
            "remote": {"$ref": "https://other.example/x.json#/a"},
            "missing": {"$ref": "#/definitions/nope"},
            "anchor": {"$ref": "#anchor"},
            "own": {"$ref": "https://example.com/root.json#/definitions/n"},
        },
        "definitions": {"n": {"type": "integer"}},
    }
    assert render_schema(schema) == _lines(
        "{",
        '  "remote"?: any,',
        '  "missing"?: any,',
        '  "anchor"?: any,',
        '  "own"?: integer',
        "}",
    )


def test_descriptions_titles_and_truncation() -> None:
    long = "word " * 100
    schema = {
        "type": "object",
        "properties": {
            "first_name": {"type": "string", "title": "First Name"},
            "dob": {"type": "string", "title": "Date of birth"},
            "bio": {"type": "string", "description": long},
            "flag": {"type": "boolean", "deprecated": True, "description": "Old."},
        },
    }
    lines = render_schema(schema).split("\n")
    assert lines[1] == '  "first_name"?: string,'
    assert lines[2] == '  "dob"?: string, // Date of birth'
    bio = lines[3].split(" // ", 1)[1]
    assert bio.endswith("word…")
    assert len(bio) <= 200
    assert lines[4] == '  "flag"?: boolean // Old. (deprecated)'


def test_comments_stay_on_one_line() -> None:
    schema = {
        "type": "string",
        "description": "Two\nlines\r\n\tand tabs.",
        "pattern": "^(.|[\r\n])*$",
        "default": "a\nb",
    }
    assert render_schema(schema) == _lines(
        '// Two lines and tabs. (pattern: ^(.|[\\r\\n])*$, default: "a\\nb")',
        "string",
    )


def test_boolean_and_empty_schemas() -> None:
    assert render_schema(True) == "any"  # type: ignore[arg-type]
    assert render_schema(False) == "never"  # type: ignore[arg-type]
    assert render_schema({}) == "any"
    schema = {
        "type": "object",
        "properties": {"gone": False, "list": {"type": "array", "items": False}},
    }
    assert render_schema(schema) == _lines("{", '  "list"?: never[]', "}")


def test_very_deep_nesting_is_cut_to_any() -> None:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(500):
        schema = {"type": "array", "items": schema}
    rendered = render_schema(schema)
    assert rendered == "any" + "[]" * 64


def test_non_schema_input_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        render_schema(["not", "a", "schema"])  # type: ignore[arg-type]


# -- every schema of the fixture and the bench sample ---------------------------------

_KEYWORDS = {"string", "number", "integer", "boolean", "null", "any", "never", "object", "key"}


def _check_rendering(schema: Any) -> str:
    before = copy.deepcopy(schema)
    rendered = render_schema(schema)
    assert schema == before, "render_schema must not change its input"
    assert rendered == render_schema(copy.deepcopy(schema)), "rendering must be deterministic"
    assert rendered.strip()
    defined = re.findall(r"^([A-Za-z_][A-Za-z0-9_]*) = ", rendered, flags=re.MULTILINE)
    assert len(defined) == len(set(defined)), "each definition is written once"
    # Drop keys and string literals, then comments; what is left are type names.
    code = "\n".join(
        re.sub(r'"(?:[^"\\]|\\.)*"', '""', line).split("//", 1)[0] for line in rendered.split("\n")
    )
    used = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", code)) - _KEYWORDS - {"true", "false"}
    assert used <= set(defined), f"names used but not defined: {sorted(used - set(defined))}"
    return rendered


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_fixture_schemas_render_consistently(fixture: dict[str, Any]) -> None:
    rendered = _check_rendering(fixture["schema"])
    assert len(rendered) < len(json.dumps(fixture["schema"]))


def test_fixture_renderings_keep_the_information() -> None:
    by_name = {f["name"].split(" (")[0]: render_schema(f["schema"]) for f in FIXTURES}
    assert by_name["product"].startswith("// A product in the catalogue.\n{")
    assert '"currency"?: string // pattern: ^[A-Z]{3}$, default: "EUR"' in by_name["product"]
    assert "unused" not in by_name["product"]
    assert '"pet"?: Cat | Dog' in by_name["pet"]
    assert by_name["file tree"].startswith("FileTree\nFileTree = {")
    assert '"coordinates": [number, number][][]' in by_name["geometry"]
    assert (
        "json = string | number | boolean | json[] | { [key: string]: json } | null"
        in (by_name["json value"])
    )
    assert by_name["root array of primitives with constraints"] == _lines(
        "// Ratings. (1-3 items, items: >= 1, <= 5)", "integer[]"
    )


def _bench_schemas() -> list[Any]:
    if not BENCH_SAMPLE.exists():
        return []
    with BENCH_SAMPLE.open(encoding="utf-8") as lines:
        return [json.loads(line)["schema"] for line in lines if line.strip()]


@pytest.mark.skipif(not BENCH_SAMPLE.exists(), reason=f"{BENCH_SAMPLE.name} not present")
def test_jsonschemabench_sample_renders_without_error() -> None:
    schemas = _bench_schemas()
    assert schemas
    for schema in schemas:
        _check_rendering(schema)


# -- generated schemas ----------------------------------------------------------------

_names = st.sampled_from(["a", "b", "c", "Node", "x y", "a/b"])
_scalars = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "number", "boolean", "null", "weird"])},
    optional={
        "minimum": st.integers(-5, 5),
        "maxLength": st.integers(0, 9),
        "description": st.text(max_size=30),
        "default": st.none() | st.integers() | st.text(max_size=5),
    },
)
_refs = st.builds(lambda n: {"$ref": f"#/$defs/{n}"}, _names) | st.just({"$ref": "#"})


def _compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda p: {"type": "object", "properties": p}, st.dictionaries(_names, children)),
        st.builds(lambda i: {"type": "array", "items": i}, children),
        st.builds(lambda a: {"anyOf": a}, st.lists(children, max_size=3)),
        st.builds(lambda a: {"allOf": a}, st.lists(children, max_size=3)),
        st.builds(lambda a: {"oneOf": a, "type": "object"}, st.lists(children, max_size=3)),
        st.builds(lambda e: {"enum": e}, st.lists(st.none() | st.integers() | st.text(max_size=3))),
        st.builds(lambda v: {"additionalProperties": v}, children),
        st.builds(lambda r, p: {**r, "properties": p}, _refs, st.dictionaries(_names, children)),
    )


_schemas = st.recursive(_scalars | _refs | st.booleans() | st.just({}), _compound, max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(root=_schemas, defs=st.dictionaries(_names, _schemas, max_size=4))
def test_generated_schemas_never_raise(root: Any, defs: dict[str, Any]) -> None:
    schema = {**root, "$defs": defs} if isinstance(root, dict) else root
    _check_rendering(schema)
