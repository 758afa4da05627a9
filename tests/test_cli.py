"""The extractkit CLI against the scripted server: outputs, exit codes, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_cli as run
from tests.scripted_server import completion, error

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
SECRET = "sk-test-very-secret-key-42"




@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    return server


@pytest.fixture
def person_py(tmp_path):
    path = tmp_path / "person.py"
    path.write_text(
        "from pydantic import BaseModel\n\n"
        "class Person(BaseModel):\n    name: str\n    age: int\n"
    )
    return path


def test_single_input_prints_the_validated_object(remote, person_py, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("Ada is 36")
    remote.push(completion('{"name": "Ada", "age": 36}'))
    code, out, err = run("run", str(person_py), str(doc))
    assert code == 0, err
    assert json.loads(out) == {"name": "Ada", "age": 36}
    assert remote.bodies()[0]["messages"][-1]["content"] == "Ada is 36"


def test_several_inputs_give_json_lines_and_one_bad_input_fails_alone(remote, person_py, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Ada is 36")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    missing = tmp_path / "missing.txt"
    remote.push(completion('{"name": "Ada", "age": 36}'))
    code, out, err = run("run", str(person_py), str(good), str(empty), str(binary), str(missing))
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in records] == [str(good), str(empty), str(binary), str(missing)]
    assert records[0]["ok"] and records[0]["value"] == {"name": "Ada", "age": 36}
    assert "usage" in records[0]
    assert "empty" in records[1]["error"]
    assert "not UTF-8" in records[2]["error"]
    assert "not found" in records[3]["error"]
    assert str(missing) in err
    assert len(remote.bodies()) == 1


def test_directory_input_and_output_file(remote, person_py, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "1.txt").write_text("A is 1")
    (folder / "2.txt").write_text("B is 2")
    (folder / ".hidden").write_text("skip me")
    remote.push(completion('{"name": "A", "age": 1}'), completion('{"name": "B", "age": 2}'))
    out_file = tmp_path / "out.jsonl"
    code, out, _ = run("run", str(person_py), str(folder), "--output", str(out_file))
    assert code == 0 and out == ""
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["value"]["name"] for r in records] == ["A", "B"]


def test_extraction_failure_exit_1_with_reason_and_verbose_attempts(remote, person_py, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("x")
    for _ in range(2):
        remote.push(completion('{"name": "A"}'))
    code, out, err = run("run", str(person_py), str(doc), "--max-retries", "1", "--verbose")
    assert code == 1 and out == ""
    assert "no valid answer after 2 attempt(s)" in err
    assert err.count("attempt 1") == 1 and "attempt 2" in err and "age: Field required" in err


def test_transport_retries_flag_sets_the_transport_budget(remote, person_py, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("x")
    busy = error(503, "busy", headers={"retry-after-ms": "1"})
    remote.push(busy, busy)
    code, _, err = run("run", str(person_py), str(doc), "--transport-retries", "1")
    assert code == 1 and "busy" in err
    assert len(remote.requests) == 2  # the first try and one retry, no more


def test_endpoint_error_is_reported_without_the_api_key(remote, person_py, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("x")
    remote.push(error(401, "Incorrect API key provided"))
    code, out, err = run("run", str(person_py), str(doc), "--verbose")
    assert code == 1
    assert "Incorrect API key provided" in err
    assert SECRET not in out + err
    assert remote.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_cli_options_reach_the_request(remote, person_py, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("x")
    remote.push(completion(tool_args='{"name": "A", "age": 1}', tool_name="Person"))
    code, _, err = run("run", str(person_py), str(doc), "--mode", "tools", "--model", "other",
                       "--temperature", "0.3", "--max-tokens", "77")
    assert code == 0, err
    body = remote.bodies()[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("other", 0.3, 77)
    assert body["tool_choice"]["function"]["name"] == "Person"


def test_stdin_input(remote, person_py, monkeypatch):
    remote.push(completion('{"name": "S", "age": 5}'))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"S is 5")))
    code, out, _ = run("run", str(person_py), "-")
    assert code == 0 and json.loads(out)["name"] == "S"


def test_extract_function_file_uses_its_template(remote, tmp_path):
    doc = tmp_path / "inv.txt"
    doc.write_text("INVOICE 7 from Acme, 2 x Hammer at 12.50")
    remote.push(completion(json.dumps({"number": "7", "seller": "Acme", "items": []})))
    code, out, err = run("run", str(SCHEMAS / "invoice.py"), str(doc))
    assert code == 0, err
    assert json.loads(out)["number"] == "7" and json.loads(out)["currency"] == "EUR"
    user = remote.bodies()[0]["messages"][-1]["content"]
    assert user.startswith("Extract the invoice below. Assume EUR")
    assert "INVOICE 7 from Acme" in user


def test_json_schema_file_title_and_description_feed_the_prompt(remote):
    remote.push(completion('{"name": "Jonas", "email": "jonas@example.org", "phone": null}'))
    code, out, err = run("run", str(SCHEMAS / "contact.json"), str(SCHEMAS / "inputs" / "contact.txt"))
    assert code == 0, err
    assert json.loads(out)["email"] == "jonas@example.org"
    body = remote.bodies()[0]
    assert body["response_format"]["json_schema"]["name"] == "Contact"
    assert "Contact details of the sender" in body["messages"][0]["content"]


# -- exit code 2: usage and configuration ------------------------------------


def test_usage_error_exit_2():
    code, _, err = run("run")
    assert code == 2 and "usage" in err.lower()


def test_missing_schema_file(tmp_path):
    code, _, err = run("run", str(tmp_path / "nope.py"), "x.txt")
    assert code == 2 and "nope.py" in err and "not found" in err


def test_schema_file_with_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from pydantic import BaseModel\nclass X(BaseModel)\n    a: int\n")
    code, _, err = run("schema", str(bad))
    assert code == 1
    record = json.loads(_out_of(run("schema", str(bad))))
    assert record["ok"] is False and "line 2" in record["error"] and "bad.py" in record["error"]
    code, _, err = run("run", str(bad), str(bad))
    assert code == 2 and "bad.py" in err and "line 2" in err


def _out_of(result: tuple[int, str, str]) -> str:
    return result[1]


def test_schema_file_without_schema(tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    code, _, err = run("run", str(empty), str(empty))
    assert code == 2 and "no Pydantic model or @extract function" in err


def test_several_candidates_are_listed_and_one_can_be_picked(remote, tmp_path):
    two = tmp_path / "two.py"
    two.write_text(
        "from pydantic import BaseModel\n"
        "class A(BaseModel):\n    a: int\n"
        "class B(BaseModel):\n    b: int\n"
    )
    doc = tmp_path / "d.txt"
    doc.write_text("b is 2")
    code, _, err = run("run", str(two), str(doc))
    assert code == 2 and "A, B" in err and "two.py:NAME" in err
    remote.push(completion('{"b": 2}'))
    code, out, _ = run("run", f"{two}:B", str(doc))
    assert code == 0 and json.loads(out) == {"b": 2}


def test_invalid_json_schema_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "object", "properties": {"a": {"type": "strnig"}}}')
    code, _, err = run("run", str(bad), str(bad))
    assert code == 2 and "bad.json" in err and "invalid JSON Schema" in err
    bad.write_text("{not json")
    code, _, err = run("run", str(bad), str(bad))
    assert code == 2 and "not valid JSON" in err and "line 1" in err


def test_template_error_exit_2_names_the_variable(remote, person_py, tmp_path):
    tpl = tmp_path / "t.j2"
    tpl.write_text("{{ text }} {{ nonexistent }}")
    doc = tmp_path / "a.txt"
    doc.write_text("x")
    code, _, err = run("run", str(person_py), str(doc), "--prompt", str(tpl))
    assert code == 2 and "'nonexistent'" in err and "t.j2" in err
    assert remote.bodies() == []


def test_missing_model_for_remote_endpoint_is_exit_2(server, monkeypatch, person_py, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    doc = tmp_path / "a.txt"
    doc.write_text("x")
    code, _, err = run("run", str(person_py), str(doc))
    assert code == 2 and "EXTRACTKIT_MODEL" in err


# -- schema and prompt commands ---------------------------------------------


def test_schema_command_lints_a_folder_for_a_target(tmp_path):
    code, out, _ = run("schema", str(SCHEMAS))
    records = {Path(r["file"]).name: r for r in map(json.loads, out.splitlines())}
    assert {"person.py", "invoice.py", "events.py", "contact.json"} <= set(records)
    person = records["person.py"]
    assert person["ok"] and person["mode"] == "json_schema"
    fmt = person["request"]["response_format"]["json_schema"]
    assert fmt["strict"] is True and fmt["schema"]["additionalProperties"] is False
    assert code == 0


def test_schema_command_tools_for_llamacpp():
    code, out, _ = run("schema", str(SCHEMAS / "person.py"), "--endpoint", "llamacpp",
                       "--mode", "tools")
    record = json.loads(out)
    assert code == 0 and record["request"]["tool_choice"]["function"]["name"] == "Person"


def test_schema_command_reports_unsupported_mode(tmp_path):
    code, out, _ = run("schema", str(SCHEMAS / "person.py"), "--endpoint", "llamacpp",
                       "--mode", "json_schema")
    assert code == 1 and "does not support mode" in json.loads(out)["error"]


def test_prompt_command_prints_messages_without_calling(server, monkeypatch, person_py, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    doc = tmp_path / "a.txt"
    doc.write_text("Ada is {{ 36 }}")
    code, out, _ = run("prompt", str(person_py), str(doc), "--mode", "md_json")
    assert code == 0
    assert "--- system ---" in out and "```json" in out and "Ada is {{ 36 }}" in out
    code, out, _ = run("prompt", str(person_py), str(doc), "--json")
    assert json.loads(out)["model"] == "m"
    assert server.requests == []


def test_console_script_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "extractkit.cli", "schema", str(SCHEMAS / "person.py")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
