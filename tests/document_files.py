"""Writers of the small document files the document tests read (generated, not shipped)."""

from __future__ import annotations

from pathlib import Path

PDF_PAGES = [
    "MUTUAL NON-DISCLOSURE AGREEMENT\nThis Agreement is made by Acme Inc. and Beta LLC.",
    "Effective Date: January 1, 2020.\nThe term of this Agreement is three years.",
    "This Agreement is governed by the laws of the State of Delaware.",
]


def write_pdf(
    path: Path,
    pages: list[str] = PDF_PAGES,
    *,
    title: str | None = "Acme NDA",
    user_password: str | None = None,
    image_pages: tuple[int, ...] = (),
) -> Path:
    """A PDF with one page per text (``image_pages``: 1-based pages holding only an image)."""
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod
    from PIL import Image

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    texts = iter(pages)
    for number in range(1, len(pages) + len(image_pages) + 1):
        pdf.add_page()
        if number in image_pages:
            pdf.image(Image.new("RGB", (60, 40), (200, 30, 30)), x=20, y=20, w=60)
        else:
            pdf.multi_cell(0, 8, next(texts))
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner", user_password=user_password,
            encryption_method=EncryptionMethod.RC4,
        )
    pdf.output(str(path))
    return path


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Acme NDA | Legal documents</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/contact">Contact</a></nav>
<header><p>Example Corp legal portal: menu, search, sign in</p></header>
<main><article>
<h1>Mutual Non-Disclosure Agreement</h1>
<p>This Agreement is entered into by Acme Inc. and Beta LLC, effective January 1, 2020.</p>
<p>It is governed by the laws of the State of Delaware. The term is three years from the
effective date, unless terminated earlier by either party in writing.</p>
<table>
<tr><th>Party</th><th>Role</th></tr>
<tr><td>Acme Inc.</td><td>Discloser</td></tr>
<tr><td>Beta LLC</td><td>Recipient</td></tr>
</table>
<p>Each party keeps the information of the other confidential and uses it only for the
purpose of evaluating a possible business relationship between the parties.</p>
</article></main>
<footer><p>Copyright 2024 Example Corp. All rights reserved. Privacy policy. Cookie settings.</p>
</footer>
</body></html>
"""


def write_docx(path: Path, *, title: str | None = "Acme NDA") -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading("Mutual Non-Disclosure Agreement", level=1)
    document.add_paragraph("This Agreement is made by Acme Inc. and Beta LLC.")
    document.add_paragraph("")  # an empty paragraph is left out
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("Party", "Role"), ("Acme Inc.", "Discloser"),
                                      ("Beta LLC", "Recipient")], strict=True):
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    document.add_paragraph("Governed by the laws of the State of Delaware.")
    document.save(str(path))
    return path
