"""The deadline holds by default: no ``timeout=`` given, every path (sync, async,
streamed both ways, map, the response cache) cuts a hanging or trickling server
mid-flight at the default deadline.

The default (600 s) is lowered for these tests by patching
``extractkit.settings.DEFAULT_TIMEOUT``, which is what an extraction without
``timeout=`` resolves to; the servers trickle one byte every half second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel

from extractkit import AsyncExtractor, DeadlineError, Extractor
from extractkit.backends.http_deadline import DEADLINE
from extractkit.cache import cached
from extractkit.testing import FunctionModel
from tests.hostile_server import BODY, HostileServer

DEFAULT = 1.5
#: the deadline, plus one trickled byte, plus slack for a shared, busy machine
LATEST = DEFAULT + 1.2


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(autouse=True)
def _short_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("extractkit.settings.DEFAULT_TIMEOUT", DEFAULT)


@pytest.fixture
def in_http_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a call is cut from outside (worker thread, asyncio.wait) instead of by the
    openai backend's own HTTP layer."""

    def outside(*args: Any) -> Any:
        raise AssertionError("cut from outside the HTTP layer")

    for module in ("extractkit.drivers.send", "extractkit.drivers.stream"):
        monkeypatch.setattr(f"{module}.call_within", outside)
        monkeypatch.setattr(f"{module}.within", outside)


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0)


def _aclient(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0)


def _check(error: BaseException, took: float) -> None:
    assert isinstance(error, DeadlineError)
    assert error.timeout == DEFAULT
    assert f"timeout of {DEFAULT:g} s" in str(error)
    assert DEFAULT - 0.1 < took < LATEST, took


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_sync_extract_is_cut_at_the_default_deadline(behaviour, in_http_layer):
    with HostileServer(behaviour) as srv:
        client = _client(srv.base_url)
        ex = Extractor(client, model="m")
        assert ex._engine.resolved.timeout == DEFAULT
        started = time.monotonic()
        with pytest.raises(DeadlineError) as caught:
            ex.extract(Person, "Ada, 36")
        _check(caught.value, time.monotonic() - started)
        assert srv.requests == 1  # no retry is started once the deadline has passed
        client.close()


def test_async_extract_is_cut_at_the_default_deadline(in_http_layer):
    async def go() -> tuple[BaseException, float]:
        with HostileServer("trickle") as srv:
            client = _aclient(srv.base_url)
            started = time.monotonic()
            with pytest.raises(DeadlineError) as caught:
                await AsyncExtractor(client, model="m").extract(Person, "Ada, 36")
            took = time.monotonic() - started
            await client.close()
            return caught.value, took

    _check(*asyncio.run(go()))


def test_a_sync_stream_is_cut_at_the_default_deadline(in_http_layer):
    with HostileServer("trickle-stream") as srv:
        ex = Extractor(_client(srv.base_url), model="m")
        started = time.monotonic()
        with pytest.raises(DeadlineError) as caught:
            for _ in ex.stream(Person, "Ada, 36"):
                pass
        _check(caught.value, time.monotonic() - started)


def test_an_async_stream_is_cut_at_the_default_deadline(in_http_layer):
    async def go() -> tuple[BaseException, float]:
        with HostileServer("trickle-stream") as srv:
            client = _aclient(srv.base_url)
            started = time.monotonic()
            with pytest.raises(DeadlineError) as caught:
                async for _ in AsyncExtractor(client, model="m").stream(Person, "Ada, 36"):
                    pass
            took = time.monotonic() - started
            await client.close()
            return caught.value, took

    _check(*asyncio.run(go()))


def test_every_item_of_a_map_is_cut_at_the_default_deadline(tmp_path, in_http_layer):
    with HostileServer("trickle") as srv:
        ex = Extractor(_client(srv.base_url), model="m")
        started = time.monotonic()
        items = list(ex.map(Person, [("a", "Ada"), ("b", "Bob"), ("c", "Cy")], concurrency=3,
                            cache=tmp_path / "cache.sqlite"))
        took = time.monotonic() - started
    assert sorted(i.id for i in items) == ["a", "b", "c"]
    for item in items:
        assert isinstance(item.error, DeadlineError)
    assert DEFAULT - 0.1 < took < LATEST


def test_every_item_of_an_async_map_is_cut_at_the_default_deadline(in_http_layer):
    async def go() -> tuple[list[Any], float]:
        with HostileServer("trickle") as srv:
            client = _aclient(srv.base_url)
            started = time.monotonic()
            ex = AsyncExtractor(client, model="m")
            items = [i async for i in ex.map(Person, ["Ada", "Bob"], concurrency=2)]
            took = time.monotonic() - started
            await client.close()
            return items, took

    items, took = asyncio.run(go())
    assert len(items) == 2 and all(isinstance(i.error, DeadlineError) for i in items)
    assert DEFAULT - 0.1 < took < LATEST


# -- how the cut is made ------------------------------------------------------------


def _recording_client(seen: list[tuple[str, dict[str, Any]]]) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append((threading.current_thread().name, dict(request.extensions["timeout"])))
        return httpx2.Response(200, content=BODY, headers={"content-type": "application/json"})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", http_client=http)


def test_an_openai_client_is_cut_in_its_http_layer_on_the_callers_thread(in_http_layer):
    seen: list[tuple[str, dict[str, Any]]] = []
    client = _recording_client(seen)
    assert Extractor(client, model="m").extract(Person, "Ada, 36") == Person(name="Ada", age=36)
    thread, timeouts = seen[0]
    assert thread == threading.current_thread().name  # no hand-over to a worker thread
    # every phase waits at most what is left of the (default) deadline
    assert set(timeouts) >= {"connect", "read", "write", "pool"}
    assert all(0 < timeouts[k] <= DEFAULT for k in ("connect", "read", "write", "pool"))
    assert DEADLINE.get() is None  # the deadline does not outlive the call


def test_the_hooks_do_nothing_for_the_callers_own_requests():
    seen: list[tuple[str, dict[str, Any]]] = []
    client = _recording_client(seen)
    Extractor(client, model="m").extract(Person, "Ada, 36")
    Extractor(client, model="m").extract(Person, "Ada, 36")  # the hooks are added once
    assert len(client._client.event_hooks["request"]) == 1
    response = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
    assert seen[-1][1]["read"] == 600  # the SDK's own default, untouched outside an extraction
    assert response.http_response.status_code == 200


def test_other_backends_are_cut_from_a_worker_thread_with_or_without_timeout():
    seen: list[str] = []

    def answer(call: Any) -> dict[str, Any]:
        seen.append(threading.current_thread().name)
        return {"name": "Ann", "age": 3}

    model = FunctionModel(answer)
    Extractor(client=model).extract(Person, "Ann")
    Extractor(client=model, timeout=30).extract(Person, "Ann")
    assert seen == ["extractkit-call", "extractkit-call"]


def test_a_function_model_that_hangs_is_cut_at_the_default_deadline():
    release = threading.Event()

    def answer(call: Any) -> dict[str, Any]:
        release.wait(10)
        return {"name": "Ann", "age": 3}

    started = time.monotonic()
    try:
        with pytest.raises(DeadlineError) as caught:
            Extractor(client=FunctionModel(answer)).extract(Person, "Ann")
    finally:
        release.set()
    _check(caught.value, time.monotonic() - started)


def test_a_cached_openai_backend_still_cuts_in_its_http_layer(tmp_path, in_http_layer):
    with HostileServer("trickle") as srv:
        backend = cached(_client(srv.base_url), tmp_path / "c.sqlite")
        assert backend.cuts_at_deadline
        started = time.monotonic()
        with pytest.raises(DeadlineError) as caught:
            Extractor(client=backend, model="m").extract(Person, "Ada, 36")
        _check(caught.value, time.monotonic() - started)


def test_a_call_cut_from_a_worker_thread_sees_the_callers_context():
    import contextvars

    span: contextvars.ContextVar[str] = contextvars.ContextVar("span", default="none")
    seen: list[str] = []

    def answer(call: Any) -> dict[str, Any]:
        seen.append(f"{threading.current_thread().name}:{span.get()}")
        return {"name": "Ann", "age": 3}

    span.set("extract-1")
    Extractor(client=FunctionModel(answer)).extract(Person, "Ann")
    assert seen == ["extractkit-call:extract-1"]


def test_the_cli_without_timeout_is_cut_at_the_default_deadline(tmp_path, monkeypatch, in_http_layer):
    import io

    from extractkit.cli import main

    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n"
                      "    name: str\n    age: int\n")
    doc = tmp_path / "doc.txt"
    doc.write_text("Ada, 36")
    with HostileServer("trickle") as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        code = main(["run", str(schema), str(doc), "--model", "m"], out=out, err=err)
        took = time.monotonic() - started
    assert code == 1
    assert f"timeout of {DEFAULT:g} s" in err.getvalue()
    assert out.getvalue() == ""
    assert DEFAULT - 0.1 < took < LATEST
