"""A loaded document: its text and where each page of it lies.

Offsets are ``str`` indexes into :attr:`Document.text` (the same coordinates
grounding spans use), so a span's ``start`` maps to a page with
:meth:`Document.page_of`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Page:
    """Page ``number`` (1-based) covers ``text[start:end]`` of its document."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """The text of an input and its page map.

    ``kind`` is the format it was read from (``"pdf"``, ``"html"``, ``"docx"``,
    ``"markdown"``, ``"text"``). ``pages`` is empty for formats without pages.
    """

    text: str
    path: str | None = None
    kind: str = "text"
    pages: tuple[Page, ...] = ()
    title: str | None = None

    @cached_property
    def _starts(self) -> list[int]:
        return [page.start for page in self.pages]

    @classmethod
    def from_text(cls, text: str, path: str | None = None) -> Document:
        """A plain-text document (no pages)."""
        return cls(text=text, path=path)

    def page_of(self, offset: int) -> int | None:
        """The number of the page holding character ``offset``, or ``None``.

        ``None`` when the document has no pages or ``offset`` falls outside
        every page (for example in the separator between two pages).
        """
        index = bisect_right(self._starts, offset) - 1
        if index < 0:
            return None
        page = self.pages[index]
        return page.number if page.start <= offset < page.end else None
