"""An endpoint that rejects the request shape: one request, an error that names the fix."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openai
import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, Extractor
from extractkit.cache import cached
from extractkit.cli import main
from tests.scripted_server import ScriptedServer, completion, raw

ROOT = Path(__file__).resolve().parent.parent

# What llama-cpp-python's server answers a json_schema response_format with.
_LLAMA_500 = json.dumps({"error": {
    "message": "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
               "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}]",
    "type": "internal_server_error", "param": None, "code": None,
}}).encode()  # fmt: skip


class Person(BaseModel):
    name: str


def test_the_cli_stops_after_one_request_and_suggests_the_profile(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-shape-0001")
    for _ in range(8):
        server.push(raw(500, _LLAMA_500))
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", str(ROOT / "schemas/person.py"), str(ROOT / "schemas/inputs/person.txt"),
            "--model", "m"]  # fmt: skip
    code = main(argv, out=out, err=err)
    assert code == 2, err.getvalue()
    assert "--endpoint llamacpp" in err.getvalue() and "HTTP 500" in err.getvalue()
    assert "json_schema request" in err.getvalue()
    assert len(server.requests) == 1  # not retried: every try would fail alike


def test_the_llamacpp_profile_is_not_told_to_use_itself(client, server):
    server.push(raw(500, _LLAMA_500))
    extractor = Extractor(client, model="m", endpoint="llamacpp", transport_retries=0)
    with pytest.raises(openai.InternalServerError):
        extractor.extract(Person, "Ada")


def test_a_plain_500_is_still_retried(client, server):
    server.push(raw(500, b'{"error": {"message": "overloaded"}}'))
    server.push(completion('{"name": "Ada"}'))
    extractor = Extractor(client, model="m")
    assert extractor.extract(Person, "Ada") == Person(name="Ada")
    assert len(server.requests) == 2


def test_cached_keeps_the_endpoint_given(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        srv.push(completion('{"name": "Ada"}'))
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test-cache-0001", max_retries=0)
        extractor = Extractor(client=cached(client, tmp_path / "c.sqlite", endpoint="llamacpp"),
                              model="m")  # fmt: skip
        assert extractor.extract(Person, "Ada") == Person(name="Ada")
        sent = srv.requests[0].body
        assert sent["response_format"]["type"] == "json_object"  # what llama.cpp accepts
        with pytest.raises(ConfigurationError):
            cached(client, tmp_path / "d.sqlite", endpoint="no-such-profile")
