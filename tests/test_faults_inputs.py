"""Input hygiene: what is not text is said to be so, naming the input once."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from extractkit import Extractor, InputError
from extractkit.testing import TestModel
from tests.cli_runner import run_cli as _run


class Person(BaseModel):
    name: str




@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "person.py"
    path.write_text("from pydantic import BaseModel\nclass Person(BaseModel):\n    name: str\n")
    return path


def test_utf16_without_bom_and_nul_bytes_are_not_text(tmp_path, schema, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    utf16 = tmp_path / "letter.txt"
    utf16.write_bytes("Dear Ann, thanks for the visit.".encode("utf-16-le"))
    nul = tmp_path / "blob.txt"
    nul.write_bytes(b"some text\x00\x00\x01 and more")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    code, _, err = _run("run", str(schema), str(utf16), str(nul), str(empty))
    assert code == 1
    assert f"{utf16}: not text: it holds NUL bytes (UTF-16 without a byte-order mark?)" in err
    assert f"{nul}: not text: it holds NUL bytes" in err
    assert f"extractkit: {empty}: input is empty" in err
    assert f"{empty}: {empty}" not in err  # named once


def test_utf16_with_a_bom_is_read(tmp_path):
    from extractkit.documents.text import decode_text

    data = "Naïve café 東京".encode("utf-16")  # with its byte-order mark
    assert decode_text(data, "x.txt") == "Naïve café 東京"


def test_empty_text_is_rejected_in_the_python_api():
    ex = Extractor(client=TestModel([{"name": "A"}]))
    for text in ("", "   \n\t"):
        with pytest.raises(InputError, match="empty"):
            ex.extract(Person, text)
