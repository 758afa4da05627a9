"""List de-duplication in merging: the indexed overlap check keeps what the plain one kept.

``merge._Mentions`` answers "do these spans overlap any earlier item's with
the same normalized value?" by binary search over unions of spans. The
reference below is the straightforward check (compare with every earlier
item's spans), run on small random inputs: equal values, empty spans,
spanless items, touching and nested spans, several spans per item.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from extractkit.documents.merge import Part, merge_parts, normalized
from extractkit.grounding.spans import LeafGrounding, Span

SCHEMA = {"type": "object",
          "properties": {"parties": {"type": "array", "items": {"type": "string"}}}}

_span = st.tuples(st.integers(0, 14), st.integers(0, 4)).map(lambda t: Span(t[0], t[0] + t[1]))
_item = st.tuples(
    st.sampled_from(["Acme", "acme.", " ACME ", "Beta", "beta", "Gamma"]),
    st.one_of(st.none(), st.lists(_span, max_size=3).map(tuple)),  # None: no leaf at all
)
_parts = st.lists(st.lists(_item, max_size=8), min_size=1, max_size=6)


def _reference(items: list[tuple[str, tuple[Span, ...]]]) -> list[int]:
    """Indexes of the items kept by the plain quadratic check."""
    seen: dict[str, list[tuple[Span, ...]]] = {}
    kept = []
    for n, (value, spans) in enumerate(items):
        key = normalized(value)
        earlier = seen.get(key)
        if earlier is not None and (not spans or any(
                not other or any(a.start < b.end and b.start < a.end
                                 for a in spans for b in other) for other in earlier)):
            earlier.append(spans)
            continue
        seen.setdefault(key, []).append(spans)
        kept.append(n)
    return kept


def _build(chunks: list[list[tuple[str, tuple[Span, ...] | None]]]) -> tuple[
        list[Part], list[tuple[str, tuple[Span, ...]]], list[tuple[int, tuple[Span, ...] | None]]]:
    parts: list[Part] = []
    flat: list[tuple[str, tuple[Span, ...]]] = []
    origin: list[tuple[int, tuple[Span, ...] | None]] = []
    for chunk, items in enumerate(chunks):
        leaves: dict[str, LeafGrounding] = {}
        for i, (value, spans) in enumerate(items):
            pointer = f"/parties/{i}"
            if spans is not None:
                status = "exact" if spans else "ungrounded"
                leaves[pointer] = LeafGrounding(pointer, value, status, 1.0, spans)
            flat.append((value, spans or ()))
            origin.append((chunk, spans))
        parts.append(Part(chunk, {"parties": [v for v, _ in items]}, leaves))
    return parts, flat, origin


@settings(max_examples=400, deadline=None)
@given(_parts)
def test_dedup_matches_the_plain_check(chunks: list[list[Any]]) -> None:
    parts, flat, origin = _build(chunks)
    merged = merge_parts(SCHEMA, parts)
    expected = _reference(flat)
    assert merged.value["parties"] == [flat[n][0] for n in expected]
    for k, n in enumerate(expected):
        pointer = f"/parties/{k}"
        chunk, spans = origin[n]
        assert merged.sources[pointer] == chunk
        if spans is None:
            assert pointer not in merged.grounding
        else:
            assert merged.grounding[pointer].spans == spans


def test_touching_spans_are_two_mentions_and_an_empty_span_inside_one_is_one() -> None:
    def part(chunk: int, *spans: Span) -> Part:
        values = ["Acme"] * len(spans)
        leaves = {f"/parties/{i}": LeafGrounding(f"/parties/{i}", "Acme", "exact", 1.0, (s,))
                  for i, s in enumerate(spans)}
        return Part(chunk, {"parties": values}, leaves)

    # [0,5) and [5,9) touch: two mentions, and the empty span at 5 is inside neither;
    # [5,8) starts where that empty span stands: it overlaps [5,9), not the empty one;
    # [2,7) overlaps both; the empty span at 6 is strictly inside [5,9), the one at 9 is not
    merged = merge_parts(SCHEMA, [part(0, Span(0, 5), Span(5, 9)), part(1, Span(5, 5)),
                                  part(2, Span(2, 7), Span(6, 6), Span(9, 9))])
    assert [merged.grounding[f"/parties/{k}"].spans[0]
            for k in range(len(merged.value["parties"]))] == [
        Span(0, 5), Span(5, 9), Span(5, 5), Span(9, 9)]
    lone = merge_parts(SCHEMA, [part(0, Span(5, 5)), part(1, Span(5, 8))])
    assert len(lone.value["parties"]) == 2
    backwards = merge_parts(SCHEMA, [part(0, Span(5, 9)), part(1, Span(0, 5)), part(2, Span(5, 5))])
    assert len(backwards.value["parties"]) == 3


def test_each_mention_of_a_repeated_value_is_kept_once() -> None:
    # 2,000 mentions of one value; the second chunk sees the last 1,000 again
    n = 2_000
    spans = [Span(100 * i, 100 * i + 4) for i in range(n)]
    leaves = {f"/parties/{i}": LeafGrounding(f"/parties/{i}", "Acme", "exact", 1.0, (s,))
              for i, s in enumerate(spans)}
    half = {f"/parties/{i}": LeafGrounding(f"/parties/{i}", "Acme", "exact", 1.0,
                                           (spans[n // 2 + i],)) for i in range(n // 2)}
    merged = merge_parts(SCHEMA, [Part(0, {"parties": ["Acme"] * n}, leaves),
                                  Part(1, {"parties": ["Acme"] * (n // 2)}, half)])
    assert len(merged.value["parties"]) == n
    assert merged.sources[f"/parties/{n - 1}"] == 0
