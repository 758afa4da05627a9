"""load_document: PDF / HTML / DOCX / Markdown / text files, page maps, and clear errors."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from extractkit.documents import Document, as_document, load_document
from extractkit.errors import InputError

from .document_files import HTML_PAGE, PDF_PAGES, write_docx, write_pdf


def test_pdf_pages_and_offsets(tmp_path):
    doc = load_document(write_pdf(tmp_path / "nda.pdf"))
    assert doc.kind == "pdf" and doc.title == "Acme NDA" and doc.path.endswith("nda.pdf")
    assert [p.number for p in doc.pages] == [1, 2, 3]
    for page, expected in zip(doc.pages, PDF_PAGES, strict=True):
        assert doc.text[page.start:page.end] == expected
    # an offset inside "Delaware" is on page 3, one inside "three years" on page 2
    assert doc.page_of(doc.text.index("Delaware")) == 3
    assert doc.page_of(doc.text.index("three years")) == 2
    assert doc.page_of(doc.text.index("Acme Inc.")) == 1
    assert "\r" not in doc.text


def test_pdf_with_an_image_only_page_keeps_page_numbers(tmp_path):
    path = write_pdf(tmp_path / "mixed.pdf", PDF_PAGES[:2], image_pages=(2,))
    doc = load_document(path)
    assert [(p.number, p.end - p.start) for p in doc.pages][1] == (2, 0)
    assert doc.page_of(doc.text.index("three years")) == 3


def test_pdf_without_a_text_layer_is_refused(tmp_path):
    path = write_pdf(tmp_path / "scan.pdf", [], image_pages=(1, 2))
    with pytest.raises(InputError, match=r"scan\.pdf: .*no text layer.*OCR is not built in"):
        load_document(path)


def test_encrypted_pdf_is_refused_but_an_owner_only_password_is_fine(tmp_path):
    locked = write_pdf(tmp_path / "locked.pdf", user_password="secret")
    with pytest.raises(InputError, match=r"locked\.pdf: the PDF is encrypted") as info:
        load_document(locked)
    assert "secret" not in str(info.value)
    assert info.value.path == str(locked)
    opened = load_document(write_pdf(tmp_path / "owner.pdf", user_password=""))
    assert opened.text.startswith("MUTUAL NON-DISCLOSURE")


def test_corrupt_pdf_is_refused(tmp_path):
    good = write_pdf(tmp_path / "good.pdf").read_bytes()
    for name, data in {"trunc.pdf": good[: len(good) // 3], "junk.pdf": b"%PDF-1.7\nnot a pdf"}.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError, match=rf"{name}: not a readable PDF"):
            load_document(path)


def test_html_main_text_without_boilerplate(tmp_path):
    path = tmp_path / "nda.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = load_document(path)
    assert doc.kind == "html" and doc.pages == ()
    assert "governed by the laws of the State of Delaware" in doc.text
    assert "Beta LLC" in doc.text
    for boilerplate in ("About us", "sign in", "Cookie settings", "All rights reserved"):
        assert boilerplate not in doc.text
    # blocks are paragraphs; table rows stay together, one per line
    assert "\n\nThis Agreement is entered into" in doc.text
    assert "| Acme Inc. | Discloser |\n| Beta LLC | Recipient |" in doc.text
    assert doc.title == "Mutual Non-Disclosure Agreement"


def test_html_without_a_main_text_falls_back_to_all_text(tmp_path):
    path = tmp_path / "tiny.htm"
    path.write_text("<html><body><div>Party: Acme</div></body></html>", encoding="utf-8")
    assert "Party: Acme" in load_document(path).text
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body><script>x = 1</script></body></html>", encoding="utf-8")
    with pytest.raises(InputError, match=r"blank\.html: the HTML page has no text"):
        load_document(blank)


def test_docx_paragraphs_and_table_rows_in_order(tmp_path):
    doc = load_document(write_docx(tmp_path / "nda.docx"))
    assert doc.kind == "docx" and doc.title == "Acme NDA"
    assert doc.text == (
        "Mutual Non-Disclosure Agreement\n\n"
        "This Agreement is made by Acme Inc. and Beta LLC.\n\n"
        "| Party | Role |\n| Acme Inc. | Discloser |\n| Beta LLC | Recipient |\n\n"
        "Governed by the laws of the State of Delaware."
    )


def test_corrupt_docx_is_refused(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match=r"broken\.docx: not a readable \.docx file"):
        load_document(path)
    other_zip = tmp_path / "other.docx"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match=r"other\.docx: not a readable \.docx file"):
        load_document(other_zip)


def test_markdown_and_text_cjk(tmp_path):
    md = tmp_path / "notes.md"
    md.write_text("# 秘密保持契約\n\n本契約は東京都の法律に準拠する。\n", encoding="utf-8")
    doc = load_document(md)
    assert doc.kind == "markdown" and doc.title == "秘密保持契約"
    assert doc.text.index("東京都") == 14  # str (code point) offsets, not bytes
    txt = tmp_path / "plain.txt"
    txt.write_bytes("\ufeffAda is 36\n".encode())
    assert load_document(txt) == Document("Ada is 36\n", path=str(txt), kind="text")


def test_files_without_a_known_suffix_are_recognised_by_content(tmp_path):
    pdf = tmp_path / "contract"
    pdf.write_bytes(write_pdf(tmp_path / "x.pdf").read_bytes())
    assert load_document(pdf).kind == "pdf"
    page = tmp_path / "page.asp"
    page.write_text(HTML_PAGE, encoding="utf-8")
    assert load_document(page).kind == "html"
    notes = tmp_path / "NOTES"
    notes.write_text("plain notes", encoding="utf-8")
    assert load_document(notes).kind == "text"
    wide = tmp_path / "letter.log"
    wide.write_bytes("Dear Ann, thanks.".encode("utf-16"))
    assert load_document(wide).text == "Dear Ann, thanks."
    bare = tmp_path / "bare.log"
    bare.write_bytes("Dear Ann, thanks.".encode("utf-16-le"))
    with pytest.raises(InputError, match="UTF-16 without a byte-order mark"):
        load_document(bare)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"photo\.png: binary \.png file of an unknown type"),
        ("blob", b"\x00\x01\x02\x03", r"blob: binary file of an unknown type"),
        ("old.doc", b"\xd0\xcf\x11\xe0", r"old\.doc: legacy Word \.doc is not supported"),
        ("bad.txt", b"ok \xff\xfe bytes", r"bad\.txt: not UTF-8 text \(undecodable byte 0xff at offset 3\)"),
        ("empty.md", b"  \n", r"empty\.md: input is empty"),
        ("latin1.csv", "name;city\nJosé;Málaga\n".encode("latin-1"),
         r"latin1\.csv: not UTF-8 text \(undecodable byte 0xe9 at offset 13\)"),
    ],
)
def test_unreadable_files_are_errors_naming_the_file(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_document(path)


def test_missing_files_and_directories(tmp_path):
    with pytest.raises(InputError, match=r"nope\.pdf: input file not found"):
        load_document(tmp_path / "nope.pdf")
    with pytest.raises(InputError, match="is a directory"):
        load_document(tmp_path)


@pytest.mark.parametrize(
    ("module", "suffix", "package"),
    [("pypdfium2", ".pdf", "pypdfium2"), ("trafilatura", ".html", "trafilatura"),
     ("docx", ".docx", "python-docx")],
)
def test_a_missing_optional_library_names_the_install_command(tmp_path, monkeypatch, module,
                                                               suffix, package):
    path = tmp_path / f"file{suffix}"
    path.write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(InputError) as info:
        load_document(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and package in message
    assert 'pip install "extractkit[documents]"' in message


def test_as_document(tmp_path):
    doc = Document.from_text("x")
    assert as_document(doc) is doc
    assert as_document("Ada is 36") == Document("Ada is 36")
    path = tmp_path / "a.md"
    path.write_text("# T\n\nbody", encoding="utf-8")
    assert as_document(Path(path)).kind == "markdown"
    with pytest.raises(TypeError, match="not int"):
        as_document(3)  # type: ignore[arg-type]


def test_html_in_a_legacy_encoding_is_decoded_by_its_meta_charset(tmp_path):
    path = tmp_path / "legacy.html"
    page = ('<html><head><meta charset="windows-1252"></head><body><article><p>Café Müller '
            "GmbH and Société Générale agree on the terms of this agreement.</p></article>"
            "</body></html>")
    path.write_bytes(page.encode("cp1252"))
    assert "Café Müller GmbH and Société Générale" in load_document(path).text
