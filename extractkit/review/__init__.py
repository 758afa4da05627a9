"""The review page: a run's records as one self-contained HTML file (``extractkit review``)."""

from __future__ import annotations

from .page import build_page, load_records, page_document, write_page

__all__ = ["build_page", "load_records", "page_document", "write_page"]
