"""moderation=: the endpoint's moderations.create screens input and output, over loopback.

The scripted ``/v1/moderations`` route flags every text containing ``FLAGME``
(category ``violence``, score 0.97) and passes the rest (score 0.01), so each
test can tell a screened text from an unscreened one and count the calls.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from extractkit import AsyncExtractor, Extractor, Profile, extract
from extractkit.errors import ConfigurationError, ModerationError, is_item_failure
from tests.cli_runner import run_cli
from tests.scripted_server import RecordedRequest, Reply, ScriptedServer, completion, json_reply

MODERATIONS = "/v1/moderations"
CATEGORIES = ("harassment", "hate", "self-harm", "sexual", "violence")


def _verdict(text: str) -> dict[str, Any]:
    bad = "FLAGME" in text
    return {
        "flagged": bad,
        "categories": {name: bad and name == "violence" for name in CATEGORIES},
        "category_scores": {name: (0.97 if bad and name == "violence" else 0.01)
                            for name in CATEGORIES},
    }


def _moderations(srv: ScriptedServer, request: RecordedRequest) -> Reply:
    texts = request.body["input"]
    texts = [texts] if isinstance(texts, str) else texts
    return json_reply({"id": "modr-1", "model": request.body["model"],
                       "results": [_verdict(t) for t in texts]})


@pytest.fixture
def moderated(server: ScriptedServer) -> ScriptedServer:
    server.add_route("POST", MODERATIONS, _moderations)
    return server


class Note(BaseModel):
    title: str
    tags: list[str]


def _ex(client: Any, mode: str, **options: Any) -> Extractor:
    return Extractor(client, model="m", endpoint="openai", moderation=mode, **options)


def test_input_flagged_raises_before_any_completion(moderated: ScriptedServer,
                                                     client: openai.OpenAI) -> None:
    with pytest.raises(ModerationError) as info:
        _ex(client, "input").extract(Note, "a note that says FLAGME")
    error = info.value
    assert error.stage == "input"
    assert error.categories == ("violence",)
    assert error.scores == {"violence": 0.97}
    assert error.flagged == ("messages[1]",)  # the user turn; the system prompt is ours
    assert error.attempts == []
    assert "FLAGME" not in str(error)
    assert moderated.bodies() == []  # no completion was requested (nor paid for)
    [body] = moderated.bodies(MODERATIONS)
    assert body["model"] == "omni-moderation-latest"
    assert len(body["input"]) == 1 and "FLAGME" in body["input"][0]
    assert is_item_failure(error)


def test_input_clean_goes_on_and_output_is_not_screened(moderated: ScriptedServer,
                                                        client: openai.OpenAI) -> None:
    moderated.push(completion(json.dumps({"title": "FLAGME", "tags": []})))
    note = _ex(client, "input", moderation_model="text-moderation-007").extract(Note, "calm")
    assert note.title == "FLAGME"  # output not screened under "input"
    [body] = moderated.bodies(MODERATIONS)
    assert body["model"] == "text-moderation-007"
    assert len(moderated.bodies()) == 1


def test_output_flagged_names_the_fields(moderated: ScriptedServer,
                                         client: openai.OpenAI) -> None:
    answer = {"title": "ok", "tags": ["fine", "FLAGME now"]}
    moderated.push(completion(json.dumps(answer)))
    with pytest.raises(ModerationError) as info:
        _ex(client, "output").extract(Note, "a note that says FLAGME")  # input not screened
    error = info.value
    assert (error.stage, error.flagged, error.categories) == ("output", ("/tags/1",),
                                                              ("violence",))
    assert len(error.attempts) == 1 and error.attempts[0].ok  # the answer, kept for the record
    [body] = moderated.bodies(MODERATIONS)
    assert body["input"] == ["ok", "fine", "FLAGME now"]  # every string of the value
    assert len(moderated.bodies()) == 1  # not re-asked


def test_both_screens_twice_and_returns_a_clean_value(moderated: ScriptedServer,
                                                      client: openai.OpenAI) -> None:
    moderated.push(completion(json.dumps({"title": "t", "tags": ["a"]})))
    result = _ex(client, "both").extract_result(Note, "calm text")
    assert result.value == Note(title="t", tags=["a"])
    inputs = [b["input"] for b in moderated.bodies(MODERATIONS)]
    assert len(inputs) == 2 and inputs[1] == ["t", "a"]


def test_async_and_stream_screen_alike(moderated: ScriptedServer, aclient: openai.AsyncOpenAI,
                                       client: openai.OpenAI) -> None:
    ex = AsyncExtractor(aclient, model="m", endpoint="openai", moderation="both")
    moderated.push(completion(json.dumps({"title": "FLAGME", "tags": []})))

    async def both() -> list[str]:
        stages = []
        for text in ("calm", "FLAGME"):
            with pytest.raises(ModerationError) as info:
                await ex.extract(Note, text)
            stages.append(info.value.stage)
        return stages

    assert asyncio.run(both()) == ["output", "input"]
    with pytest.raises(ModerationError, match="input"):
        list(_ex(client, "input").stream(Note, "FLAGME"))
    assert len(moderated.bodies()) == 1


def test_messages_are_screened_turn_by_turn(moderated: ScriptedServer,
                                            client: openai.OpenAI) -> None:
    chat = [{"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "FLAGME please"}]
    with pytest.raises(ModerationError) as info:
        _ex(client, "input").extract(Note, messages=chat)
    assert info.value.flagged == ("messages[3]",)  # after the system prompt extractkit adds
    assert moderated.bodies(MODERATIONS)[0]["input"] == ["hello", "hi", "FLAGME please"]


def test_batch_fails_the_flagged_item_only(moderated: ScriptedServer,
                                           client: openai.OpenAI) -> None:
    moderated.default = lambda body: completion(json.dumps({"title": "t", "tags": []}))
    items = list(_ex(client, "input").map(Note, ["one", "FLAGME two", "three"], ordered=True))
    assert [i.ok for i in items] == [True, False, True]
    assert isinstance(items[1].error, ModerationError)
    assert len(moderated.bodies()) == 2


def test_decorator_takes_moderation(moderated: ScriptedServer, client: openai.OpenAI) -> None:
    @extract(client=client, model="m", endpoint="openai", moderation="input")
    def note(text: str) -> Note:
        """Make a note of: {{ text }}"""

    with pytest.raises(ModerationError):
        note("FLAGME")
    assert moderated.bodies() == []


def test_endpoint_without_moderation_is_a_configuration_error(client: openai.OpenAI) -> None:
    # the loopback URL gets the generic profile, which does not claim a moderation API
    with pytest.raises(ConfigurationError, match="profile 'generic' has none"):
        Extractor(client, model="m", moderation="input").extract(Note, "text")
    with pytest.raises(ConfigurationError, match="embedded local model"):
        Extractor(local=True, moderation="both").render(Note, "text")
    with pytest.raises(ConfigurationError, match="moderation must be one of"):
        Extractor(moderation="always")
    # a profile that says it has one is enough
    own = Profile("gateway", modes=("json_schema",), moderation=True)
    ex = Extractor(client, model="m", endpoint=own, moderation="input")
    assert ex.render(Note, "text")["model"] == "m"


def test_batch_stops_at_once_on_a_configuration_error(server: ScriptedServer,
                                                      client: openai.OpenAI) -> None:
    ex = Extractor(client, model="m", moderation="input")
    with pytest.raises(ConfigurationError):
        list(ex.map(Note, ["a", "b", "c"]))
    assert server.requests == []


def test_cli_moderation(moderated: ScriptedServer, tmp_path: Any,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    schema = tmp_path / "note.py"
    schema.write_text("from pydantic import BaseModel\n\n"
                      "class Note(BaseModel):\n    title: str\n    tags: list[str]\n")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "a", "text": "calm"}\n{"id": "b", "text": "FLAGME"}\n')
    out = tmp_path / "out.jsonl"
    moderated.default = lambda body: completion(json.dumps({"title": "t", "tags": []}))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, _, _ = run_cli("run", str(schema), str(inputs), "-o", str(out), "--model", "m",
                           "--base-url", moderated.base_url, "--endpoint", "openai",
                           "--moderation", "input")
    records = {r["input"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["a"]["ok"] and not records["b"]["ok"]
    assert "moderation (input)" in records["b"]["error"] and "violence" in records["b"]["error"]
    assert code != 0 and len(moderated.bodies()) == 1


def test_batch_api_is_refused_with_moderation(moderated: ScriptedServer,
                                              client: openai.OpenAI) -> None:
    with pytest.raises(ConfigurationError, match="not available with the Batch API"):
        list(_ex(client, "input").map(Note, ["one", "two"], batch_api=True))
    assert moderated.requests == []


def test_the_moderation_call_is_bounded_by_the_deadline(server: ScriptedServer,
                                                        client: openai.OpenAI) -> None:
    from tests.scripted_server import delayed

    server.add_route("POST", MODERATIONS, lambda srv, req: delayed(_moderations(srv, req), 3.0))
    ex = _ex(client, "input", timeout=0.3, transport_retries=0)
    with pytest.raises(openai.APITimeoutError):
        ex.extract(Note, "calm")
    assert server.bodies() == []


def test_stream_withholds_a_flagged_final_value(moderated: ScriptedServer,
                                                client: openai.OpenAI) -> None:
    from tests.scripted_server import stream

    moderated.push(stream(json.dumps({"title": "FLAGME", "tags": ["x"]})))
    seen = []
    with pytest.raises(ModerationError) as info:
        for snapshot in _ex(client, "output").stream(Note, "calm"):
            seen.append(snapshot)
    assert info.value.flagged == ("/title",)
    assert seen and not any(s.done for s in seen)  # partials came; the final value did not


def test_cli_endpoint_without_moderation_stops_before_any_request(
        server: ScriptedServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = tmp_path / "note.py"
    schema.write_text("from pydantic import BaseModel\n\nclass Note(BaseModel):\n    title: str\n")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, _, err = run_cli("run", str(schema), str(inputs), "--model", "m",
                           "--base-url", server.base_url, "--moderation", "both")
    assert code == 2
    assert "profile 'generic' has none" in err
    assert server.requests == []
