"""A small document's index keeps what its scans found: asking again answers the same."""

from __future__ import annotations

import random

from extractkit.grounding.align import ground_value
from extractkit.grounding.index import SCAN_LIMIT, DocumentIndex
from extractkit.schema.view import schema_view


def _all(text: str, needle: str) -> list[int]:
    found, at = [], text.find(needle)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


def test_repeated_lookups_answer_as_a_fresh_index_does():
    rng = random.Random(11)
    text = " ".join(rng.choice(["acme", "ltd", "a", "party", "acme ltd"]) for _ in range(2500))
    index = DocumentIndex(text)
    assert index._grams is None and len(index.text) <= SCAN_LIMIT  # scanned, not indexed
    needles = ["acme", "acme ltd", "party a", "zzz", "ltd acme", "a"]
    for _ in range(200):
        needle = rng.choice(needles)
        near = rng.choice([None, rng.randrange(len(index.text))])
        again = list(index.find_all(needle, near))
        fresh = list(DocumentIndex(text).find_all(needle, near))
        assert again == fresh
        expected = _all(index.text, needle)
        if len(expected) <= 256:
            assert again == expected
        else:  # frequent: the occurrences on either side of `near`
            point = near or 0
            before = [p for p in expected if p < point]
            after = [p for p in expected if p >= point]
            assert again == sorted({*before[-1:], *after[:1]})


def test_a_value_repeated_in_a_list_is_grounded_the_same_way_each_time():
    text = "Party: Acme Ltd. " * 40 + "Party: Beta GmbH."
    view = schema_view({"type": "array", "items": {"type": "string"}})
    value = ["Acme Ltd", "Beta GmbH", "Acme Ltd", "acme ltd"]
    first = ground_value(value, view, {"text": text})
    assert [g.status for g in first.values()] == ["exact", "exact", "exact", "normalized"]
    assert first["/1"].spans[0].start == text.index("Beta GmbH")
    # the nearest occurrence to the value before it, as without the kept scans
    assert first["/2"].spans[0].start == text.rindex("Acme Ltd")
    assert ground_value(value, view, {"text": text}).as_dict() == first.as_dict()
