"""Ctrl-C: ``extractkit run`` stops within a second or two while requests hang or
sleep on a Retry-After, prints what was done, and the output stays resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.scripted_server import ScriptedServer, completion, error

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def person_py(tmp_path):
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n"
                      "    name: str\n    age: int\n")
    return schema


def _start(server: ScriptedServer, *argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_BASE_URL": server.base_url,
           "OPENAI_API_KEY": "sk-test", "EXTRACTKIT_MODEL": "m"}
    return subprocess.Popen([sys.executable, "-m", "extractkit.cli", "run", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(check: Any, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _interrupt(proc: subprocess.Popen[bytes]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode(), time.monotonic() - started


def test_ctrl_c_stops_a_batch_with_hanging_and_sleeping_requests(person_py, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": f"d{i}", "text": f"person {i}"}) + "\n"
                            for i in range(6)))
    out = tmp_path / "out.jsonl"
    release = threading.Event()

    def answer(body: dict[str, Any]) -> Any:
        text = json.dumps(body["messages"])
        if "person 0" in text or "person 1" in text:
            return completion('{"name": "A", "age": 1}')
        if "person 2" in text:  # the client sleeps on this one
            return error(429, "busy", headers={"retry-after": "100"})
        release.wait(60)  # the others hang
        return completion('{"name": "A", "age": 1}')

    with ScriptedServer(default=answer) as server:
        proc = _start(server, str(person_py), str(data), "-o", str(out), "--concurrency", "6")
        try:
            _wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2
                      and len(server.requests) >= 6, proc, "the run made no progress")
            time.sleep(0.2)
            code, err, took = _interrupt(proc)
        finally:
            release.set()
        assert took < 5.0, err  # a second or two; slack for a loaded CI machine
        assert code == 130, err
        assert "interrupted (rerun with --resume to do the rest)" in err
        assert "2 ok, 0 failed" in err  # the summary of what was done
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(r["input"] for r in records) == ["d0", "d1"]

        # resumable: the rest is done, the two finished inputs are not asked again
        server.default = lambda body: completion('{"name": "A", "age": 1}')
        before = len(server.requests)
        proc = _start(server, str(person_py), str(data), "-o", str(out), "--resume")
        _, err_bytes = proc.communicate(timeout=60)
        assert proc.returncode == 0, err_bytes.decode()
        assert len(server.requests) - before == 4
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(r["input"] for r in records) == [f"d{i}" for i in range(6)]


def test_ctrl_c_stops_a_single_hanging_extraction(person_py, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("Ada, 36")
    release = threading.Event()

    def hang(body: dict[str, Any]) -> Any:
        release.wait(60)
        return completion('{"name": "A", "age": 1}')

    with ScriptedServer(default=hang) as server:
        proc = _start(server, str(person_py), str(doc))
        try:
            _wait_for(lambda: len(server.requests) >= 1, proc, "no request was sent")
            time.sleep(0.2)
            code, err, took = _interrupt(proc)
        finally:
            release.set()
    assert took < 5.0, err  # a second or two; slack for a loaded CI machine
    assert code == 130
    assert "interrupted" in err
    assert "Traceback" not in err
