"""Schema-aligned coercion: each class, what is never coerced, and the hook in the loop
(real openai SDK over HTTP to the scripted server, the CLI's -v and --no-coerce)."""

from __future__ import annotations

import io
import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from extractkit import ExtractionError, Extractor, extract
from extractkit.cli import main
from extractkit.coerce import coerce_reply
from extractkit.schema import get_source
from tests.scripted_server import completion


class Person(BaseModel):
    name: str
    age: int | None = Field(default=None, ge=0)
    city: str | None = None


class LineItem(BaseModel):
    description: str
    unit_price: float


class Order(BaseModel):
    items: list[LineItem]
    note: str | None = None


class Verdict(BaseModel):
    label: Literal["Positive", "Negative"]
    score: float


class StrictCount(BaseModel):
    model_config = ConfigDict(strict=True)
    count: int
    ok: bool = False


DOC = {
    "type": "object",
    "properties": {
        "n": {"type": "number"},
        "k": {"type": "integer"},
        "b": {"type": "boolean"},
        "z": {"type": ["string", "null"]},
        "y": {"type": ["integer", "null"]},
    },
    "required": ["n"],
    "additionalProperties": False,
}


def coerce(spec: Any, data: Any, raw: str = "") -> Any:
    source = get_source(spec)
    return coerce_reply(raw or json.dumps(data), data, source, lambda d: source.validate(d, None))


# -- each class ---------------------------------------------------------------------------


def test_keys_in_another_case_or_spelling_are_matched_and_noted():
    got = coerce(Order, {"Items": [{"Description": "Hammer", "Unit Price": 12.5}]})
    assert got.ok
    assert got.value == Order(items=[LineItem(description="Hammer", unit_price=12.5)])
    assert "coerce /Items -> /items" in got.notes
    assert "coerce /items/0/Unit Price -> /items/0/unit_price" in got.notes
    for variant in ("unitPrice", "UNIT_PRICE", "unit-price", "unit price"):
        assert coerce(LineItem, {"description": "x", variant: 1.5}).value.unit_price == 1.5


def test_two_keys_for_one_field_are_not_guessed():
    got = coerce(Person, {"Name": "Ada", "NAME": "Bob"})
    assert not got.ok
    assert "two keys" in (got.rejected or "")


def test_ambiguous_key_is_left_as_written():
    doc = {"type": "object", "properties": {"user_id": {"type": "string"},
                                            "userid": {"type": "string"}},
           "required": ["user_id"], "additionalProperties": False}
    assert not coerce(doc, {"User-Id": "7"}).ok


def test_bare_list_goes_to_the_one_list_field():
    got = coerce(Order, [{"description": "Hammer", "unit_price": 1}])
    assert got.ok and got.value.items[0].description == "Hammer"
    assert got.notes[0] == "coerce (root): bare list -> /items"


def test_no_bare_list_wrapping_when_another_field_is_required():
    class Two(BaseModel):
        items: list[str]
        owner: str

    assert not coerce(Two, ["a"]).ok


def test_single_object_becomes_a_one_item_list():
    got = coerce(list[LineItem], {"description": "Hammer", "unit_price": 1})
    assert got.ok and got.value == [LineItem(description="Hammer", unit_price=1)]
    got = coerce(Order, {"items": {"description": "Hammer", "unit_price": 1}})
    assert got.ok and len(got.value.items) == 1
    assert "coerce /items: object -> one-item list" in got.notes


def test_list_in_an_object_where_a_list_is_expected_is_unwrapped():
    got = coerce(list[LineItem], {"line_items": [{"description": "a", "unit_price": 2}]})
    assert got.ok and got.value == [LineItem(description="a", unit_price=2)]


def test_simple_return_types_wrap_and_unwrap_value():
    assert coerce(int, 4).value == 4  # bare value for the {"value": ...} wrapper
    assert coerce(int, "4").value == 4
    assert coerce(int, {"value": {"value": 5}}).value == 5
    assert coerce(list[str], ["a", "b"]).value == ["a", "b"]


def test_strings_that_are_literals_become_numbers_booleans_and_null():
    got = coerce(DOC, {"n": "0.1", "k": "4.0", "b": "true", "y": "null"})
    assert got.ok
    assert got.value == {"n": 0.1, "k": 4, "b": True, "y": None}
    assert "coerce /k: '4.0' -> 4" in got.notes
    assert type(got.value["k"]) is int


@pytest.mark.parametrize("bad", [
    {"n": 1, "k": "4.5"},                       # lossy for an integer
    {"n": "0.12345678901234567890"},            # a float cannot hold what was written
    {"n": "1,5"},                               # not a literal
    {"n": "04"},                                # not a JSON literal
    {"n": "NaN"},
    {"n": 1, "b": "yes"},
    {"n": 1, "z": 5},                           # numbers are never turned into strings
])
def test_what_is_not_a_whole_literal_is_never_coerced(bad):
    assert not coerce(DOC, bad).ok


def test_null_string_stays_a_string_where_strings_are_allowed():
    # "null" is a valid string here: the answer validates, nothing to coerce
    assert get_source(DOC).validate({"n": 1, "z": "null"}, None) == {"n": 1, "z": "null"}
    got = coerce(DOC, {"n": "1", "z": "null"})
    assert got.ok and got.value == {"n": 1, "z": "null"}


def test_strict_pydantic_models_get_literal_scalars():
    got = coerce(StrictCount, {"count": "3", "ok": "false"})
    assert got.ok and got.value == StrictCount(count=3, ok=False)


def test_enum_values_match_case_insensitively_when_unique():
    got = coerce(Verdict, {"label": "positive", "score": 0.9})
    assert got.ok and got.value.label == "Positive"
    assert "coerce /label: 'positive' -> 'Positive'" in got.notes
    assert not coerce(Verdict, {"label": "good", "score": 0.9}).ok
    doc = {"type": "object", "properties": {"c": {"enum": ["eur", "EUR"]}}, "required": ["c"]}
    assert not coerce(doc, {"c": "Eur"}).ok  # two case-insensitive matches


def test_the_one_document_that_validates_is_taken():
    raw = 'Schema: {"type": "object"} Answer: {"name": "Ada", "age": 36}'
    got = coerce(Person, {"type": "object"}, raw)
    assert got.ok and got.value == Person(name="Ada", age=36)
    assert got.notes[0] == "coerce (root): took JSON document 2 of 2 in the reply"


def test_documents_validating_to_different_values_are_rejected():
    raw = '{"name": "Ada", "age": 36} or {"name": "Ada", "age": 63}'
    got = coerce(Person, {"name": "Ada", "age": 36}, raw)
    assert not got.ok and "different values" in (got.rejected or "")


def test_identical_documents_are_one_answer():
    raw = '{"name": "Ada", "age": "36"}\nAgain: {"name": "Ada", "age": 36}'
    got = coerce(Person, {"name": "Ada", "age": "36"}, raw)
    assert got.ok and got.value == Person(name="Ada", age=36)


def test_union_string_is_never_turned_into_a_number():
    doc = {"type": "object", "properties": {"v": {"type": ["integer", "string"]}},
           "required": ["v"], "additionalProperties": False}
    got = coerce(doc, {"V": "4"})
    assert got.ok and got.value == {"v": "4"}


def test_union_of_two_readings_is_a_guess():
    doc = {"type": "object", "properties": {"v": {"anyOf": [{"type": "integer"},
                                                            {"type": "number"}]}},
           "required": ["v"]}
    # "4" reads as 4 for both branches: one value, accepted
    assert coerce(doc, {"v": "4"}).value == {"v": 4}


# -- in the loop, over HTTP -----------------------------------------------------------------


def test_coerced_answer_needs_no_second_call_and_is_recorded(server, client):
    server.push(completion('{"Name": "Ada", "AGE": "36"}'))
    result = Extractor(client, model="m").extract_result(Person, "Ada is 36.")
    assert result.value == Person(name="Ada", age=36)
    assert len(server.bodies()) == 1
    assert result.coercions == ("coerce /Name -> /name", "coerce /AGE -> /age",
                                "coerce /age: '36' -> 36")
    assert result.attempts[0].repairs == result.coercions


def test_valid_answer_takes_the_fast_path_untouched(server, client):
    server.push(completion('{"name": "Ada", "age": 36}'))
    result = Extractor(client, model="m").extract_result(Person, "Ada")
    assert result.coercions == () and result.attempts[0].repairs == ()


def test_coerce_false_reasks_instead(server, client):
    server.push(completion('{"Name": "Ada"}'), completion('{"name": "Ada"}'))
    result = Extractor(client, model="m", coerce=False).extract_result(Person, "Ada")
    assert len(result.attempts) == 2 and result.coercions == ()
    assert len(server.bodies()) == 2


def test_decorator_takes_coerce_false(server, client):
    @extract(client=client, model="m", coerce=False, max_retries=0)
    def person(text: str) -> Person:
        """{{ text }}"""

    server.push(completion('{"Name": "Ada"}'))
    with pytest.raises(ExtractionError):
        person("Ada")


def test_ambiguous_documents_go_back_to_the_model(server, client):
    server.push(
        completion('Either {"name": "Ada", "age": 36} or {"name": "Ada", "age": 63}'),
        completion('{"name": "Ada", "age": 36}'),
    )
    result = Extractor(client, model="m", mode="md_json").extract_result(Person, "Ada")
    assert len(result.attempts) == 2
    assert result.attempts[0].value is None
    assert result.attempts[0].errors == [
        "(root): not accepted: 2 readings of the reply validate to different values; "
        "not choosing one"]
    feedback = server.bodies()[1]["messages"][-1]["content"]
    assert "different values" in feedback


def test_coercion_through_the_strict_wire_shape(server, client):
    # openai profile: the strict target makes optional fields required-nullable on the wire
    server.push(completion('{"Name": "Ada", "age": "36", "city": null}'))
    result = Extractor(client, model="m").extract_result(Person, "Ada")
    assert result.value == Person(name="Ada", age=36)
    assert "coerce /Name -> /name" in result.coercions


def test_an_answer_that_validates_is_never_changed(server, client):
    # pydantic ignores the unknown key "Age": the answer is valid as written, so it is kept
    server.push(completion('{"name": "Ada", "Age": 36}'))
    result = Extractor(client, model="m").extract_result(Person, "Ada")
    assert result.value == Person(name="Ada") and result.coercions == ()


def test_coercion_rejected_when_the_coerced_answer_still_fails(server, client):
    server.push(completion('{"Name": "Ada", "age": "-3"}'), completion('{"name": "Ada"}'))
    result = Extractor(client, model="m").extract_result(Person, "Ada")
    assert len(result.attempts) == 2
    assert any(e.startswith("name") or "age" in e for e in result.attempts[0].errors)


# -- CLI ------------------------------------------------------------------------------------


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture
def remote(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-coerce")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    schema = tmp_path / "p.py"
    schema.write_text("from pydantic import BaseModel\n\n"
                      "class P(BaseModel):\n    name: str\n    age: int\n")
    doc = tmp_path / "a.txt"
    doc.write_text("Ada is 36")
    return server, str(schema), str(doc)


def test_cli_verbose_shows_each_coercion(remote):
    server, schema, doc = remote
    server.push(completion('{"NAME": "Ada", "age": 36}'))
    code, out, err = _cli("run", schema, doc, "-v")
    assert code == 0, err
    assert json.loads(out) == {"name": "Ada", "age": 36}
    assert "coerce /NAME -> /name" in err


def test_cli_no_coerce_is_strict(remote):
    server, schema, doc = remote
    server.push(completion('{"NAME": "Ada", "age": 36}'))
    code, _out, _err = _cli("run", schema, doc, "--no-coerce", "--max-retries", "0")
    assert code != 0
    assert len(server.bodies()) == 1


def test_json_in_a_code_block_of_another_language_is_not_an_answer():
    raw = ('```json\n{"data": 1}\n```\nIn Python:\n```python\n'
           'df = pd.DataFrame({"name": "Ada", "age": 36})\n```')
    assert not coerce(Person, {"data": 1}, raw).ok
    raw = 'Here: {"data": 1}\nor rather {"name": "Ada", "age": 36}'
    assert coerce(Person, {"data": 1}, raw).ok


def test_object_holding_a_list_for_a_list_of_anything_is_a_guess():
    doc = {"type": "array"}  # items unconstrained: [1] and [{"x": [1]}] would both validate
    got = coerce(doc, {"value": {"x": [1]}})
    assert not got.ok and "the list or its one item" in (got.rejected or "")
    assert coerce(list[int], {"numbers": [1, 2]}).value == [1, 2]


def test_a_guess_in_one_document_blocks_the_others():
    raw = '{"Name": "Ada", "NAME": "Bob"} or {"name": "Cy"}'
    got = coerce(Person, {"Name": "Ada", "NAME": "Bob"}, raw)
    assert not got.ok and "two keys" in (got.rejected or "")


def test_cli_verbose_shows_coercions_over_several_inputs(remote, tmp_path):
    server, schema, doc = remote
    other = tmp_path / "b.txt"
    other.write_text("Bo is 7")
    server.push(completion('{"NAME": "Ada", "age": 36}'), completion('{"name": "Bo", "age": "7"}'))
    code, out, err = _cli("run", schema, doc, str(other), "-v")
    assert code == 0, err
    values = sorted(json.loads(line)["value"]["name"] for line in out.splitlines())
    assert values == ["Ada", "Bo"]
    assert "coerce /NAME -> /name" in err


def test_names_win_over_titles_and_model_titles_do_not_count():
    class Address(BaseModel):
        city: str

    class Shipment(BaseModel):
        address: Address
        shipping: Address
        unit_price: float = Field(title="Price Per Unit")

    got = coerce(Shipment, {"Address": {"city": "A"}, "shipping": {"city": "B"},
                            "price per unit": 2})
    assert got.ok and got.value.address.city == "A" and got.value.unit_price == 2
