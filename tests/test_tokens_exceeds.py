"""``exceeds(count, text, limit)`` answers ``count(text) > limit`` from as little text as it can."""

from __future__ import annotations

import random
import re

import pytest

from extractkit.documents import tokens
from extractkit.documents.tokens import estimate_tokens, exceeds, token_counter

_PRETOKEN = re.compile(r" ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]+|\s+(?!\S)|\s+")


def _pretokens(text: str) -> int:
    """A stand-in for a BPE tokenizer: its pre-tokens (a space joins the word after it)."""
    return len(_PRETOKEN.findall(text))


def _text(rng: random.Random, size: int) -> str:
    words = ["the", "Party", "shall", "12", "345,", "(a)", "Ltd.", "\n\n", "  ", "x" * 40]
    out, total = [], 0
    while total < size:
        word = rng.choice(words)
        out.append(word + rng.choice([" ", " ", " ", "\n", ""]))
        total += len(out[-1])
    return "".join(out)[:size]


@pytest.mark.parametrize("count", [estimate_tokens, _pretokens])
def test_it_answers_as_counting_the_whole_text_does(count):
    rng = random.Random(5)
    for _ in range(120):
        text = _text(rng, rng.choice([10, 500, 5000, 20_000, 70_000]))
        whole = count(text)
        for limit in (1, whole // 3, whole - 1, whole, whole + 1, rng.randrange(1, 9000)):
            limit = max(1, limit)
            assert exceeds(count, text, limit) == (whole > limit), (len(text), limit)


def test_tiktoken_counts_answer_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens._tiktoken_counter.cache_clear()
    try:
        count = token_counter("gpt-4o", "openai")
        assert count is not estimate_tokens
        rng = random.Random(9)
        for _ in range(40):
            text = _text(rng, rng.choice([3000, 30_000, 90_000]))
            whole = count(text)
            for limit in (whole // 4, whole - 1, whole, whole + 1):
                assert exceeds(count, text, max(1, limit)) == (whole > limit)
    finally:
        tokens._tiktoken_counter.cache_clear()


def test_a_long_text_over_the_limit_is_counted_only_in_part():
    counted: list[int] = []

    def count(text: str) -> int:
        counted.append(len(text))
        return _pretokens(text)

    def estimate(text: str) -> int:
        counted.append(len(text))
        return estimate_tokens(text)

    prose = "The parties agree to the terms below. " * 260_000  # ~10 MB
    assert exceeds(count, prose, 3000)
    assert sum(counted) < 60_000  # prefixes of 24,000 characters or so, not 10 MB
    counted.clear()
    blob = "ab" * 5_000_000  # no space anywhere: the prefix is cut where it must be
    assert exceeds(estimate, blob, 3000) is True
    assert sum(counted) < 60_000
    counted.clear()
    assert not exceeds(count, "short text", 3000) and counted == [10]
