"""Chunking: boundaries, overlap, tables and lists, scripts without spaces, edge sizes."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractkit.documents import Chunk, chunk_text


def words(text: str) -> int:
    """A deterministic stand-in tokenizer: one token per space-separated word."""
    return len(text.split())


def chars(text: str) -> int:
    return len(text)


def check_invariants(text: str, chunks: list[Chunk], budget: int, count=words) -> None:
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text == text[chunk.start:chunk.end]
        assert chunk.text == chunk.text.strip()
    # in order, each one ends later than the one before
    for before, after in pairwise(chunks):
        assert before.start < after.start and before.end < after.end
        assert after.start <= before.end or not text[before.end:after.start].strip()
    # every non-space character is in some chunk
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start:chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert missing == []


def test_empty_and_blank_text_give_no_chunks():
    assert chunk_text("", chunk_tokens=10, count_tokens=words) == []
    assert chunk_text(" \n\n\t ", chunk_tokens=10, count_tokens=words) == []


def test_short_text_is_one_chunk_without_surrounding_space():
    text = "\n  One short paragraph.  \n"
    [chunk] = chunk_text(text, chunk_tokens=100, count_tokens=words)
    assert chunk.text == "One short paragraph."
    assert (chunk.start, chunk.end) == (3, 23)


def test_paragraph_boundary_is_preferred_over_a_later_sentence_end():
    first = "Alpha beta gamma delta. Epsilon zeta eta theta."  # 8 words
    second = "Iota kappa lambda. Mu nu xi omicron pi rho sigma tau."  # 11 words
    text = f"{first}\n\n{second}"
    chunks = chunk_text(text, chunk_tokens=12, count_tokens=words)
    # 8 + 3 would fit in 12, but the paragraph break (in the budget's second half) wins
    assert chunks[0].text == first
    assert chunks[1].text == second
    check_invariants(text, chunks, 12)


def test_sentence_boundary_before_word_boundary():
    text = "One two three four five six. Seven eight nine ten eleven twelve thirteen."
    chunks = chunk_text(text, chunk_tokens=9, count_tokens=words)
    assert chunks[0].text == "One two three four five six."
    assert chunks[1].text == "Seven eight nine ten eleven twelve thirteen."


def test_a_sentence_longer_than_the_budget_is_cut_at_words():
    text = " ".join(f"w{i}" for i in range(25)) + "."
    chunks = chunk_text(text, chunk_tokens=10, count_tokens=words)
    assert [words(c.text) for c in chunks] == [10, 10, 5]
    assert all(re.fullmatch(r"[\w. ]+", c.text) for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_chunks_stay_within_the_budget():
    text = "\n\n".join(
        " ".join(f"s{p}x{s}. " + "word " * (s % 7) for s in range(9)) for p in range(30)
    )
    for budget in (3, 8, 20, 57):
        chunks = chunk_text(text, chunk_tokens=budget, count_tokens=words)
        assert all(words(c.text) <= budget for c in chunks)
        check_invariants(text, chunks, budget)


def test_overlap_repeats_the_last_whole_sentences_within_the_token_budget():
    sentences = [f"Sentence {i} has five words." for i in range(12)]  # 5 words each
    text = " ".join(sentences)
    chunks = chunk_text(text, chunk_tokens=20, overlap_tokens=10, count_tokens=words)
    assert chunks[0].text == " ".join(sentences[0:4])
    # the next chunk starts with the last two sentences (10 tokens) of the one before
    assert chunks[1].text == " ".join(sentences[2:6])
    assert chunks[-1].end == len(text)
    for before, after in pairwise(chunks):
        shared = before.end - after.start
        assert shared > 0
        assert words(text[after.start:before.end]) <= 10
    check_invariants(text, chunks, 20)


def test_overlap_never_stalls_progress():
    # the overlap would take the whole budget; the next unit must still fit
    text = "a b c. d e f. g h i. j k l. m n o."
    chunks = chunk_text(text, chunk_tokens=6, overlap_tokens=5, count_tokens=words)
    assert chunks[-1].text.endswith("m n o.")
    assert all(words(c.text) <= 6 for c in chunks)
    check_invariants(text, chunks, 6)


def test_table_rows_are_not_cut():
    rows = [f"| item {i} | {i * 10} USD | note. More |" for i in range(20)]
    text = "Prices follow.\n\n" + "\n".join(["| item | price | notes |", "|---|---|---|", *rows])
    chunks = chunk_text(text, chunk_tokens=40, count_tokens=words)
    assert len(chunks) > 2
    for chunk in chunks:
        for line in chunk.text.splitlines():
            if line.startswith("|"):
                assert line.endswith("|"), f"row cut: {line!r}"
    check_invariants(text, chunks, 40)


def test_list_items_stay_whole():
    items = [f"- item number {i} is here" for i in range(15)]  # 6 words each
    text = "\n".join(items)
    chunks = chunk_text(text, chunk_tokens=15, count_tokens=words)
    for chunk in chunks:
        for line in chunk.text.splitlines():
            assert re.fullmatch(r"- item number \d+ is here", line)
    check_invariants(text, chunks, 15)


def test_cjk_text_splits_at_cjk_sentence_punctuation():
    sentences = ["本契約は東京都の法律に準拠する。", "有効期間は三年間とする！", "当事者は誰か？", "以上。"]
    text = "".join(sentences)
    chunks = chunk_text(text, chunk_tokens=20, count_tokens=chars)
    assert chunks[0].text == sentences[0]
    assert chunks[1].text == sentences[1] + sentences[2]
    check_invariants(text, chunks, 20, chars)


def test_text_without_spaces_or_punctuation_falls_back_to_characters():
    text = "契" * 95
    chunks = chunk_text(text, chunk_tokens=20, count_tokens=chars)
    assert [len(c.text) for c in chunks] == [20, 20, 20, 20, 15]
    assert "".join(c.text for c in chunks) == text


def test_a_huge_single_word_is_cut_and_a_tiny_one_kept():
    word = "x" * 1000
    text = f"a {word} b"
    chunks = chunk_text(text, chunk_tokens=64, count_tokens=chars)
    assert all(len(c.text) <= 64 for c in chunks)
    assert chunks[0].text.startswith("a")
    assert chunks[-1].text.endswith("b")
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")
    assert chunk_text("x", chunk_tokens=1, count_tokens=chars) == [Chunk(0, 0, 1, "x")]


def test_a_character_larger_than_the_budget_is_its_own_chunk():
    chunks = chunk_text("ab", chunk_tokens=1, count_tokens=lambda s: 2 * len(s))
    assert [c.text for c in chunks] == ["a", "b"]


def test_each_unit_is_counted_once():
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return words(text)

    text = " ".join(f"Sentence {i} is short." for i in range(200))
    chunk_text(text, chunk_tokens=50, overlap_tokens=10, count_tokens=counting)
    assert len(calls) == 200
    assert sum(len(c) for c in calls) == len(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_tokens": 0}, "chunk_tokens must be a positive integer"),
        ({"chunk_tokens": 10, "overlap_tokens": 10}, "overlap_tokens must be"),
        ({"chunk_tokens": 10, "overlap_tokens": -1}, "overlap_tokens must be"),
    ],
)
def test_bad_sizes_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        chunk_text("some text", count_tokens=words, **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab .。\n|-x契 ")), max_size=300),
    budget=st.integers(1, 30),
    overlap=st.integers(0, 29),
)
def test_invariants_hold_for_any_text(text, budget, overlap):
    overlap = min(overlap, budget - 1)
    chunks = chunk_text(text, chunk_tokens=budget, overlap_tokens=overlap, count_tokens=chars)
    check_invariants(text, chunks, budget, chars)
    assert all(len(c.text) <= budget for c in chunks)


def test_a_paragraph_break_in_the_first_half_does_not_make_a_tiny_chunk():
    text = "Short heading here\n\nOne two three. Four five six. Seven eight nine. Ten eleven twelve."
    chunks = chunk_text(text, chunk_tokens=12, count_tokens=words)
    # the break after 3 tokens is under half the budget: the cut is at the latest sentence end
    assert chunks[0].text == "Short heading here\n\nOne two three. Four five six. Seven eight nine."
    assert chunks[1].text == "Ten eleven twelve."
