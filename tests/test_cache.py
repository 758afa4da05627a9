"""The on-disk response cache: hits send nothing, the key is the endpoint and the
full request (never the API key)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from extractkit import AsyncExtractor, ConfigurationError, Extractor
from extractkit.backends import OpenAIBackend
from extractkit.cache import (
    AsyncCachedBackend,
    CachedBackend,
    ResponseCache,
    cached,
    request_key,
    served_from_cache,
)
from tests.scripted_server import BodyReply, ScriptedServer, completion

KEY = "sk-test-secret-123"


class Doc(BaseModel):
    number: int


def echo(body: dict[str, Any]) -> BodyReply:
    text = body["messages"][-1]["content"]
    return completion(json.dumps({"number": int(text.split()[-1])}))


def test_second_map_over_the_same_inputs_sends_no_request(server, client, tmp_path):
    server.default = echo
    path = tmp_path / "cache.sqlite"
    ex = Extractor(client=client, model="m")
    texts = [f"n {i}" for i in range(10)]
    first = {i.id: i for i in ex.map(Doc, texts, concurrency=4, cache=path)}
    assert len(server.bodies()) == 10 and not any(i.cached for i in first.values())
    second = {i.id: i for i in ex.map(Doc, texts, concurrency=4, cache=path)}
    assert len(server.bodies()) == 10  # nothing sent
    assert all(i.cached for i in second.values())
    assert {k: v.value for k, v in second.items()} == {k: v.value for k, v in first.items()}
    assert second["3"].usage == first["3"].usage  # the recorded usage comes back too


def test_a_changed_request_is_a_miss(server, client, tmp_path):
    server.default = echo
    cache = ResponseCache(tmp_path / "c.sqlite")
    ex = Extractor(client=client, model="m")
    list(ex.map(Doc, ["n 1"], cache=cache))
    list(ex.with_options(temperature=0.5).map(Doc, ["n 1"], cache=cache))
    list(Extractor(client=client, model="other").map(Doc, ["n 1"], cache=cache))
    list(ex.map(Doc, ["N 1"], cache=cache))
    assert len(server.bodies()) == 4
    list(ex.map(Doc, ["n 1"], cache=cache))
    assert len(server.bodies()) == 4
    assert (cache.hits, cache.misses, len(cache)) == (1, 4, 4)


def test_key_has_the_endpoint_url_but_never_the_api_key(server, tmp_path):
    server.default = echo
    path = tmp_path / "c.sqlite"
    for api_key in ("sk-first-key-aaaa", "sk-second-key-bbbb"):
        client = openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)
        assert Extractor(client=client, model="m").map(Doc, ["n 5"], cache=path).__next__().ok
    assert len(server.bodies()) == 1  # another key, same endpoint: a hit
    with ScriptedServer(default=echo) as other:
        client = openai.OpenAI(base_url=other.base_url, api_key="sk-first-key-aaaa", max_retries=0)
        list(Extractor(client=client, model="m").map(Doc, ["n 5"], cache=path))
        assert len(other.bodies()) == 1  # another endpoint: a miss
    data = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("c.sqlite-*"))
    assert b"sk-first" not in data and b"sk-second" not in data


def test_request_key_ignores_transport_options_and_credentials_in_urls():
    request = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    key = request_key(request, "http://h/v1")
    assert (
        request_key({**request, "extra_headers": {"Authorization": "Bearer s"}}, "http://h/v1")
        == key
    )
    assert request_key({**request, "timeout": 3}, "http://h/v1") == key
    assert request_key({**request, "temperature": 0}, "http://h/v1") != key
    assert request_key(request, "http://other/v1") != key

    class WithUrl:
        client = type("C", (), {"base_url": "https://user:secret@h.example/v1/"})()
        profile = "generic"

    from extractkit.cache import endpoint_of

    assert endpoint_of(WithUrl()) == "https://h.example/v1/"


def test_cached_client_wrapper_for_single_extractions(server, client, tmp_path):
    server.default = echo
    backend = cached(client, tmp_path / "c.sqlite")
    assert isinstance(backend, CachedBackend)
    ex = Extractor(client=backend, model="m")
    first = ex.extract_result(Doc, "n 9")
    second = ex.extract_result(Doc, "n 9")
    assert first.value == second.value == Doc(number=9)
    assert len(server.bodies()) == 1
    assert served_from_cache(second.attempts[0].response)
    assert not served_from_cache(first.attempts[0].response)


async def test_async_map_uses_the_cache(server, aclient, tmp_path):
    server.default = echo
    path = tmp_path / "c.sqlite"
    ex = AsyncExtractor(client=aclient, model="m")
    assert isinstance(cached(aclient, path), AsyncCachedBackend)
    first = [i async for i in ex.map(Doc, ["n 1", "n 2"], cache=path)]
    second = [i async for i in ex.map(Doc, ["n 1", "n 2"], cache=path)]
    assert len(server.bodies()) == 2
    assert all(i.cached for i in second) and not any(i.cached for i in first)


def test_unreadable_rows_are_misses_and_a_bad_file_is_a_configuration_error(
    server, client, tmp_path
):
    server.default = echo
    path = tmp_path / "c.sqlite"
    backend = CachedBackend(OpenAIBackend(client), path)
    request = Extractor(client=client, model="m").render(Doc, "n 4")
    key = request_key(request, backend.url)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO responses VALUES (?, '', 'm', '{\"not\": 1}', 0)", (key,))
    assert Extractor(client=backend, model="m").extract(Doc, "n 4") == Doc(number=4)
    assert len(server.bodies()) == 1
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigurationError, match="response cache"):
        ResponseCache(bad)
