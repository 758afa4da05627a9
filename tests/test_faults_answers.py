"""Answers the loop must never accept: unreadable tool calls, filtered or cut-off answers.

Each case goes through the real openai SDK over HTTP to the scripted server:
a call to another function, several calls in one answer, and arguments that
are not a JSON string are invalid answers (re-asked with the reason), never a
silent success and never a raw AttributeError.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from extractkit import ExtractionError, Extractor
from tests.scripted_server import completion, json_reply


class Person(BaseModel):
    name: str
    age: int


GOOD = json.dumps({"name": "Ada", "age": 36})


def _calls(*calls: tuple[str, Any]) -> Any:
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(calls)
    ]
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    return json_reply({
        "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    })


def _extract(client: Any, retries: int = 1) -> Any:
    return Extractor(client, model="m", mode="tools", max_retries=retries).extract_result(
        Person, "Ada is 36")


def test_a_call_to_another_function_is_reasked(server, client):
    server.push(_calls(("get_weather", GOOD)))
    server.push(completion(tool_args=GOOD, tool_name="Person"))
    result = _extract(client)
    assert result.value == Person(name="Ada", age=36)
    assert result.attempts[0].errors == [
        "(response): the model called 'get_weather'; the tool to call is 'Person'"]
    reask = server.bodies()[1]["messages"]
    assert reask[-1]["role"] == "tool" and "get_weather" in reask[-1]["content"]


def test_several_calls_in_one_answer_are_reported(server, client):
    server.push(_calls(("Person", GOOD), ("Person", json.dumps({"name": "Bo", "age": 1}))))
    with pytest.raises(ExtractionError, match="2 tool calls"):
        _extract(client, retries=0)


def test_arguments_that_are_not_a_string_are_an_extractkit_error(server, client):
    server.push(_calls(("Person", {"name": "Ada", "age": 36})))
    with pytest.raises(ExtractionError, match="not a JSON string"):
        _extract(client, retries=0)


def test_one_call_to_the_right_tool_still_works(server, client):
    server.push(completion(tool_args=GOOD, tool_name="Person"))
    assert _extract(client).value.age == 36


# -- finish reasons: the same rules on every path ----------------------------------


def test_content_filter_with_a_repairable_answer_is_an_error_not_a_success(server, client):
    from extractkit import ContentFilterError

    server.push(completion('{"name": "Ada", "age": 3', finish_reason="content_filter"))
    with pytest.raises(ContentFilterError) as info:
        Extractor(client, model="m").extract(Person, "Ada is 36")
    assert info.value.response is not None
    assert info.value.attempts[0].raw == '{"name": "Ada", "age": 3'


@pytest.mark.parametrize("endpoint", ["generic", "openai"])
def test_a_valid_answer_cut_at_the_token_limit_is_never_accepted(server, client, endpoint):
    from extractkit import IncompleteOutputError

    # valid JSON as it stands: the fast path (generic) and the decode path (openai strict)
    server.push(completion(GOOD, finish_reason="length"))
    with pytest.raises(IncompleteOutputError):
        Extractor(client, model="m", endpoint=endpoint).extract(Person, "Ada is 36")
