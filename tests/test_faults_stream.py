"""Streaming on hostile answers: where the JSON starts in ``md_json`` is found by
one linear pass (``bench/stream.py`` measures it) with the repairer's fence rule."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from extractkit.drivers.stream import _Opening
from extractkit.jsontext import OPENER, fence_body


def _reference(text: str) -> str:
    """Where the JSON starts, computed on the whole text at once (the rule as written)."""
    stripped = text.lstrip()
    start: int | None = None
    if stripped[:1] in ("{", "["):
        start = len(text) - len(stripped)
    else:
        fence = text.find("```")
        while fence != -1 and start is None:
            if text.find("\n", fence) == -1:
                return ""  # the info word may not be complete yet
            start = fence_body(text, fence)
            fence = text.find("```", fence + 3)
    if start is None:
        return ""
    match = OPENER.search(text, start)
    return "" if match is None else text[match.start():]


_pieces = st.sampled_from(["```", "```json", "```python", "json", "\n", " ", "\t", "{", "[",
                           "}", "x", "prose ", '"a": 1', "``"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=30), st.lists(st.integers(0, 200), max_size=8))
def test_the_opening_fence_is_found_as_on_the_whole_text(parts, cuts):
    text = "".join(parts)
    points = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    opening = _Opening(fenced=True)
    out = "".join(opening.feed(text[a:b]) for a, b in itertools.pairwise(points))
    assert out == _reference(text)


def test_a_long_preamble_and_a_run_of_fences_still_find_the_json():
    text = "prose " * 50_000 + "```" * 20_000 + "\n" + "```json\n" + '{"a": 1}\n```'
    opening = _Opening(fenced=True)
    out = "".join(opening.feed(text[i : i + 64]) for i in range(0, len(text), 64))
    assert out == '{"a": 1}\n```'


def test_what_a_consumer_of_every_snapshot_writes_stays_linear(server, client):
    """Partial values are throttled geometrically: printing every snapshot of a
    200 KB answer writes a bounded multiple of it, not a quadratic amount."""
    from pydantic import BaseModel
    from pydantic_core import to_json

    from extractkit import Extractor
    from tests.scripted_server import stream

    class Row(BaseModel):
        name: str
        qty: int

    class Table(BaseModel):
        rows: list[Row]

    rows = [{"name": f"row number {k} with some words", "qty": k} for k in range(5000)]
    text = json.dumps({"rows": rows})
    assert len(text) > 200_000
    server.push(stream(text, chunk_size=64))
    written = snapshots = 0
    last = None
    for snapshot in Extractor(client, model="m").stream(Table, "x"):
        written += len(to_json(snapshot.value))
        snapshots += 1
        last = snapshot
    assert last is not None and last.done and len(last.value.rows) == 5000
    assert snapshots > 20  # still a live view
    assert written < 12 * len(text)
