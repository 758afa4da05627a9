"""Conversations as input: messages= on the function API, @extract parameters typed
Messages, JSON Lines lines with "messages" on the CLI; checks, the token budget
(newest turns kept, what was dropped said), and grounding in the conversation."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from extractkit import AsyncExtractor, Extractor, InputError, Messages, extract
from extractkit.conversation import (
    MESSAGE_OVERHEAD_TOKENS,
    check_messages,
    conversation_text,
    fit_turns,
)
from extractkit.documents.tokens import estimate_tokens
from extractkit.testing import TestModel
from tests.cli_runner import run_cli
from tests.scripted_server import ScriptedServer, completion, stream


class Customer(BaseModel):
    name: str
    city: str


ANSWER = {"name": "Ada", "city": "Paris"}
CHAT = [
    {"role": "user", "content": "Hello, I have a question about my order."},
    {"role": "assistant", "content": "Sure. What is your name?"},
    {"role": "user", "content": "Ada, and I live in Paris."},
]


def _sys(n: int = 1) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "s"}] * n


# -- the checks ----------------------------------------------------------------


@pytest.mark.parametrize(("messages", "message"), [
    ("just text", "must be a list"),
    ([], "is empty"),
    ([{"role": "user", "content": "x"}, "hi"], r"messages\[1\]: a message is an object"),
    ([{"role": "bot", "content": "x"}], r"messages\[0\]: role 'bot' is not one of"),
    ([{"role": "user"}], r"messages\[0\]: the user message has no 'content'"),
    ([{"role": "user", "content": 3}], r"messages\[0\]: 'content' must be a string"),
    ([{"role": "user", "content": [{"text": "x"}]}], "content part 0 needs a 'type'"),
    ([{"role": "system", "content": "only instructions"}], "no user, assistant or tool"),
])
def test_bad_messages_name_the_message(messages: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_messages(messages)


def test_good_messages_pass_as_copies() -> None:
    given = [{"role": "system", "content": "be brief"},
             {"role": "user", "content": [{"type": "text", "text": "hi"}]},
             {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
             {"role": "tool", "content": "42", "tool_call_id": "1"}]
    checked = check_messages(given)
    assert checked == given and checked[0] is not given[0]
    assert conversation_text(checked) == "hi\n\n42"  # the system prompt is not the source


# -- the budget ------------------------------------------------------------------


def _cost(text: str) -> int:
    return estimate_tokens(text) + MESSAGE_OVERHEAD_TOKENS


def test_fit_keeps_the_newest_turns_and_every_system_message() -> None:
    turns = [{"role": "user", "content": "a" * 400},       # 100 tokens
             {"role": "system", "content": "rule"},        # always kept
             {"role": "assistant", "content": "b" * 40},   # 10
             {"role": "user", "content": "c" * 40}]        # 10
    head, tail = _sys(), [{"role": "user", "content": "go"}]
    fixed = sum(_cost(m["content"]) for m in (*head, *tail, turns[1]))
    fitted = fit_turns(head, turns, tail, budget=fixed + 2 * _cost("b" * 40),
                       count=estimate_tokens)
    assert fitted.dropped == (0,)
    assert fitted.messages == [*head, *turns[1:], *tail]
    everything = fit_turns(head, turns, tail, budget=10_000, count=estimate_tokens)
    assert everything.dropped == () and len(everything.messages) == 6
    unknown = fit_turns(head, turns, tail, budget=None, count=estimate_tokens)
    assert unknown.dropped == ()


def test_fit_never_keeps_an_older_turn_after_a_dropped_one() -> None:
    turns = [{"role": "user", "content": "x"},          # small, but older than the big one
             {"role": "user", "content": "y" * 800},
             {"role": "user", "content": "z"}]
    fitted = fit_turns([], turns, [], budget=_cost("z") + _cost("x") + 1, count=estimate_tokens)
    assert fitted.dropped == (0, 1)


def test_fit_drops_a_tool_answer_whose_call_was_dropped() -> None:
    turns = [{"role": "assistant", "content": "c" * 400, "tool_calls": [{"id": "1"}]},
             {"role": "tool", "content": "42", "tool_call_id": "1"},
             {"role": "user", "content": "thanks"}]
    budget = _cost("42") + _cost("thanks")
    assert fit_turns([], turns, [], budget=budget, count=estimate_tokens).dropped == (0, 1)


def test_fit_refuses_when_the_newest_turn_alone_does_not_fit() -> None:
    turns = [{"role": "user", "content": "w" * 4000}]
    with pytest.raises(InputError, match=r"messages\[0\]: the newest turn \(1004 tokens\)"):
        fit_turns(_sys(), turns, [], budget=100, count=estimate_tokens)


def test_fit_is_linear_in_turns() -> None:
    calls = []

    def count(text: str) -> int:
        calls.append(text)
        return 1

    turns = [{"role": "user", "content": str(i)} for i in range(5000)]
    fitted = fit_turns([], turns, [], budget=1000, count=count)
    assert len(fitted.dropped) == 5000 - 200  # 5 tokens per turn
    assert len(calls) <= len(turns) + 1  # each turn counted once at most


# -- the function API over loopback -----------------------------------------------


def test_messages_go_out_after_the_system_prompt(server: ScriptedServer,
                                                 client: openai.OpenAI) -> None:
    server.push(completion(json.dumps(ANSWER)))
    result = Extractor(client, model="m").extract_result(Customer, messages=CHAT)
    assert result.value == Customer(**ANSWER) and result.dropped_turns == ()
    sent = server.bodies()[0]["messages"]
    assert sent[0]["role"] == "system" and sent[1:] == CHAT
    # grounded in the turns' text: "Paris" is found in the third turn
    [span] = result.grounding.leaves["/city"].spans  # type: ignore[union-attr]
    assert span.source == "conversation"
    assert conversation_text(CHAT)[span.start:span.end] == "Paris"


def test_long_history_is_cut_to_the_context_window(server: ScriptedServer,
                                                   client: openai.OpenAI,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    old = [{"role": "user", "content": "filler " * 400},
           {"role": "assistant", "content": "noted " * 400}]
    server.push(completion(json.dumps(ANSWER)))
    ex = Extractor(client, model="m", context_window=1000)
    with caplog.at_level(logging.WARNING, logger="extractkit"):
        result = ex.extract_result(Customer, messages=[*old, *CHAT])
    assert result.dropped_turns == (0, 1)
    assert server.bodies()[0]["messages"][1:] == CHAT
    assert "2 of 5 message(s) dropped" in caplog.text and "indexes 0-1" in caplog.text


def test_text_and_messages_exclude_each_other(client: openai.OpenAI) -> None:
    ex = Extractor(client, model="m")
    with pytest.raises(InputError, match="not both"):
        ex.render(Customer, "text", messages=CHAT)
    with pytest.raises(InputError, match="nothing to extract from"):
        ex.render(Customer)
    with pytest.raises(InputError, match=r"messages\[3\]: role"):
        ex.render(Customer, messages=[*CHAT, {"role": "robot", "content": "x"}])


def test_map_takes_conversations_and_fails_a_bad_one_alone(server: ScriptedServer,
                                                           client: openai.OpenAI) -> None:
    server.default = lambda body: completion(json.dumps(ANSWER))
    inputs = [{"messages": CHAT}, {"messages": [{"role": "user"}]}, "Ada from Paris"]
    items = list(Extractor(client, model="m").map(Customer, inputs, ordered=True))
    assert [i.ok for i in items] == [True, False, True]
    assert "messages[0]: the user message has no 'content'" in str(items[1].error)


def test_async_messages(server: ScriptedServer, aclient: openai.AsyncOpenAI) -> None:
    server.push(completion(json.dumps(ANSWER)))
    value = asyncio.run(AsyncExtractor(aclient, model="m").extract(Customer, messages=CHAT))
    assert value == Customer(**ANSWER)


# -- @extract ----------------------------------------------------------------------


def test_decorator_parameter_typed_messages() -> None:
    model = TestModel([ANSWER])

    @extract(client=model, context_window=600)
    def customer(chat: Messages, language: str = "English") -> Customer:
        """Who is the customer in the conversation above? Answer in {{ language }}."""

    history = [{"role": "user", "content": "filler " * 300}, *CHAT]
    result = customer.result(history)
    assert result.value == Customer(**ANSWER) and result.dropped_turns == (0,)
    sent = model.calls[0].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "user"]
    assert sent[1:4] == CHAT
    assert sent[-1]["content"].startswith("Who is the customer") and "English" in sent[-1]["content"]
    assert customer.conversation_parameter == "chat"
    with pytest.raises(InputError, match=r"chat\[0\]: role"):
        customer([{"role": "narrator", "content": "x"}])


# -- the CLI -------------------------------------------------------------------------


def _schema_file(tmp_path: Path) -> Path:
    schema = tmp_path / "customer.py"
    schema.write_text("from pydantic import BaseModel\n\n"
                      "class Customer(BaseModel):\n    name: str\n    city: str\n")
    return schema


def test_cli_jsonl_messages(server: ScriptedServer, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    chats = tmp_path / "chats.jsonl"
    long = [{"role": "user", "content": "filler " * 600}, *CHAT]
    chats.write_text("\n".join([
        json.dumps({"id": "short", "messages": CHAT}),
        json.dumps({"id": "long", "messages": long}),
        json.dumps({"id": "bad", "messages": [{"role": "user", "content": "x"},
                                              {"role": "bot", "content": "y"}]}),
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    server.default = lambda body: completion(json.dumps(ANSWER))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, _, _ = run_cli("run", str(_schema_file(tmp_path)), str(chats), "-o", str(out),
                           "--model", "m", "--base-url", server.base_url,
                           "--context-window", "1000")
    records = {r["input"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["short"]["ok"] and "dropped_turns" not in records["short"]
    assert records["short"]["grounding"]["/city"]["status"] == "exact"
    assert records["long"]["ok"] and records["long"]["dropped_turns"] == [0]
    assert not records["bad"]["ok"]
    assert f"{chats}:3: messages[1]: role 'bot'" in records["bad"]["error"]
    assert code == 1  # one input failed
    assert len(server.bodies()) == 2


def test_cli_one_conversation_prints_its_value(server: ScriptedServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    chats = tmp_path / "one.jsonl"
    chats.write_text(json.dumps({"messages": CHAT}) + "\n")
    server.push(completion(json.dumps(ANSWER)))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, out, err = run_cli("run", str(_schema_file(tmp_path)), str(chats), "--model", "m",
                             "--base-url", server.base_url)
    assert code == 0, err
    assert json.loads(out) == ANSWER
    assert server.bodies()[0]["messages"][1:] == CHAT


def test_cli_function_takes_the_conversation(server: ScriptedServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fn = tmp_path / "fn.py"
    fn.write_text(
        "from pydantic import BaseModel\nfrom extractkit import Messages, extract\n\n"
        "class Customer(BaseModel):\n    name: str\n    city: str\n\n"
        "@extract\ndef customer(topic: str, history: Messages) -> Customer:\n"
        '    """The customer of this {{ topic }} chat."""\n')
    chats = tmp_path / "chats.jsonl"
    chats.write_text("\n".join(json.dumps({"id": str(i), "topic": "support", "messages": CHAT})
                               for i in range(2)) + "\n")
    out = tmp_path / "out.jsonl"
    server.default = lambda body: completion(json.dumps(ANSWER))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, _, err = run_cli("run", str(fn), str(chats), "-o", str(out), "--model", "m",
                           "--base-url", server.base_url)
    assert code == 0, err
    sent = server.bodies()[0]["messages"]
    assert sent[1:4] == CHAT and "support chat" in sent[-1]["content"]


def test_cli_prompt_renders_a_conversation(tmp_path: Path) -> None:
    chats = tmp_path / "chats.jsonl"
    chats.write_text(json.dumps({"id": "c", "messages": CHAT}) + "\n")
    code, out, err = run_cli("prompt", str(_schema_file(tmp_path)), str(chats), "--json")
    assert code == 0, err
    assert json.loads(out)["messages"][1:] == CHAT


@pytest.mark.local_model
def test_the_embedded_model_reads_a_conversation_cut_to_its_window(
        caplog: pytest.LogCaptureFixture) -> None:
    # the local profile's window (4096 tokens) and its own tokenizer: the filler goes
    history = [{"role": "user", "content": "blah " * 4000}, *CHAT]
    with caplog.at_level(logging.WARNING, logger="extractkit"):
        result = Extractor(local=True, grounding="require").extract_result(
            Customer, messages=history)
    assert result.dropped_turns == (0,)
    assert result.value == Customer(name="Ada", city="Paris")
    assert result.grounding is not None
    assert result.grounding.leaves["/city"].status == "exact"
    assert "1 of 4 message(s) dropped" in caplog.text


def test_async_function_and_stream_take_conversations(server: ScriptedServer,
                                                      client: openai.OpenAI) -> None:
    model = TestModel([ANSWER])

    @extract(client=model)
    async def customer(history: Messages) -> Customer:
        """Who is the customer?"""

    assert asyncio.run(customer(CHAT)) == Customer(**ANSWER)
    assert model.calls[0].messages[1:4] == CHAT

    server.push(stream(json.dumps(ANSWER)))
    snapshots = list(Extractor(client, model="m").stream(Customer, messages=CHAT))
    assert snapshots[-1].done and snapshots[-1].value == Customer(**ANSWER)
    assert server.bodies()[0]["messages"][1:] == CHAT


def test_fit_keeps_a_leading_tool_answer_when_nothing_is_dropped() -> None:
    turns = [{"role": "tool", "content": "42", "tool_call_id": "1"},
             {"role": "user", "content": "thanks"}]
    assert fit_turns([], turns, [], budget=1000, count=estimate_tokens).dropped == ()
    with pytest.raises(InputError, match=r"messages\[0\]: the newest turn"):
        fit_turns([], [{"role": "user", "content": "u" * 400},
                       {"role": "system", "content": "late rule"}], [], budget=20,
                  count=estimate_tokens)
