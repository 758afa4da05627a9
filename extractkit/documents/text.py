"""Plain text and Markdown files: UTF-8 (a BOM is dropped), no pages."""

from __future__ import annotations

from ..errors import InputError
from .types import Document


def decode_text(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text; undecodable or blank input is an error naming ``name``."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a byte-order mark
        try:
            return _checked(data.decode("utf-16"), data, name)
        except UnicodeDecodeError:
            pass  # reported as not UTF-8 below
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (undecodable byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})",
            path=name,
        ) from None
    return _checked(text, data, name)


def _checked(text: str, data: bytes, name: str) -> str:
    if "\x00" in text:
        hint = " (UTF-16 without a byte-order mark?)" if looks_utf16(data) else ""
        raise InputError(f"{name}: not text: it holds NUL bytes{hint}", path=name)
    if not text or text.isspace():  # (no stripped copy of a big text)
        raise InputError(f"{name}: input is empty", path=name)
    return text


def looks_utf16(data: bytes) -> bool:
    """Whether ``data`` looks like UTF-16 text (every other byte NUL)."""
    head = data[:200]
    return len(head) >= 4 and (head[1::2].count(0) > len(head) // 4
                               or head[0::2].count(0) > len(head) // 4)


def text_document(data: bytes, path: str, kind: str = "text") -> Document:
    return Document(decode_text(data, path), path=path, kind=kind)


def markdown_document(data: bytes, path: str) -> Document:
    text = decode_text(data, path)
    return Document(text, path=path, kind="markdown", title=_markdown_title(text))


def _markdown_title(text: str) -> str | None:
    """The first level-1 ATX heading (``# Title``) among the first lines, if any."""
    for line in text.splitlines()[:50]:
        if line.startswith("# "):
            return line[2:].strip().strip("#").strip() or None
    return None
