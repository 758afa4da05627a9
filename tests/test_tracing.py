"""OpenTelemetry spans from the events (extractkit.tracing), recorded by the SDK's
in-memory exporter: nothing leaves the process (the SDK is in the dev extra)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from extractkit import AsyncExtractor, Extractor
from extractkit.errors import ExtractionError
from extractkit.tracing import SpanHook
from tests.scripted_server import completion, error

SECRET = "sk-test-secret-123"


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def hook(exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return SpanHook(provider)


def _by_name(exporter):
    spans = exporter.get_finished_spans()
    extraction = [s for s in spans if s.name.startswith("extract")]
    chats = [s for s in spans if s.name.startswith("chat")]
    assert len(extraction) == 1
    return extraction[0], chats


def test_one_span_per_extraction_and_one_per_attempt(server, client, exporter, hook):
    server.push(completion('{"name": "Ada"}', usage=(11, 4)),
                completion('{"name": "Ada", "age": 36}', usage=(13, 6), model="gpt-test-0613"))
    ex = Extractor(client=client, model="gpt-test", on_event=hook)
    assert ex.extract(Person, "Ada is 36.").age == 36
    top, chats = _by_name(exporter)
    assert top.name == "extract Person" and top.kind == SpanKind.INTERNAL
    assert top.attributes["gen_ai.operation.name"] == "extract"
    assert top.attributes["gen_ai.request.model"] == "gpt-test"
    assert top.attributes["gen_ai.provider.name"] == "generic"
    assert top.attributes["server.address"] == "127.0.0.1"
    assert top.attributes["server.port"] == server.port
    assert top.attributes["extractkit.attempts"] == 2
    assert top.attributes["extractkit.usage.input_tokens"] == 24
    assert top.attributes["extractkit.usage.output_tokens"] == 10
    assert top.attributes["gen_ai.response.model"] == "gpt-test-0613"
    assert top.status.status_code == StatusCode.UNSET
    assert [e.name for e in top.events] == ["extractkit.reasked"]

    assert [c.name for c in chats] == ["chat gpt-test", "chat gpt-test"]
    first, second = chats
    for chat in chats:
        assert chat.parent.span_id == top.context.span_id
        assert chat.context.trace_id == top.context.trace_id
        assert chat.kind == SpanKind.CLIENT
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.output.type"] == "json"
        assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert first.attributes["gen_ai.usage.input_tokens"] == 11
    assert first.attributes["gen_ai.usage.output_tokens"] == 4
    assert first.attributes["extractkit.valid"] is False
    [failed] = first.events
    assert failed.name == "extractkit.attempt_failed"
    assert any("age" in e for e in failed.attributes["extractkit.errors"])
    assert second.attributes["gen_ai.usage.input_tokens"] == 13
    assert second.attributes["gen_ai.response.model"] == "gpt-test-0613"
    assert second.attributes["gen_ai.response.id"].startswith("chatcmpl-scripted-")
    assert second.attributes["extractkit.valid"] is True
    assert first.end_time <= second.start_time <= second.end_time <= top.end_time
    assert hook.open_extractions == 0


def test_no_prompt_text_unless_asked(server, client, exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    answer = '{"name": "Ada", "age": 36}'
    server.push(completion(answer), completion(answer))
    Extractor(client=client, model="m", on_event=SpanHook(provider)).extract(Person, "Ada is 36.")
    for span in exporter.get_finished_spans():
        text = json.dumps(dict(span.attributes)) + repr(span.events)
        assert "Ada is 36" not in text and "gen_ai.input.messages" not in text

    exporter.clear()
    hook = SpanHook(provider, capture_content=True)
    Extractor(client=client, model="m", on_event=hook).extract(Person, "Ada is 36.")
    _, [chat] = _by_name(exporter)
    messages = json.loads(chat.attributes["gen_ai.input.messages"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Ada is 36." in messages[1]["parts"][0]["content"]
    output = json.loads(chat.attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"] == answer and output[0]["finish_reason"] == "stop"


def test_a_failed_extraction_is_an_error_span(server, client, exporter, hook):
    server.push(completion('{"name": "Ada"}'))
    ex = Extractor(client=client, model="m", max_retries=0, on_event=hook)
    with pytest.raises(ExtractionError):
        ex.extract(Person, "Ada")
    top, [chat] = _by_name(exporter)
    assert top.status.status_code == StatusCode.ERROR
    assert top.attributes["error.type"] == "ExtractionError"
    [exc] = [e for e in top.events if e.name == "exception"]
    assert exc.attributes["exception.type"] == "ExtractionError"
    assert "no valid answer" in exc.attributes["exception.message"]
    assert chat.attributes["extractkit.valid"] is False
    assert hook.open_extractions == 0


def test_a_transport_retry_ends_its_chat_span_with_an_error(server, client, exporter, hook):
    server.push(error(503, f"overloaded {SECRET}", headers={"retry-after-ms": "5"}),
                completion('{"name": "Ada", "age": 36}'))
    Extractor(client=client, model="m", on_event=hook).extract(Person, "Ada is 36.")
    top, chats = _by_name(exporter)
    assert len(chats) == 2
    broken, ok = chats
    assert broken.status.status_code == StatusCode.ERROR
    assert broken.attributes["error.type"] == "InternalServerError"
    [retry] = broken.events
    assert retry.name == "extractkit.transport_retry" and retry.attributes["extractkit.retry"] == 1
    assert ok.status.status_code == StatusCode.UNSET and ok.attributes["extractkit.retry"] == 1
    assert top.status.status_code == StatusCode.UNSET
    everything = repr([(s.attributes, s.events, s.status) for s in exporter.get_finished_spans()])
    assert SECRET not in everything


def test_a_transport_failure_at_the_end_closes_both_spans(server, client, exporter, hook):
    server.push(error(500), error(500))
    ex = Extractor(client=client, model="m", transport_retries=0, on_event=hook)
    with pytest.raises(openai.InternalServerError):
        ex.extract(Person, "Ada")
    top, [chat] = _by_name(exporter)
    assert top.status.status_code == chat.status.status_code == StatusCode.ERROR
    assert chat.attributes["error.type"] == "InternalServerError"


def test_concurrent_extractions_get_their_own_traces(server, exporter, hook):
    for _ in range(6):
        server.push(completion('{"name": "Ada", "age": 36}'))

    async def go() -> None:
        aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0)
        ex = AsyncExtractor(client=aclient, model="m", on_event=hook)
        await asyncio.gather(*(ex.extract(Person, f"Ada {i}") for i in range(6)))
        await aclient.close()

    asyncio.run(go())
    spans = exporter.get_finished_spans()
    tops = {s.context.span_id: s for s in spans if s.name.startswith("extract")}
    chats = [s for s in spans if s.name.startswith("chat")]
    assert len(tops) == 6 and len(chats) == 6
    assert {c.parent.span_id for c in chats} == set(tops)
    assert hook.open_extractions == 0


def test_tracing_false_and_no_provider_add_no_hook(client, hook):
    assert Extractor(client=client, model="m")._engine.hooks == ()
    assert Extractor(client=client, model="m", tracing=False, on_event=print)._engine.hooks == (
        print,)
    on = Extractor(client=client, model="m", tracing=True)._engine.hooks
    assert len(on) == 1 and isinstance(on[0], SpanHook)
    # a SpanHook of one's own is used as it is, not doubled
    assert Extractor(client=client, model="m", tracing=True, on_event=hook)._engine.hooks == (
        hook,)


def test_a_configured_tracer_provider_turns_tracing_on(tmp_path):
    """``tracing=None``: spans when (and only when) a global provider is set. A fresh
    process, since the global provider can be set only once."""
    script = textwrap.dedent("""
        import json, openai
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from pydantic import BaseModel
        from extractkit import Extractor
        from extractkit.tracing import SpanHook
        from tests.scripted_server import ScriptedServer, completion

        class Person(BaseModel):
            name: str

        client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x")
        before = Extractor(client=client, model="m")._engine.hooks
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        with ScriptedServer() as srv:
            srv.push(completion('{"name": "Ada"}'))
            client = openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
            ex = Extractor(client=client, model="m")
            ex.extract(Person, "Ada")
            off = Extractor(client=client, model="m", tracing=False)._engine.hooks
        print(json.dumps({"before": len(before), "after": [type(h).__name__ for h in
              ex._engine.hooks], "off": len(off),
              "spans": sorted(s.name for s in exporter.get_finished_spans())}))
    """)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"before": 0, "after": ["SpanHook"], "off": 0,
                      "spans": ["chat m", "extract Person"]}


def test_the_cli_writes_spans_as_json_lines(server, monkeypatch, tmp_path):
    from tests.cli_runner import run_cli

    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\n\n"
                      "class Person(BaseModel):\n    name: str\n    age: int\n")
    docs = []
    for i in range(2):
        doc = tmp_path / f"{i}.txt"
        doc.write_text(f"Ada is {30 + i}")
        docs.append(str(doc))
        server.push(completion(f'{{"name": "Ada", "age": {30 + i}}}'))
    spans = tmp_path / "spans.jsonl"
    code, _, err = run_cli("run", str(schema), *docs, "--trace", str(spans))
    assert code == 0, err
    lines = [json.loads(line) for line in spans.read_text().splitlines()]
    names = sorted(line["name"] for line in lines)
    assert names == ["chat m", "chat m", "extract Person", "extract Person"]
    tops = {line["context"]["span_id"] for line in lines if line["name"] == "extract Person"}
    assert {line["parent_id"] for line in lines if line["name"] == "chat m"} == tops
    assert all(line["attributes"]["gen_ai.request.model"] == "m" for line in lines)
    assert SECRET not in spans.read_text() and "Ada is 3" not in spans.read_text()
    # appended, never replaced
    server.push(completion('{"name": "Ada", "age": 30}'))
    assert run_cli("run", str(schema), docs[0], "--trace", str(spans))[0] == 0
    assert len(spans.read_text().splitlines()) == 6


def test_the_cli_refuses_an_unwritable_trace_file(server, monkeypatch, tmp_path):
    from tests.cli_runner import run_cli

    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    doc = tmp_path / "a.txt"
    doc.write_text("Ada")
    code, _, err = run_cli("run", str(tmp_path / "x.json"), str(doc), "--trace",
                           str(tmp_path / "no" / "such" / "dir" / "spans.jsonl"))
    assert code == 2 and "--trace" in err and "spans.jsonl" in err


@pytest.mark.local_model
def test_the_embedded_model_is_traced_like_any_endpoint(exporter, hook):
    events: list = []
    ex = Extractor(local=True, max_retries=1, on_event=[events.append, hook])
    # a 135M model may miss; the events and spans say so either way
    with contextlib.suppress(ExtractionError):
        ex.extract(Person, "Ada Lovelace is 36 years old.")
    sent = events[0]
    assert type(sent).__name__ == "RequestSent"
    assert sent.provider == "local" and sent.server_address is None
    assert type(events[-1]).__name__ in ("Finished", "Failed")
    top, chats = _by_name(exporter)
    assert top.attributes["gen_ai.provider.name"] == "local"
    assert chats and all(c.kind == SpanKind.INTERNAL for c in chats)
    assert all(c.attributes["gen_ai.usage.input_tokens"] > 0 for c in chats)


@pytest.mark.parametrize("how", ["extract", "map"])
def test_extraction_spans_are_children_of_the_callers_span(server, client, exporter, how):
    """The caller's current span is the parent, also for a batch on worker threads."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(3):
        server.push(completion('{"name": "Ada", "age": 36}'))
    ex = Extractor(client=client, model="m", on_event=SpanHook(provider))
    with tracer.start_as_current_span("job") as job:
        if how == "extract":
            ex.extract(Person, "Ada is 36.")
        else:
            assert all(i.ok for i in ex.map(Person, ["a", "b", "c"], concurrency=3))
    tops = [s for s in exporter.get_finished_spans() if s.name == "extract Person"]
    assert len(tops) == (1 if how == "extract" else 3)
    assert all(t.parent is not None and t.parent.span_id == job.get_span_context().span_id
               for t in tops)


def test_a_fallback_is_one_extraction_span(exporter, hook):
    from extractkit.endpoints import Endpoint
    from tests.scripted_server import ScriptedServer

    with ScriptedServer() as a, ScriptedServer() as b:
        a.push(error(404, "no such model"))
        b.push(completion('{"name": "Ada", "age": 36}'))
        ex = Extractor(endpoint=Endpoint("cheap", base_url=a.base_url, model="small"),
                       fallback=[Endpoint("strong", base_url=b.base_url, model="big")],
                       on_event=hook)
        ex.extract(Person, "Ada is 36.")
        port = b.port
    top, chats = _by_name(exporter)
    assert [c.name for c in chats] == ["chat small", "chat big"]
    assert chats[0].status.status_code == StatusCode.ERROR
    assert chats[1].attributes["server.port"] == port
    assert [e.name for e in top.events] == ["extractkit.fell_back"]
    assert top.status.status_code == StatusCode.UNSET and hook.open_extractions == 0
