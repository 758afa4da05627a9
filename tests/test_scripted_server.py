"""The scripted server, driven through the real ``openai`` SDK (and raw ``http.client``)."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from tests.scripted_server import (
    RecordedRequest,
    Reply,
    ScriptedServer,
    choice,
    completion,
    delayed,
    error,
    json_reply,
    raw,
    stream,
)

MESSAGES: list[Any] = [{"role": "user", "content": "extract the person"}]
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture
def srv() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def _client(srv: ScriptedServer, max_retries: int = 0, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=max_retries, **kw)


def _async_client(srv: ScriptedServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="test", max_retries=0)


def _create(client: openai.OpenAI, **kw: Any) -> Any:
    return client.chat.completions.create(model="gpt-test", messages=MESSAGES, **kw)


# ------------------------------------------------------------------ plain replies


def test_base_url_is_loopback_v1(srv: ScriptedServer) -> None:
    assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
    assert srv.port > 0


def test_plain_completion_is_parsed(srv: ScriptedServer) -> None:
    srv.push(completion('{"name": "Ada"}', usage=(7, 3), model="m-1"))
    result = _create(_client(srv))
    assert result.object == "chat.completion"
    assert result.model == "m-1"
    assert result.choices[0].message.content == '{"name": "Ada"}'
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 3)
    assert result.usage.total_tokens == 10


def test_tool_call_is_parsed(srv: ScriptedServer) -> None:
    srv.push(completion(tool_args='{"age": 36}', tool_name="person"))
    result = _create(_client(srv))
    message = result.choices[0].message
    assert result.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "person"
    assert json.loads(call.function.arguments) == {"age": 36}
    assert call.id.startswith("call_")


def test_refusal_and_finish_reason_override(srv: ScriptedServer) -> None:
    srv.push(completion(refusal="I can't help with that", finish_reason="length"))
    result = _create(_client(srv))
    assert result.choices[0].message.refusal == "I can't help with that"
    assert result.choices[0].finish_reason == "length"


def test_several_choices_for_n_greater_than_one(srv: ScriptedServer) -> None:
    srv.push(completion(choices=["a", "b", choice(tool_args="{}")]))
    result = _create(_client(srv), n=3)
    assert [c.index for c in result.choices] == [0, 1, 2]
    assert [c.message.content for c in result.choices] == ["a", "b", None]
    tool_calls = result.choices[2].message.tool_calls
    assert tool_calls is not None
    assert tool_calls[0].function.arguments == "{}"
    assert result.choices[2].finish_reason == "tool_calls"


def test_replies_are_served_fifo_then_default(srv: ScriptedServer) -> None:
    srv.push(completion("first"), completion("second"))
    srv.default = lambda body: completion(f"echo {body['model']}")
    client = _client(srv)
    contents = [_create(client).choices[0].message.content for _ in range(3)]
    assert contents == ["first", "second", "echo gpt-test"]
    assert srv.pending == 0


def test_pushed_callable_sees_request_body(srv: ScriptedServer) -> None:
    srv.push(lambda body: completion(str(len(body["messages"]))))
    assert _create(_client(srv)).choices[0].message.content == "1"


def test_exhausted_script_is_a_500_with_clear_message(srv: ScriptedServer) -> None:
    with pytest.raises(openai.InternalServerError, match="script exhausted"):
        _create(_client(srv))


def test_models_endpoint_lists_one_model(srv: ScriptedServer) -> None:
    models = list(_client(srv).models.list())
    assert [m.id for m in models] == ["scripted-model"]


# ------------------------------------------------------------------ errors


def test_error_400_raises_bad_request_with_message(srv: ScriptedServer) -> None:
    srv.push(error(400, "schema is not valid", code="invalid_schema", param="response_format"))
    with pytest.raises(openai.BadRequestError, match="schema is not valid") as info:
        _create(_client(srv))
    assert info.value.status_code == 400
    assert info.value.code == "invalid_schema"
    assert info.value.param == "response_format"
    assert info.value.type == "invalid_request_error"


def test_429_without_retries_raises_rate_limit(srv: ScriptedServer) -> None:
    srv.push(error(429, "slow down", type="rate_limit_error"))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        _create(_client(srv))


def test_429_with_retry_after_then_success_when_sdk_retries(srv: ScriptedServer) -> None:
    srv.push(
        error(429, "slow down", headers={"retry-after-ms": "20"}, type="rate_limit_error"),
        completion("after retry"),
    )
    started = time.perf_counter()
    result = _create(_client(srv, max_retries=1))
    elapsed = time.perf_counter() - started
    assert result.choices[0].message.content == "after retry"
    assert len(srv.bodies()) == 2
    assert elapsed < 0.4  # the 20 ms retry-after was honoured, not the 0.5 s backoff


def test_retry_after_header_is_sent(srv: ScriptedServer) -> None:
    srv.push(error(429, headers={"retry-after": "0"}))
    with pytest.raises(openai.RateLimitError) as info:
        _create(_client(srv))
    assert info.value.response.headers["retry-after"] == "0"


def test_raw_malformed_body_is_delivered_verbatim(srv: ScriptedServer) -> None:
    srv.push(raw(200, b'{"id": "x", "choices": [', {"x-extra": "1"}))
    response = _client(srv).chat.completions.with_raw_response.create(
        model="gpt-test", messages=MESSAGES
    )
    assert response.http_response.content == b'{"id": "x", "choices": ['
    assert response.headers["x-extra"] == "1"
    with pytest.raises(json.JSONDecodeError):
        response.parse()


def test_delayed_reply_triggers_sdk_timeout(srv: ScriptedServer) -> None:
    srv.push(delayed(completion("late"), 0.5))
    with pytest.raises(openai.APITimeoutError):
        _create(_client(srv, timeout=0.1))


# ------------------------------------------------------------------ streaming


def _collect(chunks: Any) -> tuple[str, list[str | None], Any]:
    text, finishes, usage = "", [], None
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finishes.append(c.finish_reason)
    return text, finishes, usage


def test_stream_yields_pieces_finish_reason_and_usage(srv: ScriptedServer) -> None:
    srv.push(stream("Hello structured world", chunk_size=5, usage=(11, 4)))
    chunks = list(_create(_client(srv), stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert pieces == ["Hello", " stru", "cture", "d wor", "ld"]
    text, finishes, usage = _collect(chunks)
    assert text == "Hello structured world"
    assert finishes[-1] == "stop"
    assert finishes[:-1] == [None] * (len(finishes) - 1)
    assert chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 4, 15)


def test_stream_without_include_usage_has_no_usage_chunk(srv: ScriptedServer) -> None:
    srv.push(stream("abc"))
    chunks = list(_create(_client(srv), stream=True))
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_tool_call_deltas(srv: ScriptedServer) -> None:
    args = '{"name": "Ada", "age": 36}'
    srv.push(stream(tool_args=args, tool_name="person", chunk_size=4))
    chunks = list(_create(_client(srv), stream=True))
    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    assert first.tool_calls is not None
    assert first.tool_calls[0].id is not None
    assert first.tool_calls[0].function is not None
    assert first.tool_calls[0].function.name == "person"
    rest = [c.choices[0].delta.tool_calls for c in chunks[1:-1]]
    assert all(tc is not None and tc[0].index == 0 and tc[0].id is None for tc in rest)
    joined = "".join(tc[0].function.arguments for tc in rest if tc and tc[0].function)
    assert json.loads(joined) == {"name": "Ada", "age": 36}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_stream_chunks_are_flushed_as_they_are_produced(srv: ScriptedServer) -> None:
    srv.push(stream("abcdef", chunk_size=2, delay=0.15))
    started = time.perf_counter()
    iterator = iter(_create(_client(srv), stream=True))
    next(iterator)
    first_at = time.perf_counter() - started
    rest = list(iterator)
    total = time.perf_counter() - started
    assert len(rest) == 4  # three pieces and the finish chunk
    assert total > 0.7  # five chunks, 0.15 s apart
    assert total - first_at > 0.5  # the first chunk arrived before the rest were written


def test_chunked_cut_stream_raises_connection_error_after_partial_chunks(
    srv: ScriptedServer,
) -> None:
    srv.push(stream("0123456789abcdef", chunk_size=4, drop_after=2))
    received: list[Any] = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in _create(_client(srv), stream=True, stream_options={"include_usage": True}):
            received.append(chunk)
    assert "incomplete chunked read" in str(info.value.__cause__)
    text, finishes, usage = _collect(received)
    assert text == "01234567"
    assert finishes == [None, None, None]
    assert usage is None


def test_close_framed_cut_stream_ends_quietly_without_finish_reason(srv: ScriptedServer) -> None:
    srv.push(stream("0123456789abcdef", chunk_size=4, drop_after=3, framing="close"))
    text, finishes, _ = _collect(_create(_client(srv), stream=True))
    assert text == "0123456789ab"
    assert finishes == [None, None, None, None]


def test_close_framed_full_stream_completes(srv: ScriptedServer) -> None:
    srv.push(stream("0123456789", chunk_size=4, framing="close"), completion("next"))
    client = _client(srv)
    text, finishes, _ = _collect(_create(client, stream=True))
    assert (text, finishes[-1]) == ("0123456789", "stop")
    assert _create(client).choices[0].message.content == "next"


def test_sdk_stream_helper_accumulates_and_shows_quiet_truncation(srv: ScriptedServer) -> None:
    srv.push(
        stream('{"a": 1}', chunk_size=3),
        stream('{"a": 1}', chunk_size=3, drop_after=1, framing="close"),
    )
    client = _client(srv)
    with client.chat.completions.stream(model="gpt-test", messages=MESSAGES) as events:
        full = events.get_final_completion().choices[0]
    assert (full.message.content, full.finish_reason) == ('{"a": 1}', "stop")
    with client.chat.completions.stream(model="gpt-test", messages=MESSAGES) as events:
        cut = events.get_final_completion().choices[0]
    finish: object = cut.finish_reason  # typed as a non-None Literal, but None here
    assert (cut.message.content, finish) == ('{"a', None)


def test_client_recovers_after_cut_stream(srv: ScriptedServer) -> None:
    srv.push(stream("abcdefgh", drop_after=0), completion("fine"))
    client = _client(srv)
    with pytest.raises(openai.APIConnectionError):
        list(_create(client, stream=True))
    assert _create(client).choices[0].message.content == "fine"


# ------------------------------------------------------------------ async client


@pytest.mark.asyncio
async def test_async_completion_and_stream(srv: ScriptedServer) -> None:
    srv.push(completion(tool_args='{"x": 1}'), stream("async text", chunk_size=3))
    client = _async_client(srv)
    result = await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    tool_calls = result.choices[0].message.tool_calls
    assert tool_calls is not None
    assert isinstance(tool_calls[0], ChatCompletionMessageFunctionToolCall)
    assert tool_calls[0].function.arguments == '{"x": 1}'
    events = await client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in events]
    assert _collect(chunks)[:2] == ("async text", [None] * 5 + ["stop"])
    await client.close()


@pytest.mark.asyncio
async def test_async_cut_stream_raises_connection_error(srv: ScriptedServer) -> None:
    srv.push(stream("0123456789", chunk_size=2, drop_after=1))
    client = _async_client(srv)
    received: list[Any] = []
    events = await client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for chunk in events:
            received.append(chunk)
    assert _collect(received)[:2] == ("01", [None, None])
    await client.close()


@pytest.mark.asyncio
async def test_async_error_is_raised(srv: ScriptedServer) -> None:
    srv.push(error(401, "bad key", type="authentication_error"))
    client = _async_client(srv)
    with pytest.raises(openai.AuthenticationError, match="bad key"):
        await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    await client.close()


# ------------------------------------------------------------------ recording


def test_requests_are_recorded_with_bodies_and_headers(srv: ScriptedServer) -> None:
    srv.push(completion("x"))
    _create(_client(srv), temperature=0.0, response_format={"type": "json_object"})
    [record] = srv.requests
    assert record.method == "POST"
    assert record.path == "/v1/chat/completions"
    assert record.headers["authorization"] == "Bearer test"
    assert record.headers["content-type"] == "application/json"
    assert record.body == {
        "model": "gpt-test",
        "messages": MESSAGES,
        "temperature": 0.0,
        "response_format": {"type": "json_object"},
    }
    assert json.loads(record.raw_body) == record.body
    assert srv.bodies() == [record.body]


def test_reset_forgets_requests_and_queue(srv: ScriptedServer) -> None:
    srv.push(completion("x"), completion("y"))
    _create(_client(srv))
    srv.reset()
    assert (srv.requests, srv.pending) == ([], 0)


# ------------------------------------------------------------------ routes and HTTP layer


def test_unknown_route_is_404(srv: ScriptedServer) -> None:
    with pytest.raises(openai.NotFoundError, match="no route for GET /v1/files"):
        _client(srv).files.list()


def test_custom_route_with_path_params_and_state(srv: ScriptedServer) -> None:
    def get_model(server: ScriptedServer, request: RecordedRequest) -> Reply:
        server.state.setdefault("seen", []).append(request.path_params["model_id"])
        model = {"id": request.path_params["model_id"], "object": "model", "created": 0}
        return json_reply({**model, "owned_by": "me"})

    srv.add_route("GET", "/v1/models/{model_id}", get_model)
    assert _client(srv).models.retrieve("abc").id == "abc"
    assert srv.state["seen"] == ["abc"]


def test_handler_exception_becomes_500_and_is_kept(srv: ScriptedServer) -> None:
    def broken(body: Any) -> Reply:
        raise RuntimeError("boom")

    srv.default = broken
    with pytest.raises(openai.InternalServerError, match="boom"):
        _create(_client(srv))
    assert [str(e) for e in srv.errors] == ["boom"]


def test_keep_alive_serves_several_requests_on_one_connection(srv: ScriptedServer) -> None:
    srv.push(completion("one"), completion("two"))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    contents = []
    for _ in range(2):
        conn.request("POST", "/v1/chat/completions", body=b"{}", headers=JSON_HEADERS)
        response = conn.getresponse()
        contents.append(json.loads(response.read())["choices"][0]["message"]["content"])
        assert not response.will_close
    sock_before = conn.sock
    conn.request("GET", "/v1/models")
    assert json.loads(conn.getresponse().read())["object"] == "list"
    assert conn.sock is sock_before
    conn.close()
    assert contents == ["one", "two"]


def test_chunked_request_body_is_decoded(srv: ScriptedServer) -> None:
    srv.push(completion("ok"))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    body = iter([b'{"model": ', b'"chunky"}'])
    headers = {"content-type": "application/json"}
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers, encode_chunked=True)
    assert conn.getresponse().status == 200
    conn.close()
    assert srv.bodies() == [{"model": "chunky"}]


def test_stop_returns_promptly_with_idle_keep_alive_connections() -> None:
    server = ScriptedServer(completion("x")).start()
    client = _client(server)
    _create(client)  # leaves a pooled keep-alive connection open
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 2.0
    server.stop()  # idempotent
    client.close()


# ------------------------------------------------------------------ concurrency


def test_32_concurrent_requests_with_latency_run_in_parallel() -> None:
    with ScriptedServer(latency=0.2) as server:
        server.default = lambda body: completion(body["messages"][0]["content"])
        client = _client(server)

        def one(i: int) -> str | None:
            messages: Any = [{"role": "user", "content": f"req {i}"}]
            result = client.chat.completions.create(model="gpt-test", messages=messages)
            return result.choices[0].message.content

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=32) as pool:
            contents = list(pool.map(one, range(32)))
        elapsed = time.perf_counter() - started
        client.close()
    assert contents == [f"req {i}" for i in range(32)]
    assert len(server.requests) == 32
    assert elapsed < 32 * 0.2 / 3  # serial would take 6.4 s


@pytest.mark.asyncio
async def test_64_concurrent_async_requests_with_latency() -> None:
    with ScriptedServer(latency=0.2) as server:
        server.default = lambda body: completion(body["messages"][0]["content"])
        client = _async_client(server)

        async def one(i: int) -> str | None:
            messages: Any = [{"role": "user", "content": f"req {i}"}]
            result = await client.chat.completions.create(model="gpt-test", messages=messages)
            return result.choices[0].message.content

        started = time.perf_counter()
        contents = await asyncio.gather(*(one(i) for i in range(64)))
        elapsed = time.perf_counter() - started
        await client.close()
    assert contents == [f"req {i}" for i in range(64)]
    assert elapsed < 64 * 0.2 / 4  # serial would take 12.8 s


def test_push_is_thread_safe_under_concurrent_consumers(srv: ScriptedServer) -> None:
    srv.push(*(completion(str(i)) for i in range(40)))
    client = _client(srv)
    barrier = threading.Barrier(8)

    def drain(_: int) -> list[str | None]:
        barrier.wait()
        return [_create(client).choices[0].message.content for _ in range(5)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = [c for batch in pool.map(drain, range(8)) for c in batch]
    assert sorted(got, key=lambda s: int(s or -1)) == [str(i) for i in range(40)]
    assert srv.pending == 0
