"""HTML pages: the main text (navigation, headers, footers left out) through trafilatura.

trafilatura puts each block (heading, paragraph, table row, list item) on a
line of its own; here blocks become paragraphs separated by a blank line,
while consecutive table rows and list items stay together on single lines
so that chunking keeps them whole. A page whose main text cannot be told
apart falls back to all of its visible text.
"""

from __future__ import annotations

import re

from ..errors import InputError
from ._deps import require
from .types import Document

_GROUPED_LINE = re.compile(r"\s*(?:\||[-*•]\s|\d{1,3}[.)]\s)")


def html_document(data: bytes, path: str) -> Document:
    trafilatura = require("trafilatura", "trafilatura", "HTML files", path)
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: not an HTML file (binary content)", path=path)
    try:
        extracted = trafilatura.bare_extraction(
            data, include_tables=True, include_comments=False, favor_recall=True,
            with_metadata=True,
        )
    except Exception as exc:  # lxml / trafilatura parser failures on malformed input
        raise InputError(f"{path}: cannot parse the HTML: {exc}", path=path) from None
    text = getattr(extracted, "text", None) or ""
    title = getattr(extracted, "title", None) or None
    if not text.strip():
        text = trafilatura.html2txt(data) or ""
    if not text.strip():
        raise InputError(f"{path}: the HTML page has no text", path=path)
    return Document(_paragraphs(text), path=path, kind="html", title=title)


def _paragraphs(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    parts: list[str] = []
    for number, line in enumerate(lines):
        if number:
            grouped = _GROUPED_LINE.match(line) and _GROUPED_LINE.match(lines[number - 1])
            parts.append("\n" if grouped else "\n\n")
        parts.append(line)
    return "".join(parts)
