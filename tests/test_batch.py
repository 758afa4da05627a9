"""Batch extraction through the Python API: map over many inputs, sync and async.

Against the scripted server through the real SDK. Answers are derived from the
request (the document text), so every result can be checked against its input id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from extractkit import (
    AsyncExtractor,
    ExtractionError,
    Extractor,
    InputError,
    TemplateError,
    extract,
)
from extractkit.drivers.batch import Gate, ItemResult, ThreadGate
from tests.scripted_server import BodyReply, completion, error


class Doc(BaseModel):
    number: int


def _number(body: dict[str, Any]) -> int:
    """The number in the document text of a request (the first user message)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return int(re.search(r"\d+", user).group())  # type: ignore[union-attr]


def echo(body: dict[str, Any]) -> BodyReply:
    return completion(json.dumps({"number": _number(body)}))


class Concurrency:
    """A server default that sleeps ``delay`` per request and records the peak in flight."""

    def __init__(self, delay: float, answer: Any = echo) -> None:
        self.delay = delay
        self.answer = answer
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> BodyReply:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.delay)
            return self.answer(body)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self.now -= 1


def _values(items: list[ItemResult[Any]]) -> dict[str, int]:
    return {item.id: item.value.number for item in items}


# -- sync ---------------------------------------------------------------------


def test_map_gives_each_input_its_own_result_once(server, client):
    server.default = echo
    ex = Extractor(client=client, model="m")
    inputs = [(f"doc-{i}", f"Document number {i}") for i in range(30)]
    items = list(ex.map(Doc, inputs, concurrency=6))
    assert sorted(item.id for item in items) == sorted(f"doc-{i}" for i in range(30))
    assert _values(items) == {f"doc-{i}": i for i in range(30)}
    assert all(item.ok and item.error is None for item in items)
    assert {item.index for item in items} == set(range(30))
    assert all(item.usage.total_tokens == 15 for item in items)
    assert len(server.bodies()) == 30


def test_inputs_without_ids_are_named_by_position(server, client):
    server.default = echo
    items = list(Extractor(client=client, model="m").map(Doc, ["n 7", "n 8"], ordered=True))
    assert [(item.id, item.value.number) for item in items] == [("0", 7), ("1", 8)]


def test_concurrency_is_bounded_and_used(server, client):
    gauge = Concurrency(0.05)
    server.default = gauge
    items = list(
        Extractor(client=client, model="m").map(Doc, [f"n {i}" for i in range(24)], concurrency=4)
    )
    assert len(items) == 24
    assert 2 <= gauge.peak <= 4


def test_results_come_as_they_complete_or_in_input_order(server, client):
    # Earlier documents answer more slowly: completion order is the reverse of input order.
    server.default = lambda body: (time.sleep(0.03 * (6 - _number(body))), echo(body))[1]
    ex = Extractor(client=client, model="m")
    texts = [f"n {i}" for i in range(6)]
    as_completed = [item.value.number for item in ex.map(Doc, texts, concurrency=6)]
    assert as_completed != list(range(6)) and sorted(as_completed) == list(range(6))
    ordered = [item.value.number for item in ex.map(Doc, texts, concurrency=6, ordered=True)]
    assert ordered == list(range(6))


def test_one_bad_item_never_stops_the_batch(server, client):
    def answer(body: dict[str, Any]) -> BodyReply:
        n = _number(body)
        if n == 2:
            return completion('{"number": "two"}')  # invalid every time
        if n == 3:
            return error(400, "this document is not allowed")
        return echo(body)

    server.default = answer
    inputs: list[Any] = [
        ("a", "n 1"),
        ("b", "n 2"),
        ("c", "n 3"),
        ("d", InputError("d: unreadable")),
        ("e", "n 5"),
    ]
    items = {
        item.id: item
        for item in Extractor(client=client, model="m", max_retries=1).map(
            Doc, inputs, concurrency=3
        )
    }
    assert items["a"].value.number == 1 and items["e"].value.number == 5
    assert isinstance(items["b"].error, ExtractionError) and not items["b"].ok
    assert items["b"].usage.total_tokens == 30  # both attempts counted
    assert isinstance(items["c"].error, openai.BadRequestError)
    assert "not allowed" in str(items["c"].error)
    assert isinstance(items["d"].error, InputError)
    with pytest.raises(ExtractionError):
        _ = items["b"].value
    # 1 + 2 attempts for b + 1 for c (a 400 is not retried) + 1; nothing for d
    assert len(server.bodies()) == 5


def test_transient_errors_are_retried_per_item(server, client):
    failed_once: set[int] = set()

    def flaky(body: dict[str, Any]) -> BodyReply:
        n = _number(body)
        if n % 3 == 0 and n not in failed_once:
            failed_once.add(n)
            return error(503, "overloaded", headers={"retry-after-ms": "10"})
        return echo(body)

    server.default = flaky
    items = list(
        Extractor(client=client, model="m").map(Doc, [f"n {i}" for i in range(9)], concurrency=3)
    )
    assert all(item.ok for item in items)
    retries = {item.value.number: item.result.transport_retries for item in items}
    assert retries == {n: 1 if n % 3 == 0 else 0 for n in range(9)}


def test_a_429_storm_pauses_every_worker_and_halves_the_window(server, client):
    lock = threading.Lock()
    state = {"seen": 0, "first_429": 0.0, "ok_done": 0, "in_flight": 0, "early_peak": 0}
    arrivals: list[float] = []

    def storm(body: dict[str, Any]) -> BodyReply:
        with lock:
            state["seen"] += 1
            if state["seen"] <= 8:  # the whole first wave is rate limited
                state["first_429"] = state["first_429"] or time.monotonic()
                return error(429, "slow down", headers={"retry-after-ms": "300"})
            arrivals.append(time.monotonic())
            state["in_flight"] += 1
            if state["ok_done"] == 0:
                state["early_peak"] = max(state["early_peak"], state["in_flight"])
        time.sleep(0.03)
        with lock:
            state["in_flight"] -= 1
            state["ok_done"] += 1
        return echo(body)

    server.default = storm
    gate = ThreadGate(8)
    items = list(
        Extractor(client=client, model="m").map(
            Doc, [f"n {i}" for i in range(24)], concurrency=8, gate=gate
        )
    )
    assert all(item.ok for item in items) and len(items) == 24
    # Nobody came back before the server's Retry-After had passed...
    assert min(arrivals) - state["first_429"] >= 0.28
    # ...and then at most half the window was in flight until requests succeeded again.
    assert state["early_peak"] <= 4
    assert gate.rate_limited == 8


def test_configuration_errors_end_the_whole_batch(server, client):
    server.default = echo

    @extract(client=client, model="m")
    def doc(text: str) -> Doc:
        """{{ text }} {{ missing_variable }}"""

    with pytest.raises(TemplateError):
        list(doc.map([f"n {i}" for i in range(5)], concurrency=2))


def test_inputs_are_consumed_lazily_with_a_bounded_window(server, client):
    server.default = echo
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield f"n {i}"

    results = Extractor(client=client, model="m").map(Doc, endless(), concurrency=4)
    first = list(itertools.islice(results, 10))
    results.close()  # type: ignore[attr-defined]
    assert len(first) == 10
    assert pulled <= 10 + 4
    time.sleep(0.05)
    assert len(server.bodies()) <= pulled


def test_extract_function_map_takes_arguments(server, client):
    server.default = echo

    @extract(client=client, model="m")
    def doc(text: str, prefix: str = "Doc") -> Doc:
        """{{ prefix }}: {{ text }}"""

    items = list(doc.map([("x", "n 1"), ("y", {"text": "n 2", "prefix": "Memo"})], ordered=True))
    assert [(i.id, i.value.number) for i in items] == [("x", 1), ("y", 2)]
    users = sorted(b["messages"][-1]["content"] for b in server.bodies())
    assert users == ["Doc: n 1", "Memo: n 2"]


# -- async --------------------------------------------------------------------


async def test_async_extractor_map(server, aclient):
    gauge = Concurrency(0.03)
    server.default = gauge
    ex = AsyncExtractor(client=aclient, model="m")
    items = [
        item async for item in ex.map(Doc, [(f"k{i}", f"n {i}") for i in range(20)], concurrency=5)
    ]
    assert _values(items) == {f"k{i}": i for i in range(20)}
    assert 2 <= gauge.peak <= 5


async def test_async_function_map_over_an_async_iterable(server, aclient):
    server.default = echo

    @extract(client=aclient, model="m")
    async def doc(text: str) -> Doc:
        """{{ text }}"""
        await asyncio.sleep(0)

    async def inputs() -> Any:
        for i in range(8):
            yield (f"a{i}", f"n {i}") if i % 2 else f"n {i}"

    items = [item async for item in doc.map(inputs(), concurrency=3, ordered=True)]
    assert [item.value.number for item in items] == list(range(8))
    assert [item.id for item in items] == ["0", "a1", "2", "a3", "4", "a5", "6", "a7"]


async def test_async_map_failures_and_429s(server, aclient):
    seen = itertools.count()

    def answer(body: dict[str, Any]) -> BodyReply:
        if next(seen) < 3:
            return error(429, "slow down", headers={"retry-after-ms": "50"})
        if _number(body) == 4:
            return error(400, "this request is too long")  # one item's failure
        return echo(body)

    server.default = answer
    gate = Gate(4)
    ex = AsyncExtractor(client=aclient, model="m")
    items = {i.id: i async for i in ex.map(Doc, [f"n {i}" for i in range(8)], gate=gate)}
    assert sorted(items) == [str(i) for i in range(8)]
    assert isinstance(items["4"].error, openai.BadRequestError)
    assert all(items[str(i)].value.number == i for i in range(8) if i != 4)
    assert gate.rate_limited == 3


async def test_gate_pauses_every_waiter_after_a_429():
    gate = Gate(2)
    token = await gate.acquire()
    other = await gate.acquire()
    rate_limited = openai.RateLimitError.__new__(openai.RateLimitError)
    rate_limited.status_code = 429
    start = time.monotonic()
    gate.release(token, rate_limited, 0.2)
    assert gate.limit == 1
    gate.release(other)
    again = await gate.acquire()  # a free slot, but the pause holds it back
    assert time.monotonic() - start >= 0.19
    gate.release(again)
    assert gate.limit == 2  # grown back after a window of successes


async def test_breaking_out_of_async_map_cancels_the_rest(server, aclient):
    server.default = Concurrency(0.05)
    ex = AsyncExtractor(client=aclient, model="m")
    gate = Gate(4)
    results = ex.map(Doc, [f"n {i}" for i in range(50)], concurrency=4, gate=gate)
    async for _ in results:
        break
    await results.aclose()  # type: ignore[attr-defined]
    assert gate.in_flight == 0  # the cancelled requests gave their slots back
    await asyncio.sleep(0.1)
    assert len(server.bodies()) <= 5
