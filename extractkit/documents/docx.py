"""Word files (.docx): paragraphs and tables in document order, through python-docx.

Paragraphs are separated by a blank line; a table becomes Markdown-style rows
(``| cell | cell |``), one per line, so chunking keeps rows whole. Word files
have no fixed pages (pagination happens when Word lays them out), so
``pages`` is empty.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from ..errors import InputError
from ._deps import require
from .types import Document


def docx_document(data: bytes, path: str) -> Document:
    docx = require("docx", "python-docx", "Word files", path)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, docx.opc.exceptions.PackageNotFoundError
            ) as exc:
        raise InputError(f"{path}: not a readable .docx file (corrupt, or another format?): "
                         f"{type(exc).__name__}", path=path) from None
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, docx.table.Table):
            rows = _table_rows(item)
            if rows:
                blocks.append("\n".join(rows))
        else:
            text = item.text.strip()
            if text:
                blocks.append(text)
    if not blocks:
        raise InputError(f"{path}: the Word file has no text", path=path)
    title = (document.core_properties.title or "").strip() or None
    return Document("\n\n".join(blocks), path=path, kind="docx", title=title)


def _table_rows(table: Any) -> list[str]:
    rows = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()).replace("|", "\\|") for cell in row.cells]
        if any(cells):
            rows.append("| " + " | ".join(cells) + " |")
    return rows
