"""The incremental JSON parser and partial values (extractkit.partial)."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
from typing import Any, Literal, TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter

from extractkit.partial import (
    ANY,
    JsonStream,
    Unwrap,
    ValidatedList,
    build,
    partial_model,
    shape_for,
)

# --------------------------------------------------------------------------- helpers


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON, telling ``1``, ``1.0`` and ``True`` apart."""
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


def prefix_consistent(part: Any, final: Any) -> bool:
    """``part`` is what a prefix of ``final``'s text may show.

    Every entry but the last of a container is complete (equal to the final
    one); the last may itself be partial; strings may be cut; other scalars
    appear only whole.
    """
    if isinstance(final, dict):
        if not isinstance(part, dict):
            return False
        keys, final_keys = list(part), list(final)
        if keys != final_keys[: len(keys)]:
            return False
        if not all(_same(part[k], final[k]) for k in keys[:-1]):
            return False
        return not keys or prefix_consistent(part[keys[-1]], final[keys[-1]])
    if isinstance(final, list):
        if not isinstance(part, list) or len(part) > len(final):
            return False
        if not all(_same(p, f) for p, f in zip(part[:-1], final, strict=False)):
            return False
        return not part or prefix_consistent(part[-1], final[len(part) - 1])
    if isinstance(final, str):
        return isinstance(part, str) and final.startswith(part)
    return _same(part, final)


def feed_in(text: str, cuts: list[int], shape: Any = ANY) -> tuple[JsonStream, list[Any]]:
    """Feed ``text`` cut at ``cuts``; the raw partial data after every changing piece."""
    parser = JsonStream(shape)
    seen = []
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(text)), len(text)]
    for start, end in itertools.pairwise(bounds):
        if parser.feed(text[start:end]):
            seen.append(parser.data())
    return parser, seen


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------- property

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)  # a few hundred examples in every CI run
@given(
    value=json_values,
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 2]),
    data=st.data(),
)
def test_any_chunking_parses_like_json_loads_and_every_step_is_a_prefix(
    value: Any, ascii_only: bool, indent: int | None, data: st.DataObject
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=12))
    parser, seen = feed_in(text, cuts)
    final = parser.close()
    expected = json.loads(text)
    assert _same(final, expected)
    assert _same(parser.data(), expected)
    for partial in seen[:-1] if parser.done else seen:
        assert prefix_consistent(partial, expected), (partial, expected)


@settings(max_examples=300, deadline=None)
@given(value=json_values, size=st.integers(1, 5))
def test_plain_shape_value_is_the_raw_partial_data(value: Any, size: int) -> None:
    """With no declared type, value() (rebuilt along the open path) equals data() (a copy)."""
    parser = JsonStream()
    for piece in pieces(json.dumps({"v": value}), size):
        parser.feed(piece)
        assert _same(parser.value(), parser.data())
    assert _same(parser.close(), {"v": value})


# --------------------------------------------------------------------------- parser


def test_values_grow_as_text_arrives() -> None:
    parser = JsonStream()
    assert parser.feed('{"name": "Ad') is True
    assert parser.value() == {"name": "Ad"}
    assert parser.feed('a", "n": [1, 2') is True
    assert parser.value() == {"name": "Ada", "n": [1]}  # 2 may become 23
    assert parser.feed("3") is False
    assert parser.feed("]") is True
    assert parser.value() == {"name": "Ada", "n": [1, 23]}
    assert not parser.done
    assert parser.feed("}") is True and parser.done
    assert parser.close() == {"name": "Ada", "n": [1, 23]}


def test_nothing_visible_is_no_change() -> None:
    parser = JsonStream()
    parser.feed('{"a": 1, ')
    assert parser.feed("   \n") is False  # whitespace
    assert parser.feed('"ke') is False  # a key being written
    assert parser.feed('y"') is False
    assert parser.feed(": tr") is False  # a literal being written
    assert parser.value() == {"a": 1}
    assert parser.feed("ue") is False
    assert parser.feed("}") is True
    assert parser.value() == {"a": 1, "key": True}


@pytest.mark.parametrize("ascii_only", [True, False])
def test_escapes_split_anywhere(ascii_only: bool) -> None:
    value = {"s": 'quote " back \\ slash / tab \t nl \n é 😀 \u2028 end'}
    text = json.dumps(value, ensure_ascii=ascii_only)
    parser = JsonStream()
    for ch in text:
        parser.feed(ch)
        shown = parser.value()
        if shown:
            assert value["s"].startswith(shown.get("s", ""))
    assert parser.close() == value


def test_root_scalars() -> None:
    number = JsonStream()
    number.feed("12")
    number.feed("3")
    assert number.value() is None and not number.done
    assert number.close() == 123
    string = JsonStream()
    string.feed('"ab')
    assert string.value() == "ab"
    string.feed('c"')
    assert string.done and string.close() == "abc"


def test_trailing_commas_are_accepted() -> None:
    parser = JsonStream()
    for piece in ['{"a": [1, 2,', "],", "}"]:
        parser.feed(piece)
    assert parser.close() == {"a": [1, 2]}


def test_text_after_the_document_is_ignored() -> None:
    parser = JsonStream()
    parser.feed('{"a": 1}\n```\nThat is all')
    assert parser.close() == {"a": 1}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{'a': 1}", "expected a key"),
        ('{"a" 1}', "expected ':'"),
        ('{"a": 1 "b": 2}', "expected ','"),
        ('{"a": nope}', "unknown word"),
        ('{"a": 1.2.3}', "invalid number"),
        ('{"a": "\\x and \\n"}', "invalid string escape"),
        ("[1, }", "expected a value"),
    ],
)
def test_text_that_is_not_json_stops_the_parser(text: str, reason: str) -> None:
    parser = JsonStream()
    for ch in text:
        parser.feed(ch)
        parser.value()  # partial views never raise
    assert parser.error is not None and reason in parser.error
    assert parser.feed("more") is False
    with pytest.raises(ValueError, match=reason):
        parser.close()


def test_incomplete_document_does_not_close() -> None:
    parser = JsonStream()
    parser.feed('{"a": [1, 2')
    with pytest.raises(ValueError, match="incomplete"):
        parser.close()


# --------------------------------------------------------------------------- shapes


class Status(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Address(BaseModel):
    city: str
    zip: str | None = None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    bark: str


class Person(BaseModel):
    name: str
    age: int = Field(alias="years")
    status: Status
    role: Literal["admin", "user"]
    code: int | str
    address: Address | None = None
    pets: list[Cat | Dog] = []
    scores: dict[str, float] = {}
    born: dt.date | None = None


PERSON = {
    "name": "Ada Lovelace",
    "years": 36,
    "status": "closed",
    "role": "admin",
    "code": "X1",
    "address": {"city": "London", "zip": None},
    "pets": [{"kind": "dog", "bark": "woof"}, {"kind": "cat", "lives": 9}],
    "scores": {"math": 9.5},
    "born": "1815-12-10",
}


def _stream_values(shape: Any, text: str, size: int) -> tuple[list[Any], Any]:
    parser = JsonStream(shape)
    values = []
    for piece in pieces(text, size):
        if parser.feed(piece):
            values.append(parser.value())
    return values, parser.close()


def test_model_partials_are_partial_instances_with_typed_fields() -> None:
    values, final = _stream_values(shape_for(Person), json.dumps(PERSON), 3)
    partial_cls = partial_model(Person)
    assert partial_cls.__partial_of__ is Person  # type: ignore[attr-defined]
    assert all(type(v) is partial_cls for v in values)
    names = [v.name for v in values if v.name is not None]
    assert len(set(names)) > 3 and all("Ada Lovelace".startswith(n) for n in names)
    for v in values:
        assert v.status in (None, Status.CLOSED)  # never a half-written enum
        assert v.role in (None, "admin")  # never a half-written literal ("adm")
        assert v.age in (None, 36)  # read from the alias
        assert v.born in (None, dt.date(1815, 12, 10))  # converted once complete
    assert final.code == "X1" and final.scores == {"math": 9.5}
    assert type(final.address).__name__ == "PartialAddress" and final.address.city == "London"
    assert [type(p).__name__ for p in final.pets] == ["PartialDog", "PartialCat"]
    assert final.pets[0].kind == "dog" and final.pets[1].lives == 9
    assert final.model_dump()["address"] == {"city": "London", "zip": None}


def test_unions_pick_by_json_kind_and_tags() -> None:
    shape = shape_for(Person)
    parser = JsonStream(shape)
    parser.feed('{"code": 7, "pets": [{"kind": "cat", "li')
    value = parser.value()
    assert value.code == 7
    assert type(value.pets[0]).__name__ == "PartialCat" and value.pets[0].kind == "cat"


def test_literal_and_enum_values_not_allowed_show_as_none() -> None:
    parser = JsonStream(shape_for(Person))
    parser.feed('{"status": "pending", "role": "root", "born": "not a date",')
    value = parser.value()
    assert (value.status, value.role, value.born) == (None, None, None)


def test_typed_dict_and_plain_containers() -> None:
    class Point(TypedDict):
        x: int
        label: Literal["a", "b"]

    values, final = _stream_values(shape_for(list[Point]), '[{"x": 1, "label": "b"}]', 2)
    assert final == [{"x": 1, "label": "b"}]
    assert all(v == [] or v[0].get("label") in (None, "b") for v in values)


def test_recursive_model() -> None:
    class Node(BaseModel):
        name: str
        children: list[Node] = []

    Node.model_rebuild()
    _, final = _stream_values(shape_for(Node), '{"name": "a", "children": [{"name": "b"}]}', 4)
    assert final.children[0].name == "b"


class Item(BaseModel):
    name: str
    qty: int = Field(ge=0)


def test_validated_list_items_become_real_models_when_they_close() -> None:
    adapter = TypeAdapter(Item)
    shape = Unwrap(ValidatedList(shape_for(Item), adapter.validate_python))
    doc = {"value": [{"name": "a", "qty": 1}, {"name": "b", "qty": -1}, {"name": "c", "qty": 3}]}
    text = json.dumps(doc)
    parser = JsonStream(shape)
    kinds_seen = []
    for piece in pieces(text, 4):
        if parser.feed(piece) and parser.value() is not None:
            kinds = [type(v).__name__ for v in parser.value()]
            kinds_seen.append(kinds)
            # every item but the one being written is closed
            assert all(k in ("Item", "PartialItem") for k in kinds)
    assert ["Item", "PartialItem"] in kinds_seen  # item 0 validated while item 1 is written
    final = parser.close()
    assert final[0] == Item(name="a", qty=1)  # validated on close
    assert type(final[1]).__name__ == "PartialItem" and final[1].qty == -1  # invalid: stays partial
    assert isinstance(final[2], Item)


def test_build_from_parsed_data_matches_the_incremental_value() -> None:
    shape = shape_for(Person)
    incremental = _stream_values(shape, json.dumps(PERSON), 5)[1]
    assert build(shape, PERSON).model_dump() == incremental.model_dump()
    assert build(ANY, PERSON) == PERSON
