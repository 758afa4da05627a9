"""Streaming extraction through the real openai SDK against the scripted server."""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import openai
import pytest
from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel, Field

from extractkit import AsyncExtractor, Extractor, IncompleteOutputError, extract
from extractkit.backends.openai_client import OpenAIBackend
from extractkit.cli import main
from extractkit.drivers.stream import Snapshot, stream_sync
from extractkit.loop import Extraction
from extractkit.modes import Plan, build_plan
from extractkit.profiles import get_profile
from extractkit.retry import TransportRetry
from extractkit.schema import CompiledSchema, compile_schema
from tests.scripted_server import completion, error, stream


class Status(enum.Enum):
    ACTIVE = "active"
    RETIRED = "retired"


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)
    nickname: str | None = None
    role: Literal["engineer", "mathematician"]
    status: Status
    code: int | str


PERSON = {
    "name": "Ada Lovelace",
    "age": 36,
    "nickname": None,
    "role": "mathematician",
    "status": "retired",
    "code": "AL-1815",
}


class Item(BaseModel):
    sku: str
    qty: int = Field(ge=0)


ITEMS = [{"sku": f"sku-{k}", "qty": k} for k in range(4)]


def _timed(snapshots: Iterator[Snapshot[Any]]) -> list[tuple[float, Snapshot[Any]]]:
    started = time.perf_counter()
    return [(time.perf_counter() - started, s) for s in snapshots]


def _fast_retry() -> TransportRetry:
    return TransportRetry(base_delay=0.01, max_delay=0.02)


def _session(
    client: openai.OpenAI,
    schema: Any,
    mode: str = "json_schema",
    transport: TransportRetry | None = None,
) -> Extraction[Any]:
    plan = build_plan(schema, mode, get_profile("generic"))
    return Extraction(
        plan, [{"role": "user", "content": "text"}], model="m", transport=transport
    )


# --------------------------------------------------------------------------- basics


def test_first_snapshot_arrives_while_the_model_is_still_writing(server, client):
    server.push(stream(json.dumps(PERSON), chunk_size=8, delay=0.03))
    timed = _timed(Extractor(client, model="m").stream(Person, "Ada"))
    (first_at, first), (last_at, last) = timed[0], timed[-1]
    assert not first.done and last.done
    assert [s.done for _, s in timed].count(True) == 1
    assert len(timed) > 8  # many partial values, not one at the end
    assert last_at - first_at > 0.25  # the first came well before the stream ended
    assert all(s.attempt == 1 and s.restarts == 0 for _, s in timed)


def test_final_snapshot_equals_the_non_streamed_result(server, client):
    text = json.dumps(PERSON)
    server.push(completion(text, usage=(12, 7)), stream(text, chunk_size=5, usage=(12, 7)))
    ex = Extractor(client, model="m")
    plain = ex.extract_result(Person, "Ada")
    last = list(ex.stream(Person, "Ada"))[-1]
    assert last.done and last.value == plain.value
    assert isinstance(last.value, Person) and last.value.status is Status.RETIRED
    assert last.result is not None
    assert last.result.usage == plain.usage
    assert last.result.finish_reason == "stop"
    assert last.result.raw == text
    assert server.bodies()[1]["stream"] is True
    assert server.bodies()[1]["stream_options"] == {"include_usage": True}


def test_partial_fields_follow_the_declared_types(server, client):
    server.push(stream(json.dumps(PERSON), chunk_size=3))
    snapshots = list(Extractor(client, model="m").stream(Person, "Ada"))
    partials = [s.value for s in snapshots if not s.done]
    assert all(type(v).__name__ == "PartialPerson" for v in partials)
    names = [v.name for v in partials if v.name]
    assert len(set(names)) > 3 and all(PERSON["name"].startswith(n) for n in names)
    assert all(v.role in (None, "mathematician") for v in partials)  # literal: only complete
    assert all(v.status in (None, Status.RETIRED) for v in partials)  # enum member, only complete
    assert all(v.age in (None, 36) for v in partials)  # numbers: only complete
    assert all(v.code in (None, "AL-1815") or "AL-1815".startswith(v.code) for v in partials)
    assert all(v.nickname is None for v in partials)  # optional, written as null
    assert partials[-1].status is Status.RETIRED and partials[-1].code == "AL-1815"


def test_list_items_are_validated_one_by_one(server, client):
    server.push(stream(json.dumps({"value": ITEMS}), chunk_size=6, delay=0.01))
    snapshots = list(Extractor(client, model="m").stream(list[Item], "items"))
    final = snapshots[-1]
    assert final.done and final.value == [Item(**i) for i in ITEMS]
    closed_counts = []
    for snap in snapshots[:-1]:
        items = snap.value
        closed = [i for i in items if isinstance(i, Item)]
        # closed items come first, are real Items and equal the final ones
        assert items[: len(closed)] == closed == final.value[: len(closed)]
        assert all(type(i).__name__ == "PartialItem" for i in items[len(closed) :])
        assert len(items) - len(closed) <= 1
        closed_counts.append(len(closed))
    assert closed_counts == sorted(closed_counts)
    assert {1, 2, 3} <= set(closed_counts)  # item k usable before the stream ends


def test_json_schema_document_gives_partial_dicts(server, client):
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "tags": {"type": "array"}},
        "required": ["title"],
    }
    server.push(stream('{"title": "Streaming", "tags": ["a", "b"]}', chunk_size=4))
    snapshots = list(Extractor(client, model="m").stream(schema, "doc"))
    assert all(isinstance(s.value, dict) for s in snapshots)
    assert {"title": "Strea"} in [s.value for s in snapshots]
    assert snapshots[-1].value == {"title": "Streaming", "tags": ["a", "b"]}


# --------------------------------------------------------------------------- modes


def test_tools_mode_streams_tool_call_arguments(server, client):
    server.push(stream(tool_args=json.dumps(PERSON), tool_name="Person", chunk_size=7))
    snapshots = list(Extractor(client, model="m", mode="tools").stream(Person, "Ada"))
    assert len(snapshots) > 3 and snapshots[-1].done
    assert snapshots[-1].value == Person.model_validate(PERSON)
    assert snapshots[-1].result is not None
    assert snapshots[-1].result.finish_reason == "tool_calls"
    assert server.bodies()[0]["tool_choice"]["function"]["name"] == "Person"


@pytest.mark.parametrize("size", [1, 4])
@pytest.mark.parametrize(
    ("mode", "reply"),
    [
        ("md_json", "Here it is, {with braces}:\n```json\n{doc}\n```\nAnything else?"),
        ("md_json", "{doc}"),
        # the repairer's fence rule: a ```python block is not the JSON
        ("md_json", "Try:\n```python\nprint({1: 2})\n```\n```json\n{doc}\n```"),
        ("json_object", "Sure thing: {doc}"),
    ],
)
def test_prose_around_the_json_is_skipped(server, client, mode, reply, size):
    text = reply.replace("{doc}", json.dumps(PERSON))
    server.push(stream(text, chunk_size=size))
    snapshots = list(Extractor(client, model="m", mode=mode).stream(Person, "Ada"))
    assert snapshots[-1].value == Person.model_validate(PERSON)
    partial_names = [s.value.name for s in snapshots if not s.done and s.value.name]
    assert len(partial_names) > 3 and all(PERSON["name"].startswith(n) for n in partial_names)


# --------------------------------------------------------------------------- re-asks, errors


def test_invalid_final_document_reasks_and_attempt_goes_up(server, client):
    bad = {**PERSON, "age": -3}
    server.push(stream(json.dumps(bad), chunk_size=9), stream(json.dumps(PERSON), chunk_size=9))
    snapshots = list(Extractor(client, model="m").stream(Person, "Ada"))
    attempts = [s.attempt for s in snapshots]
    assert attempts == sorted(attempts) and attempts[0] == 1 and attempts[-1] == 2
    assert any(s.attempt == 1 and s.value.age == -3 for s in snapshots)  # partial of attempt 1
    last = snapshots[-1]
    assert last.done and last.value.age == 36
    assert last.result is not None and len(last.result.attempts) == 2
    second = server.bodies()[1]["messages"]
    assert second[-2]["content"] == json.dumps(bad) and "age" in second[-1]["content"]


def test_cut_at_token_limit_raises_incomplete(server, client):
    server.push(stream(json.dumps(PERSON)[:30], finish_reason="length"))
    with pytest.raises(IncompleteOutputError):
        list(Extractor(client, model="m").stream(Person, "Ada"))


def test_dropped_connection_restarts_the_stream(server, client):
    text = json.dumps(PERSON)
    server.push(stream(text, chunk_size=4, drop_after=6), stream(text, chunk_size=4))
    extraction = _session(client, Person, transport=_fast_retry())
    snapshots = list(stream_sync(OpenAIBackend(client), extraction))
    restarts = [s.restarts for s in snapshots]
    assert restarts[0] == 0 and restarts[-1] == 1 and restarts == sorted(restarts)
    assert all(s.attempt == 1 for s in snapshots)
    assert snapshots[-1].value == Person.model_validate(PERSON)
    assert snapshots[-1].result is not None and snapshots[-1].result.transport_retries == 1
    assert len(server.bodies()) == 2


def test_quietly_cut_stream_is_retried_then_an_error_never_a_truncated_value(server, client):
    cut = stream(json.dumps(PERSON), chunk_size=4, drop_after=5, framing="close")
    server.push(cut, stream(json.dumps(PERSON)))
    snapshots = list(stream_sync(OpenAIBackend(client), _session(client, Person, transport=_fast_retry())))
    assert snapshots[-1].restarts == 1 and snapshots[-1].value.age == 36

    server.push(cut, cut)
    retry = TransportRetry(max_attempts=2, base_delay=0.01)
    seen: list[Snapshot[Any]] = []
    with pytest.raises(IncompleteOutputError, match="no finish_reason") as info:
        session = _session(client, Person, transport=retry)
        for snap in stream_sync(OpenAIBackend(client), session):
            seen.append(snap)
    assert seen and not any(s.done for s in seen)
    assert info.value.attempts[-1].raw == json.dumps(PERSON)[:20]
    assert "(stream)" in info.value.attempts[-1].errors[0]


def test_errors_that_are_not_transport_surface_at_once(server, client):
    server.push(error(400, "bad schema"))
    with pytest.raises(openai.BadRequestError, match="bad schema"):
        list(Extractor(client, model="m").stream(Person, "Ada"))
    assert len(server.bodies()) == 1


def test_429_before_the_stream_is_retried(server, client):
    server.push(error(429, headers={"retry-after-ms": "10"}), stream(json.dumps(PERSON)))
    snapshots = list(Extractor(client, model="m").stream(Person, "Ada"))
    assert snapshots[-1].done and snapshots[-1].restarts == 1


def test_stopping_early_closes_the_stream(server, client):
    server.push(
        stream(json.dumps(PERSON), chunk_size=2, delay=0.02), completion(json.dumps(PERSON))
    )
    ex = Extractor(client, model="m")
    snapshots = ex.stream(Person, "Ada")
    first = next(snapshots)
    snapshots.close()  # type: ignore[attr-defined]
    assert not first.done
    assert ex.extract(Person, "Ada").age == 36  # the client is usable right away


# --------------------------------------------------------------------------- async, decorator, CLI


async def test_async_stream(server, aclient):
    server.push(stream(json.dumps({"value": ITEMS}), chunk_size=6, delay=0.02))
    started = time.perf_counter()
    timed = []
    async for snap in AsyncExtractor(aclient, model="m").stream(list[Item], "items"):
        timed.append((time.perf_counter() - started, snap))
    assert timed[-1][1].done and timed[-1][1].value == [Item(**i) for i in ITEMS]
    assert timed[-1][0] - timed[0][0] > 0.2
    assert any(isinstance(s.value[0], Item) for _, s in timed[:-1])
    await aclient.close()


async def test_async_drop_then_success(server, aclient):
    text = json.dumps(PERSON)
    server.push(stream(text, chunk_size=4, drop_after=3), stream(text, chunk_size=4))
    snapshots = [s async for s in AsyncExtractor(aclient, model="m").stream(Person, "Ada")]
    assert snapshots[-1].done and snapshots[-1].restarts == 1
    assert snapshots[-1].value == Person.model_validate(PERSON)
    await aclient.close()


def test_extract_function_stream(server, client):
    @extract(client=client, model="m")
    def person(text: str) -> Person:
        """Extract the person from {{ text }}."""

    server.push(stream(json.dumps(PERSON), chunk_size=10))
    snapshots = list(person.stream("Ada was a mathematician."))
    assert snapshots[-1].value == Person.model_validate(PERSON)
    assert "Ada was a mathematician." in server.bodies()[0]["messages"][-1]["content"]


def test_cli_run_stream_prints_json_lines(server, tmp_path: Path):
    schema = tmp_path / "person.py"
    schema.write_text(
        "from pydantic import BaseModel\n\nclass Person(BaseModel):\n    name: str\n    age: int\n"
    )
    doc = tmp_path / "ada.txt"
    doc.write_text("Ada is 36.")
    server.push(stream('{"name": "Ada Lovelace", "age": 36}', chunk_size=3, delay=0.06))
    out, err = _Buffer(), _Buffer()
    argv = ["run", str(schema), str(doc), "--stream", "--base-url", server.base_url]
    code = main([*argv, "--model", "m"], out=out, err=err)
    assert code == 0, err.text
    lines = [json.loads(line) for line in out.text.splitlines()]
    assert lines[-1] == {
        "input": str(doc),
        "attempt": 1,
        "done": True,
        "value": {"name": "Ada Lovelace", "age": 36},
    }
    assert 2 <= len(lines) < 12  # throttled: not one line per chunk (13 chunks)
    assert all(not line["done"] for line in lines[:-1])


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


# --------------------------------------------------------------------------- decode step


def test_wire_decode_step_applies_to_partials_and_items():
    """Schemas whose wire shape differs (strict target) decode partial documents too."""
    base = build_plan(list[Item], "json_schema", get_profile("generic"))
    compiled = compile_schema(list[Item], "plain")

    def decode(data: Any) -> Any:  # the wire writes qty as a string
        items = data.get("value", []) if isinstance(data, dict) else []
        fixed = [{**i, "qty": int(i["qty"])} if "qty" in i else i for i in items]
        return {"value": fixed}

    compiled = CompiledSchema(compiled.source, "plain", compiled.wire, decode, (), [None])
    plan = Plan(compiled, base.mode, base.profile, base.fields)
    wire = json.dumps({"value": [{"sku": f"s{k}", "qty": str(k)} for k in range(300)]})
    chunks = _chunks(wire, 8)
    snapshots = list(stream_sync(_FakeBackend(chunks), Extraction(plan, [], model="m")))
    partials = [s.value for s in snapshots if not s.done]
    assert 5 < len(partials) < len(chunks) / 3  # full rebuilds are throttled
    for value in partials:
        closed = [i for i in value if isinstance(i, Item)]
        assert value[: len(closed)] == closed and len(value) - len(closed) <= 1
    assert any(len(v) > 2 and isinstance(v[1], Item) for v in partials)
    assert snapshots[-1].value == [Item(sku=f"s{k}", qty=k) for k in range(300)]


class Report(BaseModel):
    title: str
    meta: dict[str, str] = {}
    note: str | None = None
    pages: int = 3


def test_openai_strict_encoding_is_decoded_in_partials(server, client):
    """Maps travel as {"key", "value"} entries and defaults as null: partials show them decoded."""
    entries = [{"key": "author", "value": "Ada"}, {"key": "year", "value": "1843"}]
    wire = json.dumps({"title": "Notes", "meta": entries, "note": None, "pages": None})
    server.push(stream(wire, chunk_size=5))
    ex = Extractor(client, model="m", endpoint="openai")
    snapshots = list(ex.stream(Report, "notes"))
    assert server.bodies()[0]["response_format"]["json_schema"]["strict"] is True
    metas = [s.value.meta for s in snapshots[:-1] if s.value.meta is not None]
    assert metas and all(isinstance(m, dict) for m in metas)  # never the wire's list
    assert all(set(m) <= {"author", "year"} for m in metas)  # keys shown once complete
    assert {"author": "Ada"} in metas
    assert snapshots[-1].value == Report(title="Notes", meta={"author": "Ada", "year": "1843"})


def _chunks(text: str, size: int) -> list[ChatCompletionChunk]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> ChatCompletionChunk:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return ChatCompletionChunk.model_validate({**body, "choices": [choice]})

    pieces = [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
    return [chunk({"role": "assistant", "content": ""}), *pieces, chunk({}, "stop")]


class _FakeBackend:
    profile = "generic"

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self.chunks = chunks

    def stream(self, request: dict[str, Any]) -> Iterator[ChatCompletionChunk]:
        return iter(self.chunks)
