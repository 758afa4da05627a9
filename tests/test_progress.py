"""Progress on a terminal: a spinner for one input, done/total/ETA/cost for a batch."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from extractkit.cli import main
from extractkit.drivers.jobs import ItemResult
from extractkit.loading import count_inputs
from extractkit.pricing import Price, PriceTable
from extractkit.results import Usage
from extractkit.tally import Tally
from tests.scripted_server import completion, delayed

ROOT = Path(__file__).resolve().parent.parent


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _item(ok: bool = True) -> ItemResult:
    from extractkit.results import Result

    usage = Usage(100, 20, 120)
    if not ok:
        return ItemResult("x", 0, error=ValueError("no"), usage=usage)
    result = Result(value=1, attempts=[], usage=usage, model="m", finish_reason="stop")
    return ItemResult("x", 0, result=result, usage=usage)


def test_the_batch_line_has_done_total_rate_eta_tokens_and_cost() -> None:
    tally = Tally(PriceTable({"m": Price(1.0, 1.0)}), model="m", total=5)
    tally.started = time.monotonic() - 10
    tally.add(_item())
    tally.add(_item(ok=False))
    line = tally.line()
    assert line.startswith("2/5 done, 1 failed, 0.2/s, ETA 15 s, 240 tokens, ~$0.0002"), line
    tally.skipped = 1  # --resume: already done, not to do
    assert tally.line().startswith("2/4 done") and "ETA 10 s" in tally.line()


def test_the_embedded_model_says_local_not_zero_dollars() -> None:
    tally = Tally(model="smollm2-135m-instruct", local=True)
    tally.add(_item())
    assert tally.line().endswith("120 tokens, local") and "$" not in tally.line()
    assert "no cost (local model)" in tally.summary() and "$" not in tally.summary()


def test_count_inputs_counts_files_and_jsonl_lines(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.jsonl").write_text('{"text": "1"}\n\n{"text": "2"}\n')
    (tmp_path / ".hidden").write_text("x")
    assert count_inputs([str(tmp_path)]) == 3
    assert count_inputs([str(tmp_path / "b.jsonl"), str(tmp_path / "a.txt")]) == 3
    assert count_inputs(["-"]) is None


@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-progress-01")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    return server


def test_one_input_on_a_terminal_shows_a_spinner_with_attempts(remote) -> None:
    remote.push(delayed(completion('{"name": 7}'), 0.3))  # invalid: re-asked
    remote.push(delayed(completion('{"name": "Maria Lopez"}'), 0.3))
    out, err = io.StringIO(), _Terminal()
    doc = str(ROOT / "schemas/inputs/person.txt")
    assert main(["run", str(ROOT / "schemas/person.py"), doc], out=out, err=err) == 0
    assert json.loads(out.getvalue())["name"] == "Maria Lopez"
    shown = err.getvalue()
    assert f"{doc}: attempt 1" in shown and f"{doc}: attempt 2" in shown
    assert "0:00:0" in shown  # the elapsed time


def test_no_spinner_when_stderr_is_not_a_terminal(remote) -> None:
    remote.push(completion('{"name": "Maria Lopez"}'))
    out, err = io.StringIO(), io.StringIO()
    doc = str(ROOT / "schemas/inputs/person.txt")
    assert main(["run", str(ROOT / "schemas/person.py"), doc], out=out, err=err) == 0
    assert "attempt" not in err.getvalue() and "\x1b" not in err.getvalue()


def test_a_batch_on_a_terminal_shows_done_of_total(remote, tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"P{i}"}) + "\n" for i in range(3)))
    for _ in range(3):
        remote.push(delayed(completion('{"name": "P"}'), 0.2))
    out, err = io.StringIO(), _Terminal()
    assert main(["run", str(ROOT / "schemas/person.py"), str(data)], out=out, err=err) == 0
    assert "3/3 done, 0 failed" in err.getvalue()
