"""Fallback and escalation over several scripted loopback endpoints, through the one loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from extractkit import (
    AsyncExtractor,
    ConfigurationError,
    DeadlineError,
    ExtractionError,
    Extractor,
    InputError,
    extract,
)
from extractkit.endpoints import Endpoint
from extractkit.pricing import Price
from tests.scripted_server import ScriptedServer, completion, delayed, error

GOOD = '{"name": "Ada"}'


class Person(BaseModel):
    name: str


@pytest.fixture
def servers() -> Iterator[tuple[ScriptedServer, ScriptedServer, ScriptedServer]]:
    with ScriptedServer() as a, ScriptedServer() as b, ScriptedServer() as c:
        yield a, b, c


def ep(name: str, srv: ScriptedServer, **kw: object) -> Endpoint:
    return Endpoint(name, base_url=srv.base_url, model=f"model-{name}", **kw)  # type: ignore[arg-type]


def test_failover_on_transport_failure_after_that_endpoints_retries(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(error(429, headers={"retry-after-ms": "1"}), error(503, type="server_error"))
    b.push(completion(GOOD, usage=(7, 3)))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=1)
    result = ex.extract_result(Person, "Ada.")
    assert result.value == Person(name="Ada") and result.endpoint == "b"
    assert len(a.bodies()) == 2  # a's own retry came first
    assert [b_["model"] for b_ in b.bodies()] == ["model-b"]
    assert [x.endpoint for x in result.attempts] == ["b"]
    assert result.usage.total_tokens == 10


@pytest.mark.parametrize("status", [401, 403, 404])
def test_failover_on_the_endpoints_fatal_errors(servers, status: int) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(error(status, "nope"))
    b.push(completion(GOOD))
    result = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)]).extract_result(Person, "A.")
    assert result.endpoint == "b" and len(a.bodies()) == 1


def test_failover_when_the_endpoint_runs_out_of_its_deadline(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(delayed(completion(GOOD), 2.0))
    b.push(completion(GOOD))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], timeout=0.3)
    result = ex.extract_result(Person, "A.")
    assert result.endpoint == "b"


def test_escalation_after_that_endpoints_reasks_gets_the_original_request(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(completion('{"nom": 1}'), completion('{"nom": 2}'))
    b.push(completion(GOOD))
    ex = Extractor(endpoint=ep("a", a, profile="openai"), fallback=[ep("b", b, profile="llamacpp")],
                   max_retries=1)
    result = ex.extract_result(Person, "Ada.")
    assert result.endpoint == "b"
    assert [x.endpoint for x in result.attempts] == ["a", "a", "b"]
    assert [x.ok for x in result.attempts] == [False, False, True]
    first_a, retry_a = a.bodies()
    (only_b,) = b.bodies()
    assert len(retry_a["messages"]) == len(first_a["messages"]) + 2  # a's own re-ask
    # the original request (no re-ask of a's), compiled for b's profile: strict json_schema
    # for openai; json_object for llama.cpp, with the schema sketched in the system message
    assert len(only_b["messages"]) == len(first_a["messages"]) == 2
    assert only_b["messages"][1] == first_a["messages"][1] == {"role": "user", "content": "Ada."}
    assert '"name": string' in only_b["messages"][0]["content"]
    assert first_a["response_format"]["type"] == "json_schema"
    assert first_a["response_format"]["json_schema"]["strict"] is True
    assert only_b["response_format"]["type"] == "json_object"
    assert only_b["model"] == "model-b"


def test_escalate_with_errors_shows_the_next_model_the_last_answer_and_its_errors(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(completion('{"nom": "Ada"}'))
    b.push(completion(GOOD))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], max_retries=0,
                   escalate_with_errors=True)
    assert ex.extract_result(Person, "Ada.").endpoint == "b"
    (first_a,) = a.bodies()
    (only_b,) = b.bodies()
    assert only_b["messages"][: len(first_a["messages"])] == first_a["messages"]
    carried = only_b["messages"][len(first_a["messages"]):]
    assert carried[0] == {"role": "assistant", "content": '{"nom": "Ada"}'}
    assert carried[1]["role"] == "user" and "name" in carried[1]["content"]


def test_when_every_endpoint_fails_the_last_error_is_raised_with_every_attempt(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(error(500, type="server_error"))
    b.push(completion('{"nom": 1}'))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], max_retries=0,
                   transport_retries=0)
    with pytest.raises(ExtractionError) as info:
        ex.extract(Person, "A.")
    assert [x.endpoint for x in info.value.attempts] == ["b"]
    assert info.value.endpoint == "b"  # type: ignore[attr-defined]
    assert [(f.endpoint, f.reason) for f in info.value.fallbacks] == [("a", "transport")]  # type: ignore[attr-defined]
    assert "a: transport" in info.value.__notes__[0]


def test_errors_no_endpoint_would_avoid_do_not_fall_back(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)])
    with pytest.raises(InputError):
        ex.extract(Person, "   ")
    assert a.requests == [] and b.requests == []


def test_a_fallback_endpoints_missing_key_variable_fails_before_any_request(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b, api_key_env="NOT_SET_ANYWHERE")])
    with pytest.raises(ConfigurationError, match=r"'b'.*NOT_SET_ANYWHERE"):
        ex.extract(Person, "A.")
    assert a.requests == []


def test_the_primary_may_be_a_client_and_fallback_names_come_from_the_config(
        servers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    config = tmp_path / "extractkit.toml"
    config.write_text(f'[endpoints.b]\nbase_url = "{b.base_url}"\nmodel = "mb"\n')
    a.push(error(404, "no such model"))
    b.push(completion(GOOD))
    client = openai.OpenAI(base_url=a.base_url, api_key="sk-a", max_retries=0)
    ex = Extractor(client, model="ma", fallback=["b"], config=config)
    result = ex.extract_result(Person, "A.")
    assert result.endpoint == "b" and b.bodies()[0]["model"] == "mb"
    with pytest.raises(ConfigurationError, match="no endpoint named 'zz'"):
        Extractor(client, model="ma", fallback=["zz"], config=config).extract(Person, "A.")


def test_each_attempt_says_what_it_cost_by_its_endpoints_price(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(completion('{"nom": 1}', usage=(1000, 100)))
    b.push(completion(GOOD, usage=(2000, 200)))
    ex = Extractor(endpoint=ep("a", a, price=Price(1.0, 2.0)),
                   fallback=[ep("b", b, price=Price(10.0, 20.0))], max_retries=0)
    result = ex.extract_result(Person, "A.")
    assert [x.cost for x in result.attempts] == pytest.approx([0.0012, 0.024])


def test_async_extractor_falls_back_through_the_same_chain(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(error(401, "bad key"))
    b.push(completion(GOOD))

    async def main() -> str | None:
        ex = AsyncExtractor(endpoint=ep("a", a), fallback=[ep("b", b)])
        return (await ex.extract_result(Person, "A.")).endpoint

    assert asyncio.run(main()) == "b"


def test_map_falls_back_per_item_and_items_count_every_endpoints_tokens(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: completion('{"nom": 1}', usage=(5, 1))
    b.default = lambda body: completion(GOOD, usage=(7, 3))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], max_retries=0)
    items = list(ex.map(Person, [f"text {i}" for i in range(6)], concurrency=3))
    assert len(items) == 6 and all(item.ok for item in items)
    assert {item.result.endpoint for item in items if item.result} == {"b"}
    assert all(item.usage.total_tokens == 16 for item in items)
    with pytest.raises(ConfigurationError, match="cache"):
        list(ex.map(Person, ["x"], cache=":memory:"))


def test_async_map_and_extract_functions_fall_back(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: error(500, type="server_error")
    b.default = lambda body: completion(GOOD)

    @extract(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0)
    def person(text: str) -> Person:
        """Who? {{ text }}"""

    @extract(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0)
    async def aperson(text: str) -> Person:
        """Who? {{ text }}"""

    assert person.result("Ada.").endpoint == "b"
    assert [i.result.endpoint for i in person.map(["x", "y"]) if i.result] == ["b", "b"]

    async def main() -> list[str | None]:
        one = (await aperson.result("Ada.")).endpoint
        many = [i.result.endpoint async for i in aperson.map(["x", "y"]) if i.result]
        ex = AsyncExtractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0)
        more = [i.result.endpoint async for i in ex.map(Person, ["x"]) if i.result]
        return [one, *many, *more]

    assert asyncio.run(main()) == ["b", "b", "b", "b"]


def test_an_endpoints_concurrency_bounds_its_requests_in_flight(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.default = lambda body: error(500, type="server_error")
    import threading

    live, peak, lock = [0], [0], threading.Lock()

    def answer(body: object) -> object:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        import time

        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return completion(GOOD)

    b.default = answer  # type: ignore[assignment]
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b, concurrency=2)],
                   transport_retries=0)
    items = list(ex.map(Person, [f"t{i}" for i in range(8)], concurrency=8))
    assert all(item.ok for item in items)
    assert peak[0] == 2


def test_a_deadline_error_of_the_last_endpoint_is_raised(servers) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = servers
    a.push(error(500, type="server_error"))
    b.push(delayed(completion(GOOD), 2.0))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0, timeout=0.3)
    # the deadline cut, or the SDK's own read timeout set to what was left: whichever is first
    with pytest.raises((DeadlineError, openai.APITimeoutError)) as info:
        ex.extract(Person, "A.")
    assert info.value.endpoint == "b"  # type: ignore[union-attr]
    assert [(f.endpoint, f.reason) for f in info.value.fallbacks] == [("a", "transport")]  # type: ignore[union-attr]


def test_streaming_falls_back_before_the_first_snapshot_only(servers) -> None:  # type: ignore[no-untyped-def]
    from tests.scripted_server import stream

    a, b, _ = servers
    a.push(error(503, type="server_error"))
    b.push(stream(GOOD))
    ex = Extractor(endpoint=ep("a", a), fallback=[ep("b", b)], transport_retries=0)
    snapshots = list(ex.stream(Person, "Ada."))
    assert snapshots[-1].done and snapshots[-1].value == Person(name="Ada")
    assert snapshots[-1].result is not None and snapshots[-1].result.endpoint == "b"
    # partial values were shown from a: its later failure is raised, not hidden by b
    a.push(stream('{"name": "Ad', drop_after=1), stream('{"name": "Ad', drop_after=1))
    b.push(stream(GOOD))
    with pytest.raises(Exception):  # noqa: B017 - the cut stream's own error
        list(ex.with_options(transport_retries=1).stream(Person, "Ada."))
    assert b.pending == 1

    async def main() -> str | None:
        a.push(error(401, "bad key"))
        b.reset()
        b.push(stream(GOOD))
        aex = AsyncExtractor(endpoint=ep("a", a), fallback=[ep("b", b)])
        last = [s async for s in aex.stream(Person, "Ada.")][-1]
        return last.result.endpoint if last.result else None

    assert asyncio.run(main()) == "b"


def test_cli_fallback_from_the_config_in_the_working_directory(servers, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.cli_runner import run_cli

    a, b, _ = servers
    a.default = lambda body: error(500, type="server_error")
    b.default = lambda body: completion(GOOD, usage=(1000, 100))
    (tmp_path / "extractkit.toml").write_text(f"""
default = "a"
[endpoints.a]
base_url = "{a.base_url}"
model = "ma"
[endpoints.b]
base_url = "{b.base_url}"
model = "mb"
price = {{input = 1.0, output = 2.0}}
""")
    (tmp_path / "person.json").write_text(json.dumps(Person.model_json_schema()))
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"Ada {i}.")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("run", "person.json", "0.txt", "1.txt", "2.txt", "--fallback", "b",
                           "--transport-retries", "0", "-o", "out.jsonl")
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["endpoint"] for r in records] == ["b", "b", "b"]
    assert records[0]["attempts"] == [{"endpoint": "b", "model": "scripted-model",
                                       "usage": records[0]["usage"], "cost": 0.0012}]
    assert len(a.bodies()) == 3 and len(b.bodies()) == 3
    assert "$0.0036" in err  # the summary's cost: each attempt at its endpoint's price
    code, _, err = run_cli("run", "person.json", "0.txt", "--transport-retries", "0")
    assert code == 1 and "500" in err  # the file's default, a, with no fallback named


def test_an_endpoints_concurrency_bounds_async_requests_too(servers) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    a, b, _ = servers
    a.default = lambda body: error(500, type="server_error")
    live, peak, lock = [0], [0], threading.Lock()

    def answer(body: object) -> object:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return completion(GOOD)

    b.default = answer  # type: ignore[assignment]

    async def main() -> list[bool]:
        ex = AsyncExtractor(endpoint=ep("a", a), fallback=[ep("b", b, concurrency=3)],
                            transport_retries=0)
        return [item.ok async for item in ex.map(Person, [f"t{i}" for i in range(9)],
                                                  concurrency=9)]

    assert asyncio.run(main()) == [True] * 9
    assert peak[0] == 3
