"""API keys never reach output, errors, logs or records, even when the server echoes them."""

from __future__ import annotations

import json
import logging

import openai
import pytest
from pydantic import BaseModel

from extractkit import Extractor
from extractkit.redact import REDACTED, redact
from tests.cli_runner import run_cli as _run
from tests.scripted_server import completion, error

SECRET = "sk-test-echoed-secret-0042"
OTHER = "sk-proj-NeverGivenToUs12345"


class Person(BaseModel):
    name: str
    age: int




@pytest.fixture
def echoing(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    return server


def test_a_401_echoing_the_key_is_redacted_on_stderr_and_in_records(echoing, tmp_path):
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n"
                      "    name: str\n    age: int\n")
    docs = []
    for name in ("a.txt", "b.txt"):
        docs.append(tmp_path / name)
        docs[-1].write_text("Ada is 36")
    out_file = tmp_path / "out.jsonl"
    # a 400 is one input's failure: it lands in the records
    echoing.default = lambda body: error(400, f"Bad request from key Bearer {SECRET}; also {OTHER}")
    code, out, err = _run("run", str(schema), *map(str, docs), "-o", str(out_file), "--verbose")
    assert code == 1
    written = out_file.read_text()
    for text in (out, err, written):
        assert SECRET not in text and OTHER not in text
    record = json.loads(written.splitlines()[0])
    assert REDACTED in record["error"] and "Bad request from key" in record["error"]
    # a 401 stops the run with one message
    echoing.default = lambda body: error(401, f"Incorrect API key provided: Bearer {SECRET}")
    code, out, err = _run("run", str(schema), *map(str, docs), "-o", str(out_file),
                          "--overwrite")
    assert code == 1
    assert "Incorrect API key provided" in err
    assert SECRET not in out + err + out_file.read_text()


def test_errors_raised_to_python_callers_do_not_carry_a_registered_key(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-python-side-key-777", max_retries=0)
    server.push(completion('{"name": "sk-python-side-key-777", "age": "x"}'))
    from extractkit import ExtractionError

    with pytest.raises(ExtractionError) as info:
        Extractor(client, model="m", max_retries=0).extract(Person, "x")
    assert "sk-python-side-key-777" not in str(info.value)


def test_log_lines_are_redacted(server, caplog):
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-logged-key-0000111", max_retries=0)
    server.push(completion('{"name": "sk-logged-key-0000111"}'))
    server.push(completion('{"name": "Ada", "age": 3}'))
    with caplog.at_level(logging.INFO, logger="extractkit"):
        Extractor(client, model="m", max_retries=1).extract(Person, "x")
    assert caplog.records, "the re-ask is logged"
    assert all("sk-logged-key-0000111" not in r.getMessage() for r in caplog.records)


def test_redact_shapes() -> None:
    assert redact("Authorization: Bearer abcdefghijklmnop") == f"Authorization: Bearer {REDACTED}"
    assert redact("key sk-abc_DEF-123456789 end") == f"key {REDACTED} end"
    assert redact("a short sk-1 stays") == "a short sk-1 stays"
