"""PDF files: the text layer of each page, through pypdfium2 (PDFium).

Pages are joined with a blank line; each :class:`Page` records where its text
lies. A page without text (a scanned image) keeps an empty range; a PDF with
no text on any page is an error, since OCR is not built in.
"""

from __future__ import annotations

import threading

from ..errors import InputError
from ._deps import require
from .types import Document, Page

PAGE_SEPARATOR = "\n\n"

#: PDFium is not thread-safe: one document at a time
_PDFIUM_LOCK = threading.Lock()
#: PDFium's FPDF_ERR_PASSWORD
_ERR_PASSWORD = 4


def pdf_document(data: bytes, path: str) -> Document:
    pdfium = require("pypdfium2", "pypdfium2", "PDF files", path)
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == _ERR_PASSWORD:
                raise InputError(
                    f"{path}: the PDF is encrypted (it needs a password to open); "
                    "decrypt it first", path=path
                ) from None
            raise InputError(f"{path}: not a readable PDF (corrupt file?): {exc}",
                             path=path) from None
        try:
            texts = [_page_text(pdf, number) for number in range(len(pdf))]
            title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
        except pdfium.PdfiumError as exc:
            raise InputError(f"{path}: not a readable PDF (corrupt file?): {exc}",
                             path=path) from None
        finally:
            pdf.close()
    if not any(text.strip() for text in texts):
        raise InputError(
            f"{path}: the PDF has no text layer ({len(texts)} page(s) of images?); "
            "OCR is not built in: run it through an OCR tool first", path=path
        )
    return _joined(texts, path, title)


def _page_text(pdf: object, index: int) -> str:
    page = pdf[index]  # type: ignore[index]
    try:
        textpage = page.get_textpage()
        try:
            raw: str = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    return _clean(raw)


def _clean(raw: str) -> str:
    """PDFium's text with ``\\n`` line ends and without its control markers."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    # \x02 marks a hyphen PDFium broke a word at; \x00 / \ufffe are padding
    return text.replace("\x02", "-").replace("\x00", "").replace("\ufffe", "").strip()


def _joined(texts: list[str], path: str, title: str | None) -> Document:
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    for number, text in enumerate(texts, 1):
        if number > 1:
            parts.append(PAGE_SEPARATOR)
            offset += len(PAGE_SEPARATOR)
        parts.append(text)
        pages.append(Page(number, offset, offset + len(text)))
        offset += len(text)
    return Document("".join(parts), path=path, kind="pdf", pages=tuple(pages), title=title)
