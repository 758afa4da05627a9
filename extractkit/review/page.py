"""The review page: one self-contained HTML file for a run's records.

Every document's text with each grounded value highlighted in its field's
colour, the extracted value as a tree beside it (click a leaf: its span
scrolls into view; hover a span: its field path), ungrounded values
flagged, conflicts with their candidates, failures with their attempts,
and, from an eval, each leaf marked right or wrong with the expected value.

The page is one file: inline CSS and JavaScript, no network (a
``Content-Security-Policy`` forbids it). The records are embedded as JSON
(``<``, ``>``, ``&`` and the line separators escaped, so no text can close
the ``<script>``); the page renders one document at a time and long texts
in slices of :data:`SLICE_CHARS` characters as they scroll into view, so
1,000 documents or a 300-page document stay responsive.
"""

from __future__ import annotations

import bisect
import html
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError

#: Characters of a text rendered at once (more are rendered while scrolling).
SLICE_CHARS = 20_000

_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                               "\u2028": "\\u2028", "\u2029": "\\u2029"})


@cache
def _template() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``."""
    return json.dumps(data, ensure_ascii=False, default=str).translate(_JSON_ESCAPES)


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``-o`` JSON Lines file (a bad line names the file and line)."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the records: {exc.strerror}",
                         path=str(path)) from None
    records: list[dict[str, Any]] = []
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{path}:{number}: not a JSON line: {exc}",
                                 path=f"{path}:{number}") from None
            if not isinstance(record, dict) or "input" not in record:
                raise InputError(f'{path}:{number}: a record is a JSON object with "input"',
                                 path=f"{path}:{number}")
            records.append(record)
    return records


def record_text(record: Mapping[str, Any]) -> str | None:
    """The input text of a record: its ``"text"``, else the file its ``"input"`` names."""
    text = record.get("text")
    if isinstance(text, str):
        return text
    name = record.get("input")
    if isinstance(name, str) and name and Path(name).is_file():
        from ..eval.dataset import read_source

        try:
            return read_source(name)
        except InputError:
            return None
    return None


_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _utf16_grounding(grounding: Mapping[str, Any], text: str | None) -> Mapping[str, Any]:
    """Spans with offsets counted as JavaScript does (UTF-16 code units).

    Records count Python ``str`` indexes (code points); a character beyond the
    Basic Multilingual Plane (an emoji) is two units in the browser.
    """
    if text is None or not _ASTRAL.search(text):
        return grounding
    astral = [m.start() for m in _ASTRAL.finditer(text)]

    def shift(offset: Any) -> Any:
        return offset + bisect.bisect_left(astral, offset) if isinstance(offset, int) else offset

    out: dict[str, Any] = {}
    for pointer, leaf in grounding.items():
        if isinstance(leaf, Mapping) and leaf.get("spans"):
            spans = [{**span, "start": shift(span.get("start")), "end": shift(span.get("end"))}
                     if isinstance(span, Mapping) else span for span in leaf["spans"]]
            leaf = {**leaf, "spans": spans}
        out[pointer] = leaf
    return out


def page_document(record: Mapping[str, Any], text: str | None = None,
                  evaluation: Any = None) -> dict[str, Any]:
    """What the page shows for one record (``evaluation``: an eval DocumentReport)."""
    if text is None:
        text = record_text(record)
    doc: dict[str, Any] = {
        "id": str(record.get("input")),
        "ok": bool(record.get("ok")),
        "error": record.get("error"),
        "attempts": record.get("attempts") or [],
        "value": record.get("value"),
        "grounding": _utf16_grounding(record.get("grounding") or {}, text),
        "conflicts": record.get("conflicts") or {},
        "document": record.get("document"),
        "text": text,
    }
    if evaluation is not None:
        outcomes = {o.pointer: {"status": o.status, "expected": o.expected, "field": o.field}
                    for o in evaluation.outcomes if o.status != "missing"}
        missing = [o.as_dict() for o in evaluation.outcomes if o.status == "missing"]
        statuses = [o.status for o in evaluation.outcomes]
        doc["eval"] = {"outcomes": outcomes, "missing_leaves": missing,
                       "correct": statuses.count("correct"), "wrong": statuses.count("wrong"),
                       "missing": statuses.count("missing"), "extra": statuses.count("extra")}
    return doc


def build_page(documents: Iterable[Mapping[str, Any]], *, title: str = "extractkit review",
               summary: str = "") -> str:
    """The HTML of the page for prepared documents (see :func:`page_document`)."""
    from ..redact import redact_data

    data = {"title": title, "summary": summary, "slice_chars": SLICE_CHARS,
            "documents": redact_data(list(documents))}  # no known key ever lands in a page
    page = _template()
    page = page.replace("__REVIEW_TITLE__", html.escape(title))
    return page.replace("__REVIEW_DATA__", script_json(data))


def write_page(path: str | Path, records: Iterable[Mapping[str, Any]], *,
               texts: Mapping[str, str | None] | None = None,
               evaluations: Mapping[str, Any] | None = None,
               title: str = "extractkit review") -> Path:
    """Write the page for ``records`` (``texts``/``evaluations`` by record input)."""
    texts = texts or {}
    evaluations = evaluations or {}
    docs = [page_document(r, texts.get(str(r.get("input"))),
                          evaluations.get(str(r.get("input")))) for r in records]
    failed = sum(1 for d in docs if not d["ok"])
    summary = f"{len(docs)} documents, {failed} failed"
    path = Path(path)
    path.write_text(build_page(docs, title=title, summary=summary), encoding="utf-8")
    return path


__all__ = ["SLICE_CHARS", "build_page", "load_records", "page_document", "record_text",
           "script_json", "write_page"]
