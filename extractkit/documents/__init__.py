"""Documents: loading files (PDF, HTML, DOCX, Markdown, text) and chunking long text.

``load_document(path)`` reads a file into a :class:`Document` (text plus page
map); ``chunk_text`` cuts long text into token-bounded :class:`Chunk` s;
``token_counter`` picks the tokenizer to count with.
"""

from __future__ import annotations

from os import PathLike

from .chunk import Chunk, chunk_text
from .load import load_bytes, load_document
from .tokens import token_counter
from .types import Document, Page

__all__ = ["Chunk", "Document", "Page", "as_document", "chunk_text", "load_bytes",
           "load_document", "token_counter"]


def as_document(obj: Document | str | PathLike[str]) -> Document:
    """``obj`` as a :class:`Document`.

    A ``Document`` is returned as is, a path (``pathlib.Path`` or any
    ``os.PathLike``) is loaded with :func:`load_document`, and a ``str`` is the
    text itself (as everywhere else in the API): pass ``Path("contract.pdf")``
    to read a file.
    """
    if isinstance(obj, Document):
        return obj
    if isinstance(obj, PathLike):
        return load_document(obj)
    if isinstance(obj, str):
        return Document.from_text(obj)
    raise TypeError(f"expected a Document, a text or a path, not {type(obj).__name__}")
