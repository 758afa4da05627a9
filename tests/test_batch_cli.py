"""``extractkit run`` over many inputs: concurrency, JSONL in and out, resume after a
kill, the response cache, the summary and its cost."""

from __future__ import annotations

import io
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

from extractkit.cli import main
from extractkit.drivers.batch import ItemResult
from extractkit.pricing import Price, PriceTable
from extractkit.results import Usage
from extractkit.tally import Tally
from tests.scripted_server import BodyReply, completion

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err or io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def echo(body: dict[str, Any]) -> BodyReply:
    text = body["messages"][-1]["content"]
    return completion(json.dumps({"name": text.split()[0], "age": int(text.split()[-1])}))


@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    server.default = echo
    return server


@pytest.fixture
def person_py(tmp_path):
    path = tmp_path / "person.py"
    path.write_text(
        "from pydantic import BaseModel\n\nclass Person(BaseModel):\n    name: str\n    age: int\n"
    )
    return path


def _jsonl(path: Path, count: int, start: int = 0) -> Path:
    with path.open("w") as f:
        for i in range(start, start + count):
            f.write(json.dumps({"id": f"doc-{i}", "text": f"P{i} is {i}"}) + "\n")
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_concurrent_run_with_an_undecodable_file_among_good_ones(remote, person_py, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.txt").write_text(f"P{i} is {i}")
    (folder / "3b.txt").write_bytes(b"\xff\xfe\x00garbage\x80")
    out_file = tmp_path / "out.jsonl"
    code, out, err = run(
        "run", str(person_py), str(folder), "--concurrency", "3", "--output", str(out_file)
    )
    assert code == 1 and out == ""
    records = {r["input"]: r for r in _records(out_file)}
    assert len(records) == 7 == len(out_file.read_text().splitlines())
    bad = records.pop(str(folder / "3b.txt"))
    assert not bad["ok"] and "not UTF-8" in bad["error"]
    assert {k: r["value"]["age"] for k, r in records.items()} == {
        str(folder / f"{i}.txt"): i for i in range(6)
    }
    assert all(r["ok"] and r["usage"]["total_tokens"] == 15 for r in records.values())
    assert len(remote.bodies()) == 6
    assert "3b.txt" in err and "6 ok, 1 failed" in err


def test_jsonl_inputs_ids_and_bad_lines(remote, person_py, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text(
        '{"id": "a", "text": "A is 1"}\n'
        "\n"
        '{"text": "B is 2"}\n'
        "not json\n"
        '{"id": 7, "note": "no text"}\n'
        '{"id": "e", "text": "   "}\n'
    )
    code, out, err = run("run", str(person_py), str(data), "--concurrency", "2")
    assert code == 1
    records = {r["input"]: r for r in map(json.loads, out.splitlines())}
    assert records["a"]["value"] == {"name": "A", "age": 1}
    assert records[f"{data}:3"]["value"] == {"name": "B", "age": 2}
    assert "not a JSON line" in records[f"{data}:4"]["error"]
    assert '"text"' in records[f"{data}:5"]["error"]
    assert "empty" in records["e"]["error"]
    assert len(records) == 5 and len(remote.bodies()) == 2
    assert f"{data}:4: " in err and "2 ok, 3 failed" in err


def test_summary_counts_usage_and_cost_from_a_price_table(remote, person_py, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"m": {"input": 2.0, "output": 10.0}}))
    data = _jsonl(tmp_path / "in.jsonl", 4)
    code, out, err = run(
        "run", str(person_py), str(data), "--concurrency", "4", "--price-table", str(prices)
    )
    assert code == 0, err
    assert len(out.splitlines()) == 4
    # 4 x (10 prompt x $2 + 5 completion x $10) per million tokens
    assert "4 ok, 0 failed" in err and "40 prompt + 20 completion" in err
    assert "$0.0003" in err


def test_progress_on_a_terminal(remote, person_py, tmp_path):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    data = _jsonl(tmp_path / "in.jsonl", 5)
    code, out, err = run("run", str(person_py), str(data), "--concurrency", "2", err=Terminal())
    assert code == 0 and len(out.splitlines()) == 5
    assert "5 ok, 0 failed" in err


def test_cache_flag_second_run_sends_nothing(remote, person_py, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", 5)
    cache = tmp_path / "cache.sqlite"
    code, first, _ = run("run", str(person_py), str(data), "--cache-path", str(cache))
    assert code == 0 and len(remote.bodies()) == 5
    code, second, err = run(
        "run", str(person_py), str(data), "--cache-path", str(cache), "--concurrency", "3"
    )
    assert code == 0 and len(remote.bodies()) == 5
    assert sorted(first.splitlines()) == sorted(second.splitlines())
    assert "5 from the cache" in err and "$0.0000" in err


def test_resume_redoes_failures_and_only_them(remote, person_py, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", 6)
    out_file = tmp_path / "out.jsonl"
    flaky = {"on": True}

    def answer(body: dict[str, Any]) -> BodyReply:
        if flaky["on"] and body["messages"][-1]["content"].startswith(("P2 ", "P4 ")):
            return completion('{"name": "x"}')  # age missing: fails validation
        return echo(body)

    remote.default = answer
    code, _, _ = run(
        "run",
        str(person_py),
        str(data),
        "--output",
        str(out_file),
        "--max-retries",
        "0",
        "--concurrency",
        "3",
    )
    assert code == 1
    assert sorted(r["input"] for r in _records(out_file) if not r["ok"]) == ["doc-2", "doc-4"]
    flaky["on"] = False
    before = len(remote.bodies())
    code, _, err = run("run", str(person_py), str(data), "--output", str(out_file), "--resume")
    assert code == 0, err
    assert len(remote.bodies()) - before == 2
    records = _records(out_file)
    assert sorted(r["input"] for r in records) == [f"doc-{i}" for i in range(6)]
    assert all(r["ok"] for r in records)
    assert "2 ok, 0 failed, 4 already done" in err


def test_resume_with_another_model_redoes_everything(remote, person_py, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", 3)
    out_file = tmp_path / "out.jsonl"
    assert run("run", str(person_py), str(data), "--output", str(out_file))[0] == 0
    assert run("run", str(person_py), str(data), "--output", str(out_file), "--resume")[0] == 0
    assert len(remote.bodies()) == 3
    code, _, _ = run(
        "run", str(person_py), str(data), "--output", str(out_file), "--resume", "--model", "other"
    )
    assert code == 0 and len(remote.bodies()) == 6
    assert sorted(r["input"] for r in _records(out_file)) == ["doc-0", "doc-1", "doc-2"]


def test_resume_needs_an_output_file(remote, person_py, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", 2)
    code, _, err = run("run", str(person_py), str(data), "--resume")
    assert code == 2 and "--output" in err


def test_resume_after_a_kill_does_every_input_exactly_once(remote, person_py, tmp_path):
    total = 40
    data = _jsonl(tmp_path / "in.jsonl", total)
    out_file = tmp_path / "out.jsonl"
    release = threading.Event()
    served = {"n": 0}
    lock = threading.Lock()

    def answer(body: dict[str, Any]) -> BodyReply:
        with lock:
            served["n"] += 1
            stall = served["n"] > 15
        if stall:  # the rest of the first run hangs until it has been killed
            release.wait(10)
        return echo(body)

    remote.default = answer
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "extractkit.cli",
            "run",
            str(person_py),
            str(data),
            "--concurrency",
            "4",
            "--output",
            str(out_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out_file.exists() and out_file.read_text().count("\n") >= 10):
            assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the first run made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()  # type: ignore[union-attr]
    kept = _records(out_file)
    assert 10 <= len(kept) < total
    with out_file.open("ab") as f:
        f.write(b'{"input": "doc-39", "ok": tr')  # as if killed in the middle of a write
    remote.default = echo
    before = len(remote.bodies())
    code, _, err = run(
        "run",
        str(person_py),
        str(data),
        "--concurrency",
        "4",
        "--output",
        str(out_file),
        "--resume",
    )
    assert code == 0, err
    records = _records(out_file)
    ids = [r["input"] for r in records]
    assert sorted(ids) == sorted(f"doc-{i}" for i in range(total))  # each exactly once
    assert all(r["ok"] and r["value"]["age"] == int(r["input"][4:]) for r in records)
    assert len(remote.bodies()) - before == total - len(kept)


# -- cost ---------------------------------------------------------------------


def _item(model: str | None, usage: Usage, *, ok: bool = True, cached: bool = False) -> Any:
    from extractkit.results import Result

    result = Result(value=1, attempts=[], usage=usage, model=model, finish_reason="stop")
    if ok:
        return ItemResult("x", 0, result=result, usage=usage, cached=cached)
    return ItemResult("x", 0, error=ValueError("bad"), usage=usage, cached=cached)


def test_price_table_lookup_and_override(tmp_path):
    table = PriceTable()
    usage = Usage(1_000_000, 1_000_000, 2_000_000)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.15 + 0.60)
    assert table.cost("no-such-model", usage) is None
    assert table.cost("no-such-model", usage, local=True) == 0.0
    assert table.cost("smollm2-135m-instruct", usage) == 0.0
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps({"gpt-4o-mini": {"input": 1, "output": 1}, "mine": {"input": 3, "output": 4}})
    )
    loaded = PriceTable.load(path)
    assert loaded.price_for("gpt-4o-mini") == Price(1.0, 1.0)
    assert loaded.cost("mine", usage) == pytest.approx(7.0)
    path.write_text(json.dumps({"mine": {"input": "cheap"}}))
    from extractkit import ConfigurationError

    with pytest.raises(ConfigurationError, match="mine"):
        PriceTable.load(path)


def test_tally_local_and_cached_items_cost_nothing():
    usage = Usage(1000, 1000, 2000)
    local = Tally(model="smollm2-135m-instruct", local=True)
    local.add(_item(None, usage))
    assert local.cost == 0.0 and local.usage == usage
    remote = Tally(PriceTable({"m": Price(1.0, 1.0)}), model="m")
    remote.add(_item("m", usage))
    remote.add(_item("m", usage, cached=True))
    remote.add(_item(None, usage, ok=False))  # failed: its tokens were still paid
    remote.add(_item("m-2024-01-01", usage))  # a dated name of a priced model
    remote.add(_item("scripted", usage))  # unknown to the table: priced as the requested model
    assert (remote.ok, remote.failed, remote.cached) == (4, 1, 1)
    assert remote.cost == pytest.approx(0.008)
    unknown = Tally(PriceTable({}), model="mystery")
    unknown.add(_item("mystery-v2", usage))
    assert unknown.cost == 0.0 and "unpriced: mystery-v2" in unknown.summary()
