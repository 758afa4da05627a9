"""Documents: loading files (PDF, HTML, DOCX, Markdown, text) and chunking long text."""

from __future__ import annotations

from .chunk import Chunk, chunk_text
from .types import Document, Page

__all__ = ["Chunk", "Document", "Page", "chunk_text"]
