"""Streaming on hostile answers: where the JSON starts in ``md_json`` is found by
one linear pass (``bench/stream.py`` measures it) with the repairer's fence rule."""

from __future__ import annotations

import itertools

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
