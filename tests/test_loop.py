"""The validate–repair–re-ask loop, through the real openai SDK over HTTP to a scripted server."""

from __future__ import annotations

import json
from enum import Enum
from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field

from extractkit import (
    AsyncExtractor,
    ConfigurationError,
    ExtractionError,
    Extractor,
    IncompleteOutputError,
    RefusalError,
)
from tests.scripted_server import choice, completion, error


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)
    nickname: str | None = None


class Color(Enum):
    RED = "red"
    BLUE = "blue"


def test_valid_first_time_returns_typed_value(server, client):
    server.push(completion('{"name": "Ada", "age": 36}'))
    person = Extractor(client, model="m").extract(Person, "Ada is 36.")
    assert person == Person(name="Ada", age=36)
    body = server.bodies()[0]
    assert body["model"] == "m"
    assert body["response_format"]["type"] == "json_schema"
    assert body["messages"][-1] == {"role": "user", "content": "Ada is 36."}


def test_invalid_then_valid_reasks_with_field_errors(server, client):
    server.push(
        completion('{"name": "Ada", "age": -3}', usage=(10, 5)),
        completion('{"name": "Ada", "age": 36}', usage=(20, 6)),
    )
    result = Extractor(client, model="m").extract_result(Person, "Ada is 36.")
    assert result.value.age == 36
    assert len(result.attempts) == 2
    assert result.attempts[0].errors and result.attempts[0].errors[0].startswith("age:")
    assert result.usage.prompt_tokens == 30 and result.usage.completion_tokens == 11
    second = server.bodies()[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": '{"name": "Ada", "age": -3}'}
    assert second[-1]["role"] == "user" and "age:" in second[-1]["content"]


def test_repairable_output_is_fixed_locally_without_a_second_call(server, client):
    server.push(completion('Sure!\n```json\n{"name": "Ada", "age": 36,}\n```'))
    result = Extractor(client, model="m", mode="md_json").extract_result(Person, "Ada is 36.")
    assert result.value == Person(name="Ada", age=36)
    assert len(server.bodies()) == 1
    assert result.attempts[0].repairs  # what was repaired is recorded


def test_retries_exhausted_raises_with_every_attempt(server, client):
    for _ in range(3):
        server.push(completion('{"name": "Ada"}'))
    with pytest.raises(ExtractionError) as info:
        Extractor(client, model="m", max_retries=2).extract(Person, "Ada")
    assert len(info.value.attempts) == 3
    assert all("age" in a.errors[0] for a in info.value.attempts)
    assert len(server.bodies()) == 3


def test_reask_carries_only_the_last_failed_attempt(server, client):
    server.push(
        completion('{"name": "A"}'),
        completion('{"name": "B"}'),
        completion('{"name": "C", "age": 1}'),
    )
    Extractor(client, model="m", max_retries=2).extract(Person, "x")
    sizes = [len(body["messages"]) for body in server.bodies()]
    assert sizes == [2, 4, 4]
    assert server.bodies()[2]["messages"][2]["content"] == '{"name": "B"}'


def test_length_raises_incomplete_without_reask(server, client):
    server.push(completion('{"name": "Ad', finish_reason="length"))
    with pytest.raises(IncompleteOutputError) as info:
        Extractor(client, model="m").extract(Person, "x")
    assert info.value.response is not None
    assert len(server.bodies()) == 1


def test_refusal_raises(server, client):
    server.push(completion(None, refusal="I can't help with that."))
    with pytest.raises(RefusalError) as info:
        Extractor(client, model="m").extract(Person, "x")
    assert info.value.refusal == "I can't help with that."
    assert len(server.bodies()) == 1


def test_429_then_success_honours_retry_after(server, client):
    server.push(
        error(429, "slow down", headers={"retry-after": "0"}),
        completion('{"name": "Ada", "age": 1}'),
    )
    result = Extractor(client, model="m").extract_result(Person, "x")
    assert result.value.name == "Ada"
    assert result.transport_retries == 1
    assert len(result.attempts) == 1  # transport retries are not validation attempts


def test_500_then_success(server, client):
    server.push(
        error(500, "boom", headers={"retry-after-ms": "1"}), completion('{"name": "Ada", "age": 1}')
    )
    assert Extractor(client, model="m").extract(Person, "x").age == 1


def test_400_surfaces_at_once_with_the_endpoint_message(server, client):
    server.push(error(400, "model xyz does not exist"))
    with pytest.raises(openai.BadRequestError, match="model xyz does not exist"):
        Extractor(client, model="m").extract(Person, "x")
    assert len(server.bodies()) == 1


def test_n_greater_than_one_returns_first_valid_choice(server, client):
    server.push(
        completion(choices=['{"name": "A"}', '{"name": "B", "age": 2}', '{"name": "C", "age": 3}'])
    )
    result = Extractor(client, model="m", n=3).extract_result(Person, "x")
    assert result.value.name == "B"
    assert len(server.bodies()) == 1 and server.bodies()[0]["n"] == 3


def test_tools_mode_sends_forced_tool_and_reasks_with_tool_message(server, client):
    server.push(
        completion(tool_args='{"name": "Ada", "age": "old"}', tool_name="Person"),
        completion(tool_args='{"name": "Ada", "age": 36}', tool_name="Person"),
    )
    person = Extractor(client, model="m", mode="tools").extract(Person, "Ada is 36")
    assert person.age == 36
    first, second = server.bodies()
    assert first["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert first["tools"][0]["function"]["parameters"]["properties"]["age"]["type"] == "integer"
    call = second["messages"][-2]["tool_calls"][0]
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["tool_call_id"] == call["id"]
    assert "age:" in second["messages"][-1]["content"]


def test_generation_parameters_pass_through(server, client):
    server.push(completion('{"name": "A", "age": 1}'))
    Extractor(
        client,
        model="m",
        temperature=0.2,
        seed=7,
        top_p=0.9,
        stop=["###"],
        max_tokens=99,
        extra_body={"custom": 1},
    ).extract(Person, "x")
    body = server.bodies()[0]
    assert (body["temperature"], body["seed"], body["top_p"], body["stop"]) == (
        0.2,
        7,
        0.9,
        ["###"],
    )
    assert body["max_tokens"] == 99 and body["custom"] == 1


def test_openai_profile_sends_strict_schema_and_restores_defaults(server, client):
    server.push(completion('{"name": "Ada", "age": 36, "nickname": null}'))
    ex = Extractor(client, model="m", endpoint="openai", max_tokens=50)
    person = ex.extract(Person, "x")
    assert person == Person(name="Ada", age=36)
    body = server.bodies()[0]
    fmt = body["response_format"]["json_schema"]
    assert fmt["strict"] is True
    assert fmt["schema"]["additionalProperties"] is False
    assert sorted(fmt["schema"]["required"]) == ["age", "name", "nickname"]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_simple_return_types_are_wrapped_and_unwrapped(server, client):
    ex = Extractor(client, model="m")
    server.push(completion('{"value": ["a", "b"]}'))
    assert ex.extract(list[str], "x") == ["a", "b"]
    server.push(completion('{"value": "blue"}'))
    assert ex.extract(Color, "x") is Color.BLUE
    server.push(completion('{"value": 3}'))
    assert ex.extract(Literal[1, 2, 3], "x") == 3
    server.push(completion('{"value": null}'))
    assert ex.extract(int | None, "x") is None
    wire = server.bodies()[0]["response_format"]["json_schema"]["schema"]
    assert wire["required"] == ["value"]


def test_json_schema_document_validated_with_jsonschema(server, client):
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "required": ["sku"],
    }
    server.push(completion('{"sku": "abc"}'), completion('{"sku": "ABC"}'))
    result = Extractor(client, model="m").extract_result(schema, "x")
    assert result.value == {"sku": "ABC"}
    assert (
        "sku" in result.attempts[0].errors[0] and "does not match" in result.attempts[0].errors[0]
    )


def test_validation_context_reaches_validators(server, client):
    from pydantic import ValidationInfo, field_validator

    class Quote(BaseModel):
        quote: str

        @field_validator("quote")
        @classmethod
        def must_be_in_source(cls, v: str, info: ValidationInfo) -> str:
            if v not in info.context["text"]:
                raise ValueError("quote not found in the source text")
            return v

    server.push(completion('{"quote": "made up"}'), completion('{"quote": "to be"}'))
    result = Extractor(client, model="m").extract_result(Quote, "to be or not to be")
    assert result.value.quote == "to be"
    assert "quote not found" in result.attempts[0].errors[0]


def test_unsupported_mode_for_profile_is_an_error_not_a_downgrade(server, client):
    ex = Extractor(client, model="m", endpoint="llamacpp", mode="json_schema")
    with pytest.raises(ConfigurationError, match="does not support mode 'json_schema'"):
        ex.extract(Person, "x")
    assert server.bodies() == []


def test_auto_mode_follows_the_profile(server, client):
    server.push(completion('{"name": "A", "age": 1}'))
    Extractor(client, model="m", endpoint="llamacpp").extract(Person, "x")
    fmt = server.bodies()[0]["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["properties"]["age"]["type"] == "integer"
    assert "JSON" in server.bodies()[0]["messages"][0]["content"]


def test_messages_input_is_used_verbatim_with_system_added(server, client):
    server.push(completion('{"name": "A", "age": 1}'))
    Extractor(client, model="m").extract(Person, [{"role": "user", "content": "A is 1"}])
    messages = server.bodies()[0]["messages"]
    assert messages[0]["role"] == "system" and messages[1] == {"role": "user", "content": "A is 1"}


def test_no_choices_is_reasked_not_none(server, client):
    server.push(completion(choices=[]), completion('{"name": "A", "age": 1}'))
    assert Extractor(client, model="m").extract(Person, "x").name == "A"


def test_refusal_in_one_choice_and_valid_other(server, client):
    server.push(completion(choices=[choice(None, refusal="no"), '{"name": "A", "age": 1}']))
    assert Extractor(client, model="m", n=2).extract(Person, "x").name == "A"


async def test_async_twin_runs_the_same_loop(server, aclient):
    server.push(completion('{"name": "Ada"}'), completion('{"name": "Ada", "age": 36}'))
    result = await AsyncExtractor(aclient, model="m").extract_result(Person, "x")
    assert result.value.age == 36 and len(result.attempts) == 2


async def test_async_429_then_success(server, aclient):
    server.push(
        error(429, "slow", headers={"retry-after": "0"}), completion('{"name": "A", "age": 2}')
    )
    assert (await AsyncExtractor(aclient, model="m").extract(Person, "x")).age == 2


def test_wrong_client_kind_is_a_configuration_error(aclient):
    with pytest.raises(ConfigurationError, match=r"needs an openai\.OpenAI client"):
        Extractor(aclient, model="m").extract(Person, "x")


def test_attempt_data_is_available_after_the_fast_path(server, client):
    server.push(completion('{"name": "A", "age": 1}'))
    result = Extractor(client, model="m").extract_result(Person, "x")
    assert result.attempts[0].data == {"name": "A", "age": 1}
    assert json.loads(result.raw) == {"name": "A", "age": 1}
