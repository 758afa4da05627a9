"""The --output file: checked before anything is sent, never silently replaced or lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from extractkit.output import OutputError, RecordsFile
from tests.cli_runner import run_cli as _run
from tests.scripted_server import completion

GOOD = completion('{"name": "Ann", "age": 3}')




@pytest.fixture
def env(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-output-0001")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n"
                      "    name: str\n    age: int\n")
    docs = []
    for name in "abc":
        docs.append(tmp_path / f"{name}.txt")
        docs[-1].write_text(f"{name} is 3")
    return server, schema, docs


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_existing_results_are_never_replaced_silently(env, tmp_path):
    server, schema, docs = env
    out = tmp_path / "out.jsonl"
    previous = "".join(json.dumps({"input": f"x{i}", "ok": True}) + "\n" for i in range(7))
    out.write_text(previous)
    for argv in ([str(docs[0])], [str(d) for d in docs]):  # one input and a batch
        code, _, err = _run("run", str(schema), *argv, "-o", str(out))
        assert code == 2
        assert "--resume" in err and "--overwrite" in err and str(out) in err
        assert out.read_text() == previous
    assert server.requests == []  # refused before anything was sent
    server.push(GOOD, GOOD, GOOD)
    code, _, _ = _run("run", str(schema), *map(str, docs), "-o", str(out), "--overwrite")
    assert code == 0
    assert sorted(r["input"] for r in _records(out)) == sorted(map(str, docs))


def test_unusable_outputs_are_clear_errors_before_sending(env, tmp_path):
    server, schema, docs = env
    for bad, words in ((tmp_path, "is a directory"),
                       (tmp_path / "missing" / "out.jsonl", "does not exist")):
        code, _, err = _run("run", str(schema), *map(str, docs), "-o", str(bad))
        assert code == 2, err
        assert words in err and "Traceback" not in err
    assert server.requests == []


def test_resume_with_changed_settings_keeps_other_records_until_replaced(env, tmp_path):
    server, schema, docs = env
    out = tmp_path / "out.jsonl"
    server.push(GOOD, GOOD, GOOD)
    assert _run("run", str(schema), *map(str, docs), "-o", str(out))[0] == 0
    before = {r["input"]: r for r in _records(out)}
    seen_during_run: list[set[str]] = []

    def reply(body):
        seen_during_run.append({r["input"] for r in _records(out)})
        return GOOD

    server.push(reply, reply)
    code, _, err = _run("run", str(schema), str(docs[0]), str(docs[1]), "-o", str(out),
                        "--resume", "--temperature", "0.1")
    assert code == 0, err
    # while the rerun was going, every earlier record was still in the file
    assert all(seen == set(before) for seen in seen_during_run)
    after = _records(out)
    assert sorted(r["input"] for r in after) == sorted(before)  # one record per input
    by_input = {r["input"]: r for r in after}
    assert by_input[str(docs[2])] == before[str(docs[2])]  # not part of this run: kept
    assert by_input[str(docs[0])]["fingerprint"] != before[str(docs[0])]["fingerprint"]


def test_a_second_writer_is_refused(env, tmp_path):
    _, schema, docs = env
    out = tmp_path / "out.jsonl"
    with RecordsFile(out):
        with pytest.raises(OutputError, match="another extractkit run is writing"):
            RecordsFile(out, resume=True)
        done = subprocess.run(
            [sys.executable, "-m", "extractkit.cli", "run", str(schema), *map(str, docs),
             "-o", str(out), "--resume"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "another extractkit run is writing" in done.stderr
    with RecordsFile(out, resume=True):  # free again once the first one closed
        pass


def test_resume_cuts_a_torn_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"input": "a", "ok": true, "fingerprint": "f"}\n{"input": "b", "ok": tr')
    with RecordsFile(out, resume=True) as records:
        assert records.done("f") == {"a"}
        records.write({"input": "b", "ok": True, "fingerprint": "f"})
    assert [r["input"] for r in _records(out)] == ["a", "b"]
