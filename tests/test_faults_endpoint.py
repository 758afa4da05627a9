"""Endpoint faults that would fail every request stop a batch at once; odd hints still back off."""

from __future__ import annotations

import json
import socket
import time

import httpx2
import openai
import pytest

from extractkit.retry import TransportRetry, retry_after
from tests.cli_runner import run_cli as _run
from tests.scripted_server import completion, error


@pytest.fixture
def batch(tmp_path):
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n"
                      "    name: str\n    age: int\n")
    data = tmp_path / "inputs.jsonl"
    data.write_text("".join(json.dumps({"id": f"d{i}", "text": f"person {i}"}) + "\n"
                            for i in range(10)))
    return schema, data


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_fatal_endpoint_error_stops_the_batch_once(server, monkeypatch, batch, tmp_path, status):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fatal-000001")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    schema, data = batch
    out = tmp_path / "out.jsonl"
    server.default = lambda body: error(status, "no access for you")
    code, _, err = _run("run", str(schema), str(data), "-o", str(out), "--concurrency", "2")
    assert code == 1
    assert len(server.requests) <= 2  # not once per input
    assert err.count("no access for you") == 1
    assert "--resume" in err
    # the inputs not attempted stay resumable
    server.default = lambda body: completion('{"name": "A", "age": 1}')
    code, _, err = _run("run", str(schema), str(data), "-o", str(out), "--resume")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["input"] for r in records if r["ok"]) == sorted(f"d{i}" for i in range(10))


def test_a_closed_port_stops_the_batch_after_one_inputs_retries(monkeypatch, batch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-closed-00001")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    schema, data = batch
    started = time.monotonic()
    code, _, err = _run("run", str(schema), str(data), "--concurrency", "1")
    elapsed = time.monotonic() - started
    assert code == 1
    assert "stopped:" in err and "APIConnectionError" in err
    assert elapsed < 30  # one input's retries, not ten


@pytest.mark.parametrize("value", ["-5", "nan", "0", "inf"])
def test_unusable_retry_after_hints_fall_back_to_backoff(value):
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(429, headers={"retry-after": value}, request=request)
    exc = openai.RateLimitError("slow down", response=response, body=None)
    assert retry_after(exc) is None
    delay = TransportRetry().delay_for(exc)
    assert delay is not None and delay > 0
