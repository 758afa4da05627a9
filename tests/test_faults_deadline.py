"""Each extraction has a deadline (``timeout=``, ``--timeout``), retries and re-asks
included: hanging and trickling servers, long Retry-After hints, batches."""

from __future__ import annotations

import asyncio
import io
import json
import math
import time

import openai
import pytest
from pydantic import BaseModel

from extractkit import (
    AsyncExtractor,
    ConfigurationError,
    DeadlineError,
    ExtractionError,
    Extractor,
)
from extractkit.cli import main
from extractkit.settings import DEFAULT_TIMEOUT, Settings
from tests.hostile_server import HostileServer
from tests.scripted_server import completion, error


class Person(BaseModel):
    name: str
    age: int


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0)


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_a_server_that_hangs_or_trickles_cannot_hold_an_extraction_past_its_timeout(behaviour):
    with HostileServer(behaviour) as srv:
        ex = Extractor(_client(srv.base_url), model="m", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(DeadlineError) as caught:
            ex.extract(Person, "Ada, 36")
        took = time.monotonic() - started
    assert 0.9 < took < 3.0
    assert isinstance(caught.value, ExtractionError)
    assert caught.value.timeout == 1.0
    assert "timeout of 1 s" in str(caught.value)


def test_a_trickling_stream_is_cut_at_the_deadline():
    with HostileServer("trickle-stream", interval=0.05) as srv:
        ex = Extractor(_client(srv.base_url), model="m", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(DeadlineError):
            for _ in ex.stream(Person, "Ada, 36"):
                pass
    assert time.monotonic() - started < 3.0


def test_the_async_front_door_has_the_same_deadline():
    async def go() -> float:
        with HostileServer("trickle") as srv:
            client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
            ex = AsyncExtractor(client, model="m", timeout=1.0)
            started = time.monotonic()
            with pytest.raises(DeadlineError):
                await ex.extract(Person, "Ada, 36")
            took = time.monotonic() - started
            await client.close()
            return took

    assert asyncio.run(go()) < 3.0


def test_a_retry_after_longer_than_what_is_left_fails_at_once(server, client):
    server.default = lambda body: error(429, "slow down", headers={"retry-after": "120"})
    ex = Extractor(client, model="m", timeout=5.0)
    started = time.monotonic()
    with pytest.raises(DeadlineError) as caught:
        ex.extract(Person, "Ada, 36")
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 1
    message = str(caught.value)
    assert "asked to wait 120 s" in message and "timeout of 5 s" in message
    assert isinstance(caught.value.__context__, openai.RateLimitError)


def test_short_retry_after_hints_are_still_followed_within_the_deadline(server, client):
    server.push(error(429, "slow down", headers={"retry-after-ms": "50"}),
                completion('{"name": "Ada", "age": 36}'))
    ex = Extractor(client, model="m", timeout=5.0)
    assert ex.extract(Person, "Ada, 36") == Person(name="Ada", age=36)
    assert len(server.requests) == 2


def test_re_asks_count_against_the_same_deadline(server, client):
    # every answer is invalid and slow: the re-asks stop at the deadline, with the attempts
    server.default = lambda body: _slow(completion('{"name": "Ada"}'), 0.4)
    ex = Extractor(client, model="m", timeout=1.0, max_retries=10)
    started = time.monotonic()
    with pytest.raises(DeadlineError) as caught:
        ex.extract(Person, "Ada, 36")
    assert time.monotonic() - started < 2.5
    assert 1 <= len(caught.value.attempts) <= 3  # the answers received before time ran out
    assert all(not a.ok for a in caught.value.attempts)


def _slow(reply, seconds):
    from tests.scripted_server import delayed

    return delayed(reply, seconds)


def test_each_request_carries_the_time_left_as_its_sdk_timeout(server, client):
    server.default = lambda body: completion('{"name": "Ada", "age": 36}')
    Extractor(client, model="m", timeout=7.0).extract(Person, "Ada, 36")
    read_timeout = float(server.requests[0].headers["x-stainless-read-timeout"])
    assert 6.0 < read_timeout <= 7.0


def test_in_a_batch_a_late_item_fails_alone():
    with HostileServer("hang") as hang:
        ex = Extractor(_client(hang.base_url), model="m", timeout=0.5)
        started = time.monotonic()
        items = list(ex.map(Person, [("a", "Ada"), ("b", "Bob"), ("c", "Cy")], concurrency=3))
    assert time.monotonic() - started < 2.5
    assert sorted(i.id for i in items) == ["a", "b", "c"]
    assert all(isinstance(i.error, DeadlineError) for i in items)


def test_the_cli_takes_timeout_seconds(tmp_path, monkeypatch):
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
        code = main(["run", str(schema), str(doc), "--model", "m", "--timeout", "1"],
                    out=out, err=err)
    assert time.monotonic() - started < 3.0
    assert code == 1
    assert "timeout of 1 s" in err.getvalue()
    assert out.getvalue() == ""


def test_the_cli_rejects_a_timeout_that_is_not_positive(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "string"}}}))
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    err = io.StringIO()
    code = main(["run", str(schema), str(doc), "--model", "m", "--base-url",
                 "http://127.0.0.1:9/v1", "--timeout", "0"], out=io.StringIO(), err=err)
    assert code == 2
    assert "timeout must be a positive number" in err.getvalue()


@pytest.mark.parametrize("bad", [0, -1, "5", True, math.nan])
def test_bad_timeouts_are_configuration_errors(bad):
    with pytest.raises(ConfigurationError, match="timeout"):
        Settings.of(timeout=bad)


def test_the_default_deadline_and_none():
    assert Settings().resolve().timeout == DEFAULT_TIMEOUT == 600.0
    assert Settings.of(timeout=math.inf).resolve().timeout == math.inf


def test_the_cli_timeout_is_the_settings_default_unless_given():
    from extractkit.cli import _parser, _settings
    from extractkit.settings import DEFAULT_TIMEOUT

    args = _parser().parse_args(["run", "schema.py", "in.txt"])
    assert "timeout" not in _settings(args)
    assert Settings.of(**_settings(args)).resolve().timeout == DEFAULT_TIMEOUT
    args = _parser().parse_args(["run", "schema.py", "in.txt", "--timeout", "7"])
    assert _settings(args)["timeout"] == 7
