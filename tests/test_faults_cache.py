"""``--cache`` / ``cache=`` never replays an answer that was not a success."""

from __future__ import annotations

import asyncio
import io

import openai
import pytest
from pydantic import BaseModel, field_validator

from extractkit import AsyncExtractor, Extractor, ResponseCache
from extractkit.cache import cached
from extractkit.cli import main
from tests.scripted_server import completion, json_reply

VALID = '{"name": "Ada", "age": 36}'


class Person(BaseModel):
    name: str
    age: int


def _no_choices():
    return json_reply({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                       "choices": []})


BAD_ANSWERS = {
    "no choices": _no_choices,
    "content filter": lambda: completion('{"name": "Ada", "age": 3', finish_reason="content_filter"),
    "cut at the token limit": lambda: completion(VALID, finish_reason="length"),
    "invalid": lambda: completion('{"name": "Ada"}'),
    "refusal": lambda: completion(None, refusal="I will not"),
}


@pytest.mark.parametrize("bad", list(BAD_ANSWERS))
def test_an_answer_that_was_not_a_success_is_never_stored(server, client, tmp_path, bad):
    path = tmp_path / "cache.sqlite"
    ex = Extractor(client, model="m", max_retries=0)
    server.default = lambda body: BAD_ANSWERS[bad]()
    with ResponseCache(path) as cache:
        [item] = ex.map(Person, [("a", "Ada, 36")], cache=cache)
        assert not item.ok
        assert len(cache) == 0
    # the rerun asks the endpoint again, and keeps the good answer it gets
    server.default = lambda body: completion(VALID)
    with ResponseCache(path) as cache:
        [item] = ex.map(Person, [("a", "Ada, 36")], cache=cache)
        assert item.ok and not item.cached
        assert len(cache) == 1
    asked = len(server.requests)
    with ResponseCache(path) as cache:
        [item] = ex.map(Person, [("a", "Ada, 36")], cache=cache)
        assert item.ok and item.cached
    assert len(server.requests) == asked  # replayed


def test_an_invalid_first_answer_is_not_stored_but_the_valid_re_ask_is(server, client, tmp_path):
    server.push(completion('{"name": "Ada"}'), completion(VALID))
    ex = Extractor(client, model="m", max_retries=1)
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        [item] = ex.map(Person, [("a", "Ada, 36")], cache=cache)
        assert item.ok
        assert len(cache) == 1  # the re-ask's answer, under the re-ask's request


class Young(BaseModel):
    name: str
    age: int

    @field_validator("age")
    @classmethod
    def _young(cls, age: int) -> int:
        if age > 30:
            raise ValueError("too old")
        return age


Young.__name__ = "Person"  # the same request (same schema name and shape), a stricter validator


def test_a_cached_answer_that_no_longer_validates_is_dropped(server, client, tmp_path):
    path = tmp_path / "c.sqlite"
    server.default = lambda body: completion(VALID)
    backend = cached(client, path)
    assert Extractor(backend, model="m").extract(Person, "Ada, 36").age == 36
    assert len(backend.cache) == 1
    asked = len(server.requests)
    with pytest.raises(Exception, match="too old"):
        Extractor(backend, model="m", max_retries=0).extract(Young, "Ada, 36")
    assert len(server.requests) == asked  # it was a hit...
    assert len(backend.cache) == 0  # ...and is gone now


def test_the_async_cache_keeps_only_successes(server, tmp_path):
    server.push(completion('{"name": "Ada"}'), completion(VALID))

    async def go() -> int:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-t", max_retries=0)
        backend = cached(client, tmp_path / "c.sqlite")
        person = await AsyncExtractor(backend, model="m", max_retries=1).extract(Person, "Ada")
        assert person.age == 36
        await client.close()
        return len(backend.cache)

    assert asyncio.run(go()) == 1


def test_the_cli_single_input_cache_does_not_replay_a_failure(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n"
                      "    name: str\n    age: int\n")
    doc = tmp_path / "doc.txt"
    doc.write_text("Ada, 36")
    argv = ["run", str(schema), str(doc), "--model", "m", "--max-retries", "0",
            "--cache-path", str(tmp_path / "c.sqlite")]
    server.default = lambda body: completion(VALID, finish_reason="content_filter")
    assert main(argv, out=io.StringIO(), err=io.StringIO()) == 1
    server.default = lambda body: completion(VALID)
    out = io.StringIO()
    assert main(argv, out=out, err=io.StringIO()) == 0
    assert '"age": 36' in out.getvalue()
    assert len(server.requests) == 2
