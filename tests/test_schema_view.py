"""The one normalized schema view: refs, allOf, unions, markers and the leaf walker."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel

from extractkit.errors import SchemaError
from extractkit.grounding import Grounding, LeafGrounding, Span, is_grounded
from extractkit.markers import Grounded, Match, Merge
from extractkit.schema.view import schema_view


class Item(BaseModel):
    name: Annotated[str, Grounded()]
    qty: int


class Invoice(BaseModel):
    number: str
    summary: Annotated[str | None, Grounded(False)] = None
    date: Annotated[str, Merge("first"), Match("date")]
    items: list[Item] = []
    parent: Invoice | None = None


class A(BaseModel):
    kind: Literal["a"]
    x: int


class B(BaseModel):
    kind: Literal["b"]
    y: str


class Holder(BaseModel):
    u: A | B
    d: dict[str, int] = {}
    t: tuple[int, str] = (1, "a")


def test_kinds_through_refs_optionals_and_recursion() -> None:
    root = schema_view(Invoice.model_json_schema()).root
    kinds = {name: node.kind for name, node in root.properties.items()}
    assert kinds == {"number": "string", "summary": "string", "date": "string",
                     "items": "array", "parent": "object"}
    assert root.properties["summary"].nullable
    assert not root.properties["number"].nullable
    parent = root.properties["parent"].unwrap()
    assert parent.recursive and parent.properties["items"].items.properties["qty"].kind == "integer"


def test_leaves_carry_pointer_value_and_marked_node() -> None:
    view = schema_view(Invoice.model_json_schema())
    value = {"number": "7", "summary": "s", "date": "2020-01-02",
             "items": [{"name": "nail", "qty": 2}], "parent": {"number": "6", "date": "d"}}
    leaves = {leaf.pointer: leaf for leaf in view.leaves(value)}
    assert list(leaves) == ["/number", "/summary", "/date", "/items/0/name", "/items/0/qty",
                            "/parent/number", "/parent/date"]
    assert leaves["/items/0/name"].path == ("items", 0, "name")
    assert leaves["/date"].node.marker("merge") == "first"
    assert leaves["/date"].node.marker("match") == "date"
    assert [p for p, leaf in leaves.items() if is_grounded(leaf.node)] == [
        "/number", "/date", "/items/0/name", "/parent/number", "/parent/date"]


def test_union_branch_is_picked_by_value() -> None:
    view = schema_view(Holder.model_json_schema())
    leaves = {leaf.pointer: leaf.node for leaf in
              view.leaves({"u": {"kind": "b", "y": "q"}, "d": {"k": 3}, "t": [1, "a"]})}
    assert leaves["/u/kind"].schema["const"] == "b"
    assert leaves["/u/y"].kind == "string"
    assert leaves["/d/k"].kind == "integer"
    assert (leaves["/t/0"].kind, leaves["/t/1"].kind) == ("integer", "string")


def test_anchor_refs_and_all_of_merge() -> None:
    schema = {
        "$defs": {"n": {"$anchor": "nm", "type": "string"}},
        "type": "object",
        "properties": {
            "a": {"$ref": "#nm"},
            "b": {"allOf": [{"properties": {"z": {"type": "integer"}}}, {"required": ["z"]}]},
        },
    }
    root = schema_view(schema).root
    assert root.properties["a"].kind == "string"
    assert root.properties["b"].kind == "object"
    assert root.properties["b"].required == {"z"}
    assert root.properties["b"].properties["z"].kind == "integer"


def test_ref_cycles_and_remote_refs_are_schema_errors() -> None:
    cyclic = {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}
    with pytest.raises(SchemaError, match="cycle"):
        _ = schema_view(cyclic).root
    remote = {"properties": {"a": {"$ref": "http://example.invalid/y.json"}}}
    with pytest.raises(SchemaError, match="only references inside the document"):
        _ = schema_view(remote).root.properties["a"]


def test_grounding_json_round_trip() -> None:
    leaf = LeafGrounding("/a", "x", "exact", 1.0, (Span(3, 4, page=2),))
    missing = LeafGrounding("/b", "y", "ungrounded")
    grounding = Grounding({"/a": leaf, "/b": missing})
    assert Grounding.from_dict(grounding.as_dict()) == grounding
    assert grounding.ungrounded == [missing]
    assert Span(3, 4).shifted(10, chunk=1) == Span(13, 14, chunk=1)


def test_unknown_marker_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown merge policy"):
        Merge("sometimes")
    with pytest.raises(ValueError, match="unknown matcher"):
        Match("vibes")
