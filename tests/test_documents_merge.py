"""Merging chunk values by schema: lists, de-duplication, scalars, conflicts, policies."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel

from extractkit.documents.merge import Part, merge_parts, normalized
from extractkit.errors import SchemaError
from extractkit.grounding.spans import LeafGrounding, Span
from extractkit.markers import Merge, register_callable


class Item(BaseModel):
    name: str
    qty: int | None = None


class Doc(BaseModel):
    title: str | None = None
    tags: list[str] = []
    items: list[Item] = []
    total: float | None = None


def found(pointer: str, value: str, start: int, chunk: int) -> LeafGrounding:
    return LeafGrounding(pointer, value, "exact", 1.0,
                         (Span(start, start + len(value), chunk=chunk),))


def missing(pointer: str, value: str) -> LeafGrounding:
    return LeafGrounding(pointer, value, "ungrounded", 0.0)


SCHEMA = Doc.model_json_schema()


def test_lists_concatenate_in_document_order_and_equal_objects_dedupe():
    merged = merge_parts(SCHEMA, [
        Part(0, {"items": [{"name": "bolt", "qty": 2}, {"name": "nut", "qty": 1}]}),
        Part(1, {"items": [{"name": "nut", "qty": 1}, {"name": "gear", "qty": None}]}),
        Part(2, {"items": [{"name": "Bolt ", "qty": 2}, {"name": "bolt", "qty": 3}]}),
    ])
    names = [(i["name"], i["qty"]) for i in merged.value["items"]]
    # "Bolt " normalizes equal to "bolt" with the same qty: one object
    assert names == [("bolt", 2), ("nut", 1), ("gear", None), ("bolt", 3)]
    assert merged.sources["/items/2/name"] == 1
    assert merged.sources["/items/3/qty"] == 2
    assert merged.conflicts == []


def test_scalar_list_items_dedupe_only_when_spans_overlap():
    # "acme" seen twice in the overlap of chunks 0 and 1 (same place), and again far away
    merged = merge_parts(SCHEMA, [
        Part(0, {"tags": ["acme", "beta"]},
             {"/tags/0": found("/tags/0", "acme", 90, 0), "/tags/1": found("/tags/1", "beta", 10, 0)}),
        Part(1, {"tags": ["ACME", "acme"]},
             {"/tags/0": found("/tags/0", "ACME", 90, 1), "/tags/1": found("/tags/1", "acme", 500, 1)}),
    ])
    assert merged.value["tags"] == ["acme", "beta", "acme"]
    assert merged.sources == {"/tags/0": 0, "/tags/1": 0, "/tags/2": 1}
    assert merged.grounding["/tags/2"].spans[0].start == 500


def test_union_policy_dedupes_by_value_wherever_found():
    class M(BaseModel):
        tags: Annotated[list[str], Merge("union")] = []

    merged = merge_parts(M.model_json_schema(), [
        Part(0, {"tags": ["acme"]}, {"/tags/0": found("/tags/0", "acme", 5, 0)}),
        Part(1, {"tags": ["Acme", "zed"]}, {"/tags/0": found("/tags/0", "Acme", 900, 1)}),
    ])
    assert merged.value["tags"] == ["acme", "zed"]


def test_scalar_takes_first_grounded_value_and_keeps_the_conflict():
    merged = merge_parts(SCHEMA, [
        Part(0, {"title": None}),
        Part(1, {"title": "Invented Title"}, {"/title": missing("/title", "Invented Title")}),
        Part(2, {"title": "Supply Agreement"},
             {"/title": found("/title", "Supply Agreement", 1200, 2)}),
        Part(3, {"title": "Annex"}, {"/title": found("/title", "Annex", 3000, 3)}),
    ])
    assert merged.value["title"] == "Supply Agreement"
    assert merged.sources["/title"] == 2
    [conflict] = merged.conflicts
    assert conflict.pointer == "/title" and conflict.chosen == "Supply Agreement"
    assert [(c.value, c.chunk, c.grounded) for c in conflict.candidates] == [
        ("Invented Title", 1, False), ("Supply Agreement", 2, True), ("Annex", 3, True)]
    assert conflict.as_dict()["candidates"][1]["spans"][0]["start"] == 1200


def test_ungrounded_value_is_used_when_no_chunk_has_a_grounded_one():
    merged = merge_parts(SCHEMA, [
        Part(0, {"title": "Guess"}, {"/title": missing("/title", "Guess")}),
        Part(1, {"title": None}),
    ])
    assert merged.value["title"] == "Guess"
    assert merged.conflicts == []  # null is no disagreement


def test_numbers_conflict_and_equal_values_do_not():
    merged = merge_parts(SCHEMA, [Part(0, {"total": 10.0}), Part(1, {"total": 10.0}),
                                  Part(2, {"total": 12.5})])
    assert merged.value["total"] == 10.0
    assert [c.value for c in merged.conflicts[0].candidates] == [10.0, 10.0, 12.5]


@pytest.mark.parametrize(("policy", "expected"), [
    ("first", "b"), ("last", "dd"), ("longest", "cccc"), ("most_frequent", "dd"),
])
def test_scalar_policies(policy, expected):
    class M(BaseModel):
        v: Annotated[str | None, Merge(policy)] = None

    values = [None, "b", "cccc", "dd", "dd"]
    merged = merge_parts(M.model_json_schema(), [Part(i, {"v": v}) for i, v in enumerate(values)])
    assert merged.value["v"] == expected
    assert merged.conflicts[0].policy == policy


def test_registered_callable_policy_gets_candidates():
    def shortest(cands):
        return min((c.value for c in cands), key=len)

    register_callable(shortest, "test_shortest")

    class M(BaseModel):
        v: Annotated[str, Merge("test_shortest")]

    merged = merge_parts(M.model_json_schema(),
                         [Part(0, {"v": "abcd"}), Part(1, {"v": "ab"}), Part(2, {"v": "abc"})])
    assert merged.value["v"] == "ab"
    assert merged.sources["/v"] == 1


def test_unknown_callable_name_is_a_schema_error_naming_the_field():
    schema = {"type": "object", "properties": {"v": {"type": "string", "x-merge": "nope"}}}
    with pytest.raises(SchemaError, match=r"/v: unknown merge policy 'nope'"):
        merge_parts(schema, [Part(0, {"v": "a"}), Part(1, {"v": "b"})])


def test_root_list_is_the_union_of_all_chunks():
    schema = {"type": "array", "items": Item.model_json_schema()}
    merged = merge_parts(schema, [
        Part(0, [{"name": "a", "qty": 1}]),
        Part(1, []),
        Part(2, [{"name": "b", "qty": 2}, {"name": "a", "qty": 1}]),
    ])
    assert merged.value == [{"name": "a", "qty": 1}, {"name": "b", "qty": 2}]
    assert merged.sources == {"/0/name": 0, "/0/qty": 0, "/1/name": 2, "/1/qty": 2}


def test_nested_objects_merge_field_by_field():
    schema = {"type": "object", "properties": {"buyer": {"type": "object", "properties": {
        "name": {"type": "string"}, "city": {"type": "string"}}}}}
    merged = merge_parts(schema, [Part(0, {"buyer": {"name": "Ann", "city": None}}),
                                  Part(1, {"buyer": {"name": "Ann", "city": "Oslo"}})])
    assert merged.value == {"buyer": {"name": "Ann", "city": "Oslo"}}
    assert merged.sources == {"/buyer/name": 0, "/buyer/city": 1}


def test_all_empty_gives_the_empty_value_and_absent_keys_stay_absent():
    merged = merge_parts(SCHEMA, [Part(0, {"tags": [], "title": None}), Part(1, {"tags": []})])
    assert merged.value == {"tags": [], "title": None}


def test_normalized_ignores_case_spacing_and_edge_punctuation():
    assert normalized("  Nike,  Inc. ") == normalized("nike, inc")
    assert normalized({"a": "X", "b": None}) == normalized({"a": "x"})
    assert normalized(1) != normalized("1")


def test_merge_is_linear_in_the_number_of_items():
    # 20,000 distinct list items over 200 chunks: finishes quickly and keeps all of them
    parts = [Part(c, {"tags": [f"t{c}-{i}" for i in range(100)]}) for c in range(200)]
    merged = merge_parts(SCHEMA, parts)
    assert len(merged.value["tags"]) == 20_000
    assert merged.sources["/tags/19999"] == 199


def test_best_policy_takes_the_grounded_value_with_the_strongest_evidence():
    class M(BaseModel):
        law: Annotated[str | None, Merge("best")] = None

    merged = merge_parts(M.model_json_schema(), [
        Part(0, {"law": "Severability"}, {"/law": found("/law", "Severability", 10, 0)},
             {"/law": 0.0}),
        Part(1, {"law": "Texas"}, {"/law": missing("/law", "Texas")}, {}),
        Part(2, {"law": "Oregon"}, {"/law": found("/law", "Oregon", 900, 2)}, {"/law": 4.5}),
        Part(3, {"law": "Ohio"}, {"/law": found("/law", "Ohio", 1500, 3)}, {"/law": 4.5}),
    ])
    assert merged.value["law"] == "Oregon"  # first among the best; the ungrounded one never
    assert merged.sources["/law"] == 2
    [conflict] = merged.conflicts
    assert conflict.policy == "best"
    assert [(c.value, c.score) for c in conflict.candidates] == [
        ("Severability", 0.0), ("Texas", None), ("Oregon", 4.5), ("Ohio", 4.5)]
    assert conflict.as_dict()["candidates"][2]["score"] == 4.5
    assert "score" not in conflict.as_dict()["candidates"][1]


def test_scalar_policy_sets_the_default_of_unmarked_scalars_only():
    class M(BaseModel):
        a: str | None = None
        b: Annotated[str | None, Merge("first")] = None

    parts = [Part(0, {"a": "x", "b": "x"}, {}, {"/a": 1.0, "/b": 1.0}),
             Part(1, {"a": "y", "b": "y"}, {}, {"/a": 3.0, "/b": 3.0})]
    merged = merge_parts(M.model_json_schema(), parts, scalar_policy="best")
    assert merged.value == {"a": "y", "b": "x"}
    assert merge_parts(M.model_json_schema(), parts).value == {"a": "x", "b": "x"}
    with pytest.raises(ValueError, match="scalar_policy"):
        merge_parts(M.model_json_schema(), parts, scalar_policy="loudest")


def test_best_policy_puts_a_value_found_in_the_text_before_one_that_is_not():
    class M(BaseModel):
        law: Annotated[str | None, Merge("best")] = None

    echo = "the state whose laws govern the agreement is"  # a made-up echo of the query
    merged = merge_parts(M.model_json_schema(), [
        Part(0, {"law": echo}, {}, {}),
        Part(1, {"law": "Oregon"}, {"/law": found("/law", "Oregon", 900, 1)}, {"/law": 0.5}),
    ])
    assert merged.value["law"] == "Oregon"
