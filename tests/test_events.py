"""``on_event=`` hooks: typed events, emitted once each wherever the extraction runs
(blocking, asyncio, streamed, batched), over the real SDK and the scripted server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from extractkit import AsyncExtractor, Extractor, extract
from extractkit.errors import ConfigurationError, ExtractionError
from extractkit.events import (
    AttemptFailed,
    Event,
    Failed,
    Finished,
    Reasked,
    RequestSent,
    ResponseReceived,
    TransportRetried,
)
from tests.scripted_server import completion, error, stream

SECRET = "sk-test-secret-123"


class Person(BaseModel):
    name: str
    age: int


def _script(server: Any, *, streamed: bool = False, count: int = 1) -> None:
    """Per extraction: an answer without ``age``, then a valid one."""
    make = stream if streamed else completion
    for _ in range(count):
        server.push(make('{"name": "Ada"}'), make('{"name": "Ada", "age": 36}'))


def _shape(events: list[Event]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        row: tuple[Any, ...] = (type(e).__name__,)
        if hasattr(e, "attempt"):
            row += (e.attempt,)
        if isinstance(e, (RequestSent, TransportRetried)):
            row += (e.retry,)
        out.append(row)
    return out


EXPECTED = [
    ("RequestSent", 1, 0),
    ("ResponseReceived", 1),
    ("AttemptFailed", 1),
    ("Reasked", 2),
    ("RequestSent", 2, 0),
    ("ResponseReceived", 2),
    ("Finished",),
]


def test_a_reask_emits_every_step_once_in_order(server, client):
    _script(server)
    events: list[Event] = []
    value = Extractor(client=client, model="gpt-test", on_event=events.append).extract(
        Person, "Ada is 36.")
    assert value == Person(name="Ada", age=36)
    assert _shape(events) == EXPECTED
    assert len({e.extraction_id for e in events}) == 1
    assert [e.at for e in events] == sorted(e.at for e in events)
    sent, received, failed, reasked = events[0], events[1], events[2], events[3]
    assert isinstance(sent, RequestSent) and sent.model == "gpt-test"
    assert sent.server_address == "127.0.0.1" and sent.server_port == server.port
    assert sent.schema == "Person" and sent.messages is None  # no content unless asked
    assert isinstance(received, ResponseReceived)
    assert received.usage.prompt_tokens == 10 and received.usage.completion_tokens == 5
    assert received.finish_reasons == ("stop",) and received.content is None
    assert isinstance(failed, AttemptFailed) and any("age" in e for e in failed.errors)
    assert isinstance(reasked, Reasked) and reasked.reasks_left == 1
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.result.value == value
    assert finished.result.usage.prompt_tokens == 20


def _run_sync(client: Any, hook: Any) -> None:
    Extractor(client=client, model="m", on_event=hook).extract(Person, "Ada is 36.")


def _run_async(server: Any, hook: Any) -> None:
    async def go() -> None:
        aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0)
        await AsyncExtractor(client=aclient, model="m", on_event=hook).extract(
            Person, "Ada is 36.")
        await aclient.close()

    asyncio.run(go())


def _run_stream(client: Any, hook: Any) -> None:
    snapshots = list(Extractor(client=client, model="m", on_event=hook).stream(
        Person, "Ada is 36."))
    assert snapshots[-1].done


def _run_astream(server: Any, hook: Any) -> None:
    async def go() -> None:
        aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0)
        ex = AsyncExtractor(client=aclient, model="m", on_event=hook)
        async for snapshot in ex.stream(Person, "Ada is 36."):
            last = snapshot
        assert last.done
        await aclient.close()

    asyncio.run(go())


def _run_decorated(client: Any, hook: Any) -> None:
    @extract(client=client, model="m", on_event=hook)
    def person(text: str) -> Person:
        """Who is it? {{ text }}"""

    assert person("Ada is 36.").age == 36


@pytest.mark.parametrize("how", ["sync", "async", "stream", "astream", "decorator"])
def test_every_driver_emits_the_same_events(server, client, how):
    _script(server, streamed=how in ("stream", "astream"))
    events: list[Event] = []
    run = {"sync": lambda: _run_sync(client, events.append),
           "async": lambda: _run_async(server, events.append),
           "stream": lambda: _run_stream(client, events.append),
           "astream": lambda: _run_astream(server, events.append),
           "decorator": lambda: _run_decorated(client, events.append)}[how]
    run()
    assert _shape(events) == EXPECTED


@pytest.mark.parametrize("is_async", [False, True])
def test_a_batch_emits_each_extractions_events_under_its_own_id(server, client, is_async):
    _script(server, count=3)
    events: list[Event] = []
    texts = ["Ada is 36.", "Ada, 36.", "Ada (36)"]
    if is_async:
        async def go() -> list[Any]:
            aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0)
            ex = AsyncExtractor(client=aclient, model="m", on_event=events.append)
            items = [item async for item in ex.map(Person, texts, concurrency=1)]
            await aclient.close()
            return items

        items = asyncio.run(go())
    else:
        ex = Extractor(client=client, model="m", on_event=events.append)
        items = list(ex.map(Person, texts, concurrency=1))
    assert all(item.ok for item in items)
    ids = list(dict.fromkeys(e.extraction_id for e in events))
    assert len(ids) == 3
    for extraction_id in ids:
        assert _shape([e for e in events if e.extraction_id == extraction_id]) == EXPECTED


def test_a_transport_retry_is_an_event_between_two_sends(server, client):
    server.push(error(429, headers={"retry-after-ms": "5"}), completion('{"name": "A", "age": 1}'))
    events: list[Event] = []
    Extractor(client=client, model="m", on_event=events.append).extract(Person, "A is 1.")
    assert _shape(events) == [("RequestSent", 1, 0), ("TransportRetried", 1, 1),
                              ("RequestSent", 1, 1), ("ResponseReceived", 1), ("Finished",)]
    retried = events[1]
    assert isinstance(retried, TransportRetried)
    assert retried.error_type == "RateLimitError" and 0 < retried.delay < 1


def test_a_cut_stream_is_a_transport_retry(server, client):
    server.push(stream('{"name": "Ada", "age": 36}', drop_after=2),
                stream('{"name": "Ada", "age": 36}'))
    events: list[Event] = []
    list(Extractor(client=client, model="m", on_event=events.append).stream(Person, "Ada"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["RequestSent", "TransportRetried", "RequestSent", "ResponseReceived",
                     "Finished"]


def test_failed_carries_the_exception_the_caller_gets(server, client):
    server.push(completion('{"name": "Ada"}'))
    events: list[Event] = []
    ex = Extractor(client=client, model="m", max_retries=0, on_event=events.append)
    with pytest.raises(ExtractionError) as caught:
        ex.extract(Person, "Ada")
    assert [type(e).__name__ for e in events] == [
        "RequestSent", "ResponseReceived", "AttemptFailed", "Failed"]
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.error is caught.value
    assert failed.error_type == "ExtractionError"


def test_a_transport_error_after_its_retries_is_failed_once(server, client):
    server.push(error(500, f"upstream said {SECRET}"), error(500, f"upstream said {SECRET}"))
    events: list[Event] = []
    ex = Extractor(client=client, model="m", transport_retries=1, on_event=events.append)
    with pytest.raises(openai.InternalServerError):
        ex.extract(Person, "Ada")
    assert [type(e).__name__ for e in events] == [
        "RequestSent", "TransportRetried", "RequestSent", "Failed"]
    # what events say of errors is redacted: the key the server echoed is not in them
    for event in events:
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)
                  if f.name != "error"}
        assert SECRET not in repr(fields)
    assert "[redacted]" in events[1].error  # type: ignore[attr-defined]


def test_a_hook_that_raises_is_logged_and_the_others_still_run(server, client, caplog):
    server.push(completion('{"name": "Ada", "age": 36}'))
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    ex = Extractor(client=client, model="m", on_event=[broken, seen.append])
    with caplog.at_level(logging.ERROR, logger="extractkit"):
        assert ex.extract(Person, "Ada is 36.").age == 36
    assert [type(e).__name__ for e in seen] == ["RequestSent", "ResponseReceived", "Finished"]
    assert sum("hook bug" in (r.exc_text or "") or "raised" in r.getMessage()
               for r in caplog.records) == 3


class _Recorder(list):  # type: ignore[type-arg]
    capture_content = True

    def __call__(self, event: Event) -> None:
        self.append(event)


def test_prompt_and_answer_text_only_for_a_hook_that_asks(server, client):
    server.push(completion('{"name": "Ada", "age": 36}'))
    recorder = _Recorder()
    Extractor(client=client, model="m", on_event=recorder).extract(Person, "Ada is 36.")
    sent, received = recorder[0], recorder[1]
    assert any("Ada is 36." in str(m.get("content")) for m in sent.messages)
    assert received.content == '{"name": "Ada", "age": 36}'
    assert SECRET not in repr(recorder)


def test_no_hook_no_emitter(client):
    ex = Extractor(client=client, model="m")
    assert ex._engine.hooks == ()
    extraction = ex._prepare(Person, "Ada", {}, None)[1]
    assert extraction.events is None


def test_on_event_must_be_callables(client):
    with pytest.raises(ConfigurationError, match="on_event must be a callable"):
        Extractor(client=client, model="m", on_event="print")
    with pytest.raises(ConfigurationError, match=r"on_event\[1\]"):
        Extractor(client=client, model="m", on_event=[print, 3])


def test_with_options_replaces_the_hooks(server, client):
    server.push(completion('{"name": "Ada", "age": 36}'))
    first: list[Event] = []
    second: list[Event] = []
    ex = Extractor(client=client, model="m", on_event=first.append)
    ex.with_options(on_event=second.append).extract(Person, "Ada is 36.")
    assert not first and [type(e).__name__ for e in second][-1] == "Finished"


def test_the_batch_api_emits_the_same_events(server, client):
    """Batch lines are sent requests; a re-ask or an input the batch did not run goes
    online and goes on with the same extraction id."""
    import json as _json

    from extractkit.batch_api import BatchAPI
    from tests.batch_server import install

    def answer(body: dict[str, Any]) -> Any:
        text = next(m["content"] for m in body["messages"] if m["role"] == "user")
        name, _, age = text.partition(" is ")
        if name == "refuse":
            return completion(refusal="I cannot help with that.")
        if name == "bad" and len(body["messages"]) == 2:
            return completion('{"name": "bad"}')
        return completion(_json.dumps({"name": name, "age": int(age)}))

    server.default = answer
    install(server, polls=1, drop={"3"})
    events: list[Event] = []
    ex = Extractor(client=client, model="m", on_event=events.append)
    inputs = [("a", "Ada is 36"), ("b", "bad is 1"), ("c", "refuse is 2"), ("d", "Dan is 4")]
    items = {i.id: i for i in ex.map(Person, inputs, batch_api=BatchAPI(poll_interval=0.01))}
    assert items["a"].ok and items["b"].ok and items["d"].ok and not items["c"].ok
    ids = list(dict.fromkeys(e.extraction_id for e in events))  # spooled in input order
    assert len(ids) == 4
    per = {key: _shape([e for e in events if e.extraction_id == i])
           for key, i in zip("abcd", ids, strict=True)}
    assert per["a"] == [("RequestSent", 1, 0), ("ResponseReceived", 1), ("Finished",)]
    assert per["b"] == EXPECTED
    assert per["c"] == [("RequestSent", 1, 0), ("ResponseReceived", 1), ("AttemptFailed", 1),
                        ("Failed",)]
    assert per["d"] == [("RequestSent", 1, 0), ("RequestSent", 1, 0), ("ResponseReceived", 1),
                        ("Finished",)]


def test_a_stream_closed_early_ends_with_failed(server, client):
    server.push(stream('{"name": "Ada", "age": 36}', chunk_size=2))
    events: list[Event] = []
    snapshots = Extractor(client=client, model="m", on_event=events.append).stream(
        Person, "Ada is 36.")
    next(snapshots)
    snapshots.close()
    assert [type(e).__name__ for e in events] == ["RequestSent", "Failed"]
    assert events[-1].error_type == "GeneratorExit"  # type: ignore[attr-defined]


def test_fell_back_moves_the_next_events_to_the_new_endpoint():
    """What a chain of endpoints calls when it moves on (endpoints/chain.py)."""
    from extractkit.events import Emitter, FellBack

    events: list[Event] = []
    emitter = Emitter([events.append], model="small", provider="openai",
                      base_url="https://api.openai.com/v1", endpoint="cheap")
    emitter.request_sent({"model": "small", "messages": []}, 0)
    emitter.fell_back("cheap", "strong", f"401 for key {SECRET}", provider="vllm",
                      base_url="http://gpu-box:8000/v1")
    emitter.request_sent({"model": "big", "messages": []}, 0)
    first, moved, second = events
    assert isinstance(moved, FellBack) and moved.from_endpoint == "cheap"
    assert SECRET not in moved.reason
    assert (first.endpoint, first.server_address, first.server_port) == (
        "cheap", "api.openai.com", None)
    assert isinstance(second, RequestSent)
    assert (second.endpoint, second.provider, second.model, second.server_address,
            second.server_port) == ("strong", "vllm", "big", "gpu-box", 8000)
    assert first.extraction_id == moved.extraction_id == second.extraction_id


def _moderations(srv: Any, request: Any) -> Any:
    """A scripted ``/v1/moderations``: flags every text containing FLAGME."""
    from tests.scripted_server import json_reply

    texts = request.body["input"]
    texts = [texts] if isinstance(texts, str) else texts
    return json_reply({"id": "modr-1", "model": request.body["model"], "results": [
        {"flagged": "FLAGME" in t, "categories": {"violence": "FLAGME" in t},
         "category_scores": {"violence": 0.97 if "FLAGME" in t else 0.01}} for t in texts]})


@pytest.mark.parametrize("how", ["sync", "stream"])
def test_a_result_the_moderation_rejects_ends_in_failed(server, client, how):
    from extractkit.errors import ModerationError

    server.add_route("POST", "/v1/moderations", _moderations)
    reply = stream if how == "stream" else completion
    server.push(reply('{"name": "FLAGME", "age": 3}'))
    events: list[Event] = []
    ex = Extractor(client=client, model="m", endpoint="openai", moderation="both",
                   on_event=events.append)
    with pytest.raises(ModerationError):
        if how == "stream":
            list(ex.stream(Person, "a calm text"))
        else:
            ex.extract(Person, "a calm text")
    assert [type(e).__name__ for e in events] == ["RequestSent", "ResponseReceived", "Failed"]
    assert events[-1].error_type == "ModerationError"  # type: ignore[attr-defined]
    events.clear()
    with pytest.raises(ModerationError):
        ex.extract(Person, "FLAGME")  # the input: nothing is sent
    assert [type(e).__name__ for e in events] == ["Failed"]


@pytest.mark.parametrize("how", ["sync", "stream"])
def test_a_fallback_chain_is_one_extraction_with_fell_back_between_endpoints(how):
    from extractkit.endpoints import Endpoint
    from extractkit.events import FellBack
    from tests.scripted_server import ScriptedServer

    with ScriptedServer() as a, ScriptedServer() as b:
        a.push(error(401, f"bad key {SECRET}"))
        b.push((stream if how == "stream" else completion)('{"name": "Ada", "age": 36}'))
        events: list[Event] = []
        ex = Extractor(endpoint=Endpoint("cheap", base_url=a.base_url, model="small"),
                       fallback=[Endpoint("strong", base_url=b.base_url, model="big")],
                       on_event=events.append)
        if how == "stream":
            assert list(ex.stream(Person, "Ada is 36."))[-1].done
        else:
            assert ex.extract_result(Person, "Ada is 36.").endpoint == "strong"
        assert [type(e).__name__ for e in events] == [
            "RequestSent", "FellBack", "RequestSent", "ResponseReceived", "Finished"]
        assert len({e.extraction_id for e in events}) == 1
        assert [e.endpoint for e in events] == ["cheap", "cheap", "strong", "strong", "strong"]
        moved = events[1]
        assert isinstance(moved, FellBack) and (moved.from_endpoint, moved.to_endpoint) == (
            "cheap", "strong")
        assert SECRET not in moved.reason
        assert events[2].model == "big" and events[2].server_port == b.port  # type: ignore[attr-defined]
        finished = events[-1]
        assert isinstance(finished, Finished) and finished.result.endpoint == "strong"


def test_a_chain_that_runs_out_of_endpoints_fails_once():
    from extractkit.endpoints import Endpoint
    from tests.scripted_server import ScriptedServer

    with ScriptedServer() as a, ScriptedServer() as b:
        a.push(error(401))
        b.push(error(401))
        events: list[Event] = []
        ex = Extractor(endpoint=Endpoint("a", base_url=a.base_url, model="m"),
                       fallback=[Endpoint("b", base_url=b.base_url, model="m")],
                       on_event=events.append)
        with pytest.raises(openai.AuthenticationError) as caught:
            ex.extract(Person, "Ada")
        assert [type(e).__name__ for e in events] == [
            "RequestSent", "FellBack", "RequestSent", "Failed"]
        assert events[-1].error is caught.value  # type: ignore[attr-defined]
