"""grounding="require" end to end on the embedded model, through the CLI: the request
carries the documents, extractive decoding copies grounded strings from them, and
every grounded value of the result is found in the input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from extractkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.local_model
def test_cli_require_on_the_embedded_model_returns_only_values_from_the_text(
        tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTKIT_MODEL", "EXTRACTKIT_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    schema = tmp_path / "contact.py"
    schema.write_text(
        "from pydantic import BaseModel\n\n"
        "class Contact(BaseModel):\n"
        "    name: str\n"
        "    email: str\n"
        "    city: str | None = None\n")
    letter = tmp_path / "letter.txt"
    text = ("Hello, this is Priya Raman writing from Leeds. You can reach me at "
            "priya.raman@fastmail.org about the order.")
    letter.write_text(text)
    out = tmp_path / "out.jsonl"
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["run", str(schema), str(letter), str(letter), "--local", "--grounding",
                 "require", "--max-tokens", "96", "-o", str(out)], out=stdout, err=stderr)
    assert code == 0, stderr.getvalue()
    for line in out.read_text().splitlines():
        record = json.loads(line)
        assert record["ok"], record
        grounding = record["grounding"]
        for pointer in ("/name", "/email"):
            leaf = grounding[pointer]
            assert leaf["status"] != "ungrounded"
            span = leaf["spans"][0]
            assert text[span["start"]:span["end"]] == record["value"][pointer[1:]]
        assert record["value"]["email"] in text  # copied, not invented
