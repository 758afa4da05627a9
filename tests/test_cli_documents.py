"""`extractkit run` on document files (PDF, HTML, DOCX, Markdown) through the scripted server."""

from __future__ import annotations

import io
import json

import pytest

from extractkit.loading import iter_inputs
from tests.cli_runner import run_cli as run
from tests.scripted_server import completion

from .document_files import HTML_PAGE, write_docx, write_pdf

SECRET = "sk-test-very-secret-key-42"




@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    return server


@pytest.fixture
def nda_py(tmp_path):
    path = tmp_path / "nda.py"
    path.write_text(
        "from pydantic import BaseModel\n\n"
        "class NDA(BaseModel):\n    jurisdiction: str\n"
    )
    return path


def test_run_on_a_pdf_sends_its_text(remote, nda_py, tmp_path):
    pdf = write_pdf(tmp_path / "contract.pdf")
    remote.push(completion('{"jurisdiction": "Delaware"}'))
    code, out, err = run("run", str(nda_py), str(pdf))
    assert code == 0, err
    assert json.loads(out) == {"jurisdiction": "Delaware"}
    sent = remote.bodies()[0]["messages"][-1]["content"]
    assert "governed by the laws of the State of Delaware" in sent
    assert "Effective Date: January 1, 2020." in sent


def test_a_folder_of_documents_where_bad_files_fail_alone(remote, nda_py, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_pdf(folder / "a.pdf")
    (folder / "b.html").write_text(HTML_PAGE, encoding="utf-8")
    write_docx(folder / "c.docx")
    (folder / "d.md").write_text("# NDA\n\nGoverned by Texas law.", encoding="utf-8")
    write_pdf(folder / "e-locked.pdf", user_password="pw")
    write_pdf(folder / "f-scan.pdf", [], image_pages=(1,))
    (folder / "g-corrupt.docx").write_bytes(b"PK\x03\x04broken")
    for _ in range(4):
        remote.push(completion('{"jurisdiction": "Delaware"}'))
    out_file = tmp_path / "out.jsonl"
    code, out, err = run("run", str(nda_py), str(folder), "--output", str(out_file))
    assert code == 1 and out == ""
    assert "e-locked.pdf" in err
    records = {r["input"]: r for r in map(json.loads, out_file.read_text().splitlines())}
    assert len(records) == 7
    ok = sorted(name.rsplit("/", 1)[-1] for name, r in records.items() if r["ok"])
    assert ok == ["a.pdf", "b.html", "c.docx", "d.md"]
    assert "the PDF is encrypted" in records[str(folder / "e-locked.pdf")]["error"]
    assert "no text layer" in records[str(folder / "f-scan.pdf")]["error"]
    assert "not a readable .docx" in records[str(folder / "g-corrupt.docx")]["error"]
    for name in ("e-locked.pdf", "f-scan.pdf", "g-corrupt.docx"):
        assert str(folder / name) in records[str(folder / name)]["error"]
    sent = sorted(body["messages"][-1]["content"][:40] for body in remote.bodies())
    assert len(sent) == 4 and not any("Home" in s or "Cookie" in s for s in sent)


def test_inputs_carry_their_document_and_page_map(tmp_path):
    pdf = write_pdf(tmp_path / "contract.pdf")
    [doc] = iter_inputs([str(pdf)])
    assert doc.error is None and doc.document is not None
    assert doc.text == doc.document.text
    assert doc.document.page_of(doc.text.index("Delaware")) == 3
    [text_doc] = iter_inputs(["-"], stdin=io.BytesIO(b"Ada is 36"))
    assert text_doc.document is not None and text_doc.document.text == "Ada is 36"
    [piped] = iter_inputs(["-"], stdin=io.BytesIO(pdf.read_bytes()))
    assert piped.document is not None and piped.document.kind == "pdf"
    assert piped.document.page_of(piped.text.index("Delaware")) == 3
    [bad] = iter_inputs(["-"], stdin=io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    assert bad.error is not None and str(bad.error).startswith("<stdin>: binary file")
    [utf16] = iter_inputs(["-"], stdin=io.BytesIO("Ada is 36".encode("utf-16")))
    assert utf16.text == "Ada is 36"


def test_prompt_command_renders_a_docx(nda_py, tmp_path, monkeypatch):
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # a named model needs one
    docx = write_docx(tmp_path / "nda.docx")
    code, out, err = run("prompt", str(nda_py), str(docx))
    assert code == 0, err
    assert "| Acme Inc. | Discloser |" in out
