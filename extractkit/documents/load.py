"""``load_document(path)``: a file's text and page map, by its type.

``.pdf`` (pypdfium2), ``.html``/``.htm``/``.xhtml`` (trafilatura), ``.docx``
(python-docx), ``.md``/``.markdown`` and any UTF-8 text. A file without a
known suffix is recognised by its first bytes (``%PDF-``, a Word zip, an
HTML tag); other binary files are refused. Every failure is an
:class:`~extractkit.errors.InputError` whose message starts with the file name.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from pathlib import Path

from ..errors import InputError
from .docx import docx_document
from .html import html_document
from .pdf import pdf_document
from .text import looks_utf16, markdown_document, text_document
from .types import Document

Reader = Callable[[bytes, str], Document]

#: suffix -> reader; a suffix not listed is recognised by content
READERS: dict[str, Reader] = {
    ".pdf": pdf_document,
    ".html": html_document,
    ".htm": html_document,
    ".xhtml": html_document,
    ".docx": docx_document,
    ".md": markdown_document,
    ".markdown": markdown_document,
    ".txt": text_document,
    ".text": text_document,
}

#: formats extractkit recognises but cannot read, with what to do instead
_UNSUPPORTED = {
    ".doc": "legacy Word .doc is not supported: save it as .docx",
    ".rtf": "RTF is not supported: save it as .docx or text",
    ".odt": "OpenDocument text is not supported: save it as .docx",
    ".pptx": "PowerPoint files are not supported",
    ".xlsx": "Excel files are not supported: export the sheet as CSV",
}

_KNOWN = ".pdf, .html, .htm, .docx, .md and UTF-8 text files"
_SNIFF = 8192


def load_bytes(data: bytes, name: str) -> Document:
    """A :class:`Document` from a file's bytes (standard input, say), recognised by content."""
    return _sniff(data, name, "")(data, name)


def load_document(path: str | PathLike[str]) -> Document:
    """Read the file at ``path`` into a :class:`Document`."""
    name = str(path)
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: input file not found", path=name) from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory", path=name) from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}", path=name) from None
    suffix = file.suffix.lower()
    if suffix in _UNSUPPORTED:
        raise InputError(f"{name}: {_UNSUPPORTED[suffix]}", path=name)
    reader = READERS.get(suffix) or _sniff(data, name, suffix)
    return reader(data, name)


def _sniff(data: bytes, name: str, suffix: str) -> Reader:
    head = data[:_SNIFF]
    if head.startswith(b"%PDF-"):
        return pdf_document
    if head.startswith(b"PK\x03\x04") and b"word/" in head:
        return docx_document
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return html_document
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or looks_utf16(head):
        return text_document  # UTF-16: read with its byte-order mark, or told it lacks one
    if b"\x00" in head:  # images, archives, executables; text never holds NUL bytes
        kind = f"{suffix} file" if suffix else "file"
        raise InputError(
            f"{name}: binary {kind} of an unknown type; extractkit reads {_KNOWN}", path=name
        )
    return text_document  # text in another encoding gets decode_text's precise message
