"""The sans-IO :class:`~extractkit.loop.Extraction` on its own: no server, no HTTP.

Responses are the SDK's own ``ChatCompletion`` objects, built from the same
payloads the scripted server sends, and handed straight to ``receive``.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, Field

from extractkit import ExtractionError, IncompleteOutputError, RefusalError
from extractkit.loop import Extraction
from extractkit.modes import build_plan
from extractkit.profiles import get_profile
from extractkit.retry import TransportRetry
from tests.scripted_server import choice, completion


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)


MESSAGES = [{"role": "system", "content": "extract"}, {"role": "user", "content": "Ada is 36."}]


def _response(content: str | None = None, **kwargs: Any) -> ChatCompletion:
    return ChatCompletion.model_validate_json(completion(content, **kwargs).body)


def _extraction(
    profile: str = "generic", mode: str = "json_schema", **kwargs: Any
) -> Extraction[Any]:
    plan = build_plan(Person, mode, get_profile(profile))
    return Extraction(plan, MESSAGES, model="m", **kwargs)


def test_a_valid_first_answer_is_a_result():
    ex = _extraction()
    request = ex.request()
    assert request["model"] == "m" and request["messages"] == MESSAGES
    assert request["response_format"]["type"] == "json_schema"
    result = ex.receive(_response('{"name": "Ada", "age": 36}', usage=(7, 3)))
    assert result is not None and result.value == Person(name="Ada", age=36)
    assert len(result.attempts) == 1 and result.attempts[0].ok
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 3)
    assert result.finish_reason == "stop" and result.transport_retries == 0


def test_a_reask_carries_only_the_last_failure_with_the_template_wording():
    ex = _extraction(max_retries=2)
    assert ex.receive(_response('{"name": "A", "age": -1}')) is None
    first = ex.request()["messages"]
    assert first[:2] == MESSAGES and len(first) == 4
    assert first[2] == {"role": "assistant", "content": '{"name": "A", "age": -1}'}
    feedback = first[3]["content"]
    assert feedback.startswith("Your answer was not valid:")  # prompts/reask.j2
    assert "age:" in feedback

    assert ex.receive(_response('{"name": "B"}')) is None
    second = ex.request()["messages"]
    assert len(second) == 4 and second[2]["content"] == '{"name": "B"}'
    assert "age" in second[3]["content"] and "-1" not in second[3]["content"]
    assert ex.reasks_left == 0

    with pytest.raises(ExtractionError) as info:
        ex.receive(_response('{"name": "C"}'))
    assert len(info.value.attempts) == 3
    assert ex.request()["messages"] == second  # a failed extraction asks nothing new


def test_usage_adds_up_over_attempts():
    ex = _extraction()
    ex.receive(_response('{"name": "A"}', usage=(10, 2)))
    result = ex.receive(_response('{"name": "A", "age": 1}', usage=(12, 3)))
    assert result is not None
    assert result.usage.prompt_tokens == 22 and result.usage.total_tokens == 27


def test_refusal_of_every_choice_raises():
    ex = _extraction()
    with pytest.raises(RefusalError) as info:
        ex.receive(_response(None, refusal="I can't help with that."))
    assert info.value.refusal == "I can't help with that."
    assert info.value.attempts[0].refusal == "I can't help with that."


def test_length_policy_comes_from_the_profile():
    remote = _extraction("generic")
    with pytest.raises(IncompleteOutputError) as info:
        remote.receive(_response('{"name": "Ad', finish_reason="length"))
    assert info.value.response is not None

    local = _extraction("local", mode="json_object")
    assert local.receive(_response('{"name": "Ad', finish_reason="length")) is None
    errors = local.attempts[0].errors
    assert errors[0] == "(root): the answer was cut off at the token limit"
    assert "cut off" in local.request()["messages"][-1]["content"]


def test_n_choices_first_valid_wins_and_reasks_use_a_real_answer():
    ex = _extraction()
    both = _response(choices=['{"name": "A"}', '{"name": "B", "age": 2}'])
    result = ex.receive(both)
    assert result is not None and result.value.name == "B" and len(result.attempts) == 2

    ex = _extraction()
    mixed = _response(choices=[choice(None, refusal="no"), '{"name": "C"}'])
    assert ex.receive(mixed) is None
    assert ex.request()["messages"][2]["content"] == '{"name": "C"}'


def test_no_choices_is_a_failed_attempt_then_an_error():
    ex = _extraction(max_retries=1)
    empty = _response('{"name": "A", "age": 1}')
    empty.choices = []
    assert ex.receive(empty) is None
    assert ex.attempts[0].errors == ["(response): the endpoint returned no choices"]
    tail = ex.request()["messages"][len(MESSAGES):]
    assert tail[0] == {"role": "assistant", "content": ""}  # nothing to quote back
    assert "no choices" in tail[1]["content"]

    with pytest.raises(ExtractionError, match="no choices"):
        ex.receive(empty)


def test_the_transport_budget_travels_with_the_extraction():
    ex = _extraction(transport=TransportRetry.with_retries(1))
    dropped = openai.APIConnectionError(
        request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    )
    assert ex.transport.delay_for(dropped) is not None
    assert ex.transport.delay_for(dropped) is None  # one retry allowed
    result = ex.receive(_response('{"name": "A", "age": 1}'))
    assert result is not None and result.transport_retries == 1


def test_a_custom_feedback_function_is_used():
    ex = _extraction(feedback=lambda errors, attempt: f"fix {len(errors)} error(s)")
    ex.receive(_response('{"name": "A"}'))
    assert ex.request()["messages"][-1] == {"role": "user", "content": "fix 1 error(s)"}
