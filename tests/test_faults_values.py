"""Values must be strict JSON: no NaN/Infinity, no lone surrogates — on every front door.

Policy (docs/errors.md): such an answer is invalid, with the field named, and
goes through the normal re-ask loop; it never reaches stdout, ``--output`` or a
Python caller.
"""

from __future__ import annotations

import io
import json

import pytest
from pydantic import BaseModel

from extractkit import ExtractionError, Extractor
from extractkit.cli import main
from tests.scripted_server import completion


class Reading(BaseModel):
    label: str
    value: float


GOOD = '{"label": "ok", "value": 1.5}'


@pytest.mark.parametrize("bad, field", [
    ('{"label": "ok", "value": NaN}', "value"),
    ('{"label": "ok", "value": -Infinity}', "value"),
    ('{"label": "ok", "value": 1e999}', "value"),
    ('{"label": "bad \\ud800 text", "value": 1}', "label"),
    ('{"label": "\\udc00", "value": 1}', "label"),
])
def test_unsafe_values_are_reasked_with_the_field_named(server, client, bad, field):
    server.push(completion(bad))
    server.push(completion(GOOD))
    result = Extractor(client, model="m", max_retries=1).extract_result(Reading, "x")
    assert result.value == Reading(label="ok", value=1.5)
    assert result.attempts[0].errors[0].startswith(f"{field}: ")


def test_a_surrogate_pair_is_fine(server, client):
    server.push(completion('{"label": "smile \\ud83d\\ude00", "value": 2}'))
    assert Extractor(client, model="m").extract(Reading, "x").label == "smile \U0001F600"


def test_unsafe_values_never_reach_the_cli_output(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-values-0001")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    schema = tmp_path / "reading.py"
    schema.write_text("from pydantic import BaseModel\nclass Reading(BaseModel):\n"
                      "    label: str\n    value: float\n")
    docs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for d in docs:
        d.write_text("x")
    for _ in range(6):
        server.push(completion('{"label": "\\ud800", "value": NaN}'))
    out_file = tmp_path / "out.jsonl"
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(schema), *map(str, docs), "-o", str(out_file), "--max-retries", "0"],
                out=out, err=err)
    assert code == 1
    lines = out_file.read_bytes().decode("utf-8").splitlines()  # strict UTF-8
    records = [json.loads(line) for line in lines]
    assert [r["ok"] for r in records] == [False, False]
    assert "NaN" not in out.getvalue()
    assert all("lone surrogate" in r["error"] or "not a JSON number" in r["error"] for r in records)


def test_python_callers_get_an_extraction_error_not_a_crash(server, client):
    server.push(completion('{"label": "\\ud800", "value": 1}'))
    with pytest.raises(ExtractionError, match="lone surrogate"):
        Extractor(client, model="m", max_retries=0).extract(Reading, "x")
