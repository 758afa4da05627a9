"""``extractkit eval`` takes every extraction option ``run`` has: grounding, chunking, output rules."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_runner import run_cli as _run
from tests.document_reader import filler, reader_reply
from tests.scripted_server import completion

CONTRACT_PY = """
from pydantic import BaseModel

class Contract(BaseModel):
    parties: list[str] = []
    jurisdiction: str | None = None
    term_years: int | None = None
"""

LONG = ("Party: Nike Inc.\nParty: Acme Corp\n\n" + filler(400) + "\n\nGoverning law: Delaware\n\n"
        + filler(400) + "\n\nParty: Zeta LLC\nTerm: 3 years\n")




def _env(monkeypatch, server) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-eval-options")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")


def test_eval_reads_long_examples_in_chunks(server, monkeypatch, tmp_path):
    _env(monkeypatch, server)
    server.default = reader_reply
    schema = tmp_path / "contract.py"
    schema.write_text(CONTRACT_PY)
    data = tmp_path / "gold.jsonl"
    gold = {"parties": ["Nike Inc.", "Acme Corp", "Zeta LLC"], "jurisdiction": "Delaware",
            "term_years": 3}
    data.write_text(json.dumps({"id": "nda", "text": LONG, "expected": gold}) + "\n")
    out_file = tmp_path / "records.jsonl"
    code, _, err = _run("eval", str(schema), str(data), "--chunk-tokens", "300",
                          "--overlap", "0", "-o", str(out_file), "--json",
                          str(tmp_path / "report.json"))
    assert code == 0, err
    [record] = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert record["document"]["chunks"] > 2
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["f1"] == 1.0 and report["summary"]["failed"] == 0
    assert len(server.requests) == record["document"]["chunks"]


def test_eval_passes_grounding_require_and_refuses_to_replace_records(server, monkeypatch,
                                                                      tmp_path):
    _env(monkeypatch, server)
    schema = tmp_path / "person.py"
    schema.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n    name: str\n")
    data = tmp_path / "gold.jsonl"
    data.write_text(json.dumps({"id": "a", "text": "Ann Lee called.",
                                "expected": {"name": "Ann Lee"}}) + "\n")
    # the first answer invents a name: under require it is re-asked
    server.push(completion('{"name": "Bob Stone"}'), completion('{"name": "Ann Lee"}'))
    out_file = tmp_path / "records.jsonl"
    code, _, err = _run("eval", str(schema), str(data), "--grounding", "require",
                        "-o", str(out_file))
    assert code == 0, err
    assert len(server.requests) == 2
    [record] = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert record["grounding"]["/name"]["status"] == "exact"
    before = Path(out_file).read_text()
    code, _, err = _run("eval", str(schema), str(data), "-o", str(out_file))
    assert code == 2 and "--overwrite" in err
    assert out_file.read_text() == before
