"""Extractive decoding: the substring automaton and the JSON cursor (no model).

The end-to-end tests with the bundled model are in ``test_local_backend.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractkit.backends.local.extractive import (
    ExtractiveConstraint,
    JsonCursor,
    Rejected,
    SubstringIndex,
    constraint_for,
)
from extractkit.schema.view import schema_view

TEXTS = st.text(alphabet=st.sampled_from('abc é\n"\\日本'), min_size=0, max_size=40)


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.data())
def test_every_substring_is_accepted(text: str, data: st.DataObject) -> None:
    index = SubstringIndex([text])
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert index.contains(text[start:end])


@settings(max_examples=200, deadline=None)
@given(TEXTS, TEXTS)
def test_a_string_is_accepted_exactly_when_it_is_a_substring(text: str, probe: str) -> None:
    assert SubstringIndex([text]).contains(probe) == (probe in text)


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=3), TEXTS)
def test_several_documents_never_join(texts: list[str], probe: str) -> None:
    assert SubstringIndex(texts).contains(probe) == any(probe in t for t in texts)


def test_automaton_is_linear_in_size() -> None:
    text = "the quick brown fox jumps over the lazy dog; " * 200
    index = SubstringIndex([text])
    assert index.states <= 2 * len(text.encode()) + 1
    assert index.contains("lazy dog; the quick") and not index.contains("lazy cat")


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "status": {"type": "string", "enum": ["new", "old"]},
        "note": {"type": "string", "x-grounding": False},
        "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
DOC = 'Ann Lee (ann@example.org) lives in Zürich.\nShe said "hi".'


def feed(text: str) -> JsonCursor:
    cursor = JsonCursor(schema_view(SCHEMA).root, SubstringIndex([DOC]))
    cursor.feed(text.encode("utf-8"))
    return cursor


@pytest.mark.parametrize(
    "answer",
    [
        '{"name": "Ann Lee", "email": null}',
        '{"email": "ann@example.org", "status": "new", "note": "anything at all"}',
        '{"tags": ["Ann", "Zürich"], "owner": {"city": "Z\\u00fcrich"}}',
        '{"name": "Lee (ann"}',
        '{"name": "Z\\u00FCrich.\\nShe said \\"hi\\""}',
        '{"note": "free", "unknown": "not in the schema, not grounded"}',
    ],
)
def test_grounded_values_copied_from_the_text_pass(answer: str) -> None:
    json.loads(answer)
    cursor = feed(answer)
    assert not cursor.in_string


@pytest.mark.parametrize(
    "answer",
    [
        '{"name": "Ann Smith"}',  # not in the text
        '{"email": "ann@example.com"}',  # .org in the text
        '{"tags": ["Ann", "Paris"]}',  # items are grounded too
        '{"owner": {"city": "New York"}}',  # nested
        '{"name": ""}',  # empty copies nothing: write null instead
        '{"name": "Zurich"}',  # the text has Zürich
        '{"name": "Lee.\\nShe"}',  # the escape decodes to a newline that is not there
        '{"name": "Ann Le"}',  # ends inside the word "Lee"
        '{"name": "Ann "}',  # trailing whitespace
        '{"name": " Ann"}',  # leading whitespace
    ],
)
def test_invented_values_are_rejected(answer: str) -> None:
    with pytest.raises(Rejected):
        feed(answer)


def test_text_without_spaces_is_not_held_back_at_word_ends() -> None:
    cursor = JsonCursor(schema_view(SCHEMA).root, SubstringIndex(["東京都に住む田中さん"]))
    cursor.feed('{"name": "東京", "tags": ["田中"]}'.encode())
    assert not cursor.in_string


def test_constraint_asks_about_whole_tokens() -> None:
    pieces = [b'{"', b"name", b'":', b' "', b"Ann", b" Lee", b" Smith", b'"}', b'"Ann', b"\\n"]
    view = schema_view(SCHEMA)
    constraint = constraint_for(view, [DOC], pieces)
    assert isinstance(constraint, ExtractiveConstraint)
    for token in (0, 1, 2):
        assert constraint.allows(token)
        constraint.accept(token)
    assert constraint.allows(8)  # opening quote and a copied start in one token
    constraint.accept(3)
    assert constraint.first_bytes() is not None and ord("A") in constraint.first_bytes()
    assert ord('"') not in constraint.first_bytes()  # not empty-closed
    constraint.accept(4)
    assert constraint.allows(5) and not constraint.allows(6) and not constraint.allows(9)
    constraint.accept(5)
    assert constraint.allows(7)


def test_no_constraint_without_documents_or_grounded_fields() -> None:
    view = schema_view(SCHEMA)
    assert constraint_for(view, [], [b"x"]) is None
    enum_only = schema_view({"type": "object", "properties": {"s": {"enum": ["a", "b"]}}})
    assert constraint_for(enum_only, [DOC], [b"x"]) is None
    recursive = schema_view(
        {
            "$defs": {
                "n": {
                    "type": "object",
                    "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/n"}}},
                }
            },
            "$ref": "#/$defs/n",
        }
    )
    assert constraint_for(recursive, [DOC], [b"x"]) is None  # terminates


@pytest.mark.parametrize(
    ("prefix", "allowed"),
    [
        ('{"name": "Ann\\u01', False),  # no character of the text after "Ann" is \\u01..
        ('{"name": "Ann\\u002', False),  # a space comes next, written as it is
        ('{"name": "Ann\\u0021', False),  # "!" is not in the text there
        ('{"name": "Z\\u00', True),  # ü is \\u00fc
        ('{"name": "Z\\u00f', True),
        ('{"name": "Z\\u00e', False),
        ('{"name": "Zürich.\\', True),  # \\n comes next in the text
        ('{"name": "Ann\\', False),  # only a space can come: no escape needed
        ('{"name": "She said \\', True),  # \\" comes next
    ],
)
def test_unfinished_escapes_must_be_able_to_end_in_the_text(prefix: str, allowed: bool) -> None:
    if allowed:
        assert feed(prefix).in_string
    else:
        with pytest.raises(Rejected):
            feed(prefix)


def test_a_forced_token_leaves_the_cursor_in_step() -> None:
    pieces = [b'{"name": "Ann', b" Smith", b'", "tags": ["', b"Paris", b"Lee"]
    constraint = constraint_for(schema_view(SCHEMA), [DOC], pieces)
    assert constraint is not None
    constraint.accept(0)
    assert not constraint.allows(1)
    constraint.accept(1)  # the grammar forced it: that string goes unchecked ...
    constraint.accept(2)
    assert constraint.cursor.in_grounded_string  # ... and the next one is checked again
    assert not constraint.allows(3) and constraint.allows(4)
