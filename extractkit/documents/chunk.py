"""Token-aware chunking of long text, at the best boundary that fits.

The text is cut into *units* once: sentences (any script's sentence
punctuation, including CJK ``。！？``), whole table rows (Markdown ``|``
lines) and list items. A unit longer than the budget is cut into words, and
a word (or space-less text) longer than the budget into runs of characters.
Each unit, with the whitespace after it, is counted with ``count_tokens``
once; a chunk's size is the sum of its units' counts, so the text of a chunk
is never re-counted and the whole pass is linear in the size of the text. (A
unit found too big is counted again in its words; one far longer than the
budget could hold is split without counting it first.) The sum is a close,
slightly high estimate of the count of the joined text: BPE tokens do not
cross the whitespace after a unit.

Chunks are packed greedily up to ``chunk_tokens``; where a chunk must end, it
ends at the strongest boundary in its second half: a paragraph break, else a
sentence / row / line end, else a word, else anywhere. ``overlap_tokens``
carries the last whole units of a chunk (up to that many tokens) into the
start of the next one.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, chain


@dataclass(frozen=True)
class Chunk:
    """Chunk ``index`` (0-based) is ``text[start:end]`` of the chunked text."""

    index: int
    start: int
    end: int
    text: str


# boundary strengths, at the end of a unit
_CHAR, _WORD, _SENTENCE, _PARAGRAPH = 0, 1, 2, 3
#: a chunk ends at its strongest boundary at or after this share of the budget
_MIN_FILL = 0.5
#: a unit longer than this many characters per token of budget is split uncounted
_MAX_CHARS_PER_TOKEN = 16
#: first guess of a character run's width, per token of budget, when uncounted
_CHARS_PER_TOKEN_GUESS = 4

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_CLOSERS = "\"'”’»)\\]」』）】〉》"
_SENTENCE_END = re.compile(
    rf"[.!?…‼⁇⁈⁉؟۔।॥]+[{_CLOSERS}]*(?=\s|$)"  # scripts that put spaces after a sentence
    rf"|[。！？｡︒]+[{_CLOSERS}]*"  # CJK: no space follows
)
_ROW = re.compile(r"[ \t]*\|")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•▪‣◦–]|\d{1,3}[.)]|[A-Za-z][.)]|\(\w{1,3}\))[ \t]")
_WORD_RUN = re.compile(r"\S+")
_SPACE = re.compile(r"\s*")


def chunk_text(
    text: str,
    *,
    chunk_tokens: int,
    overlap_tokens: int = 0,
    count_tokens: Callable[[str], int],
) -> list[Chunk]:
    """Cut ``text`` into chunks of at most about ``chunk_tokens`` tokens.

    ``chunk.text == text[chunk.start:chunk.end]``; chunks are in text order,
    start and end on non-space characters, and together cover every
    non-space character. Consecutive chunks share up to ``overlap_tokens``
    tokens of whole units. Empty or all-space text gives no chunks.
    """
    if not isinstance(chunk_tokens, int) or chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be a positive integer, not {chunk_tokens!r}")
    if not isinstance(overlap_tokens, int) or not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError(
            f"overlap_tokens must be an integer from 0 to chunk_tokens - 1 "
            f"({chunk_tokens - 1}), not {overlap_tokens!r}"
        )
    starts, strengths = _units(text)
    if not starts:
        return []
    # offsets and sizes are kept in arrays (8 bytes each, not an int object per unit):
    # a text of words without sentence breaks makes a unit of every word
    sizes: array[int] = array("q")
    unit_starts: array[int] = array("q")
    unit_strengths: array[int] = array("b")
    last = len(starts) - 1
    for number, (start, strength) in enumerate(zip(starts, strengths, strict=True)):
        end = starts[number + 1] if number < last else len(text)
        _split_to_fit(
            text, start, end, strength, chunk_tokens, count_tokens,
            unit_starts, unit_strengths, sizes,
        )
    del starts, strengths
    return _pack(text, unit_starts, unit_strengths, sizes, chunk_tokens, overlap_tokens)


# -- units -------------------------------------------------------------------------


def _units(text: str) -> tuple[array[int], array[int]]:
    """Start offsets of the sentence / row / item units, and the boundary after each."""
    starts: array[int] = array("q")
    strengths: array[int] = array("b")
    first = _SPACE.match(text).end()  # type: ignore[union-attr]
    if first == len(text):
        return starts, strengths
    position = first
    for brk in _PARAGRAPH_BREAK.finditer(text, first):
        _paragraph_units(text, position, brk.start(), starts, strengths)
        position = brk.end()
    if position < len(text):
        _paragraph_units(text, position, len(text), starts, strengths)
    return starts, strengths


def _paragraph_units(
    text: str, start: int, end: int, starts: array[int], strengths: array[int]
) -> None:
    """Units of one paragraph: rows and list items stay whole, prose goes by sentence."""
    if start >= end:
        return
    segment = start  # start of the prose / item being gathered
    line = start
    while line < end:
        newline = text.find("\n", line, end)
        line_end = end if newline < 0 else newline
        row = _ROW.match(text, line, line_end)
        if row:
            if segment < line:
                _sentence_units(text, segment, line, starts, strengths)
            starts.append(row.end() - 1)
            strengths.append(_SENTENCE)
            segment = line_end + 1
        elif _LIST_ITEM.match(text, line, line_end) and segment < line:
            _sentence_units(text, segment, line, starts, strengths)
            segment = line
        line = line_end + 1
    if segment < end:
        _sentence_units(text, segment, end, starts, strengths)
    if strengths and starts[-1] >= start:
        strengths[-1] = _PARAGRAPH


def _sentence_units(
    text: str, start: int, end: int, starts: array[int], strengths: array[int]
) -> None:
    start = _SPACE.match(text, start, end).end()  # type: ignore[union-attr]
    if start >= end:
        return
    unit = start
    for match in _SENTENCE_END.finditer(text, start, end):
        after = _SPACE.match(text, match.end(), end).end()  # type: ignore[union-attr]
        if after >= end:
            break
        starts.append(unit)
        strengths.append(_SENTENCE)
        unit = after
    starts.append(unit)
    strengths.append(_SENTENCE)


def _split_to_fit(
    text: str,
    start: int,
    end: int,
    strength: int,
    budget: int,
    count: Callable[[str], int],
    out_starts: array[int],
    out_strengths: array[int],
    out_sizes: array[int],
) -> None:
    """Append ``text[start:end]`` as one unit, or as words / character runs if it is too big.

    A unit far longer than the budget could hold is split without being
    counted: some tokenizers take time quadratic in the length of one long
    word, and splitting a unit that would have fit costs nothing (its pieces
    are packed together again).
    """
    size = count(text[start:end]) if end - start <= budget * _MAX_CHARS_PER_TOKEN else None
    if size is not None and size <= budget:
        out_starts.append(start)
        out_strengths.append(strength)
        out_sizes.append(size)
        return
    words = _WORD_RUN.finditer(text, start, end)  # read as we go: never a list of them
    first, second = next(words, None), next(words, None)
    if first is not None and second is not None:
        word = first.start()
        for following in chain((second,), words):
            _split_to_fit(text, word, following.start(), _WORD, budget, count,
                          out_starts, out_strengths, out_sizes)
            word = following.start()
        _split_to_fit(text, word, end, strength, budget, count,
                      out_starts, out_strengths, out_sizes)
        return
    _split_chars(text, start, end, size, strength, budget, count,
                 out_starts, out_strengths, out_sizes)


def _split_chars(
    text: str,
    start: int,
    end: int,
    size: int | None,
    strength: int,
    budget: int,
    count: Callable[[str], int],
    out_starts: array[int],
    out_strengths: array[int],
    out_sizes: array[int],
) -> None:
    """Runs of characters of at most ``budget`` tokens each (one char is the floor).

    The unit's trailing whitespace goes with (and is counted in) its last run.
    """
    content_end = _rstrip(text, end, start)
    if size is None:
        width = budget * _CHARS_PER_TOKEN_GUESS
    else:
        width = max(1, (content_end - start) * budget // max(size, 1))
    position = start
    while position < content_end:
        run_end = min(content_end, position + width)
        run_size = count(text[position:end if run_end == content_end else run_end])
        while run_size > budget and run_end - position > 1:
            run_end = position + _fitting_width(run_end - position, run_size, budget)
            run_size = count(text[position:run_end])
        out_starts.append(position)
        out_strengths.append(strength if run_end == content_end else _CHAR)
        out_sizes.append(run_size)
        # the next run's width from this one's characters per token
        width = _fitting_width(run_end - position, max(run_size, 1), budget)
        position = run_end


def _fitting_width(width: int, size: int, budget: int) -> int:
    """The width ``size`` tokens per ``width`` characters suggests for ``budget`` tokens.

    Over the budget, aim at 90% of it (and shrink by one character at least).
    """
    if size > budget:
        return max(1, min(width * budget * 9 // (10 * size), width - 1))
    return max(1, min(width * budget // size, budget * _MAX_CHARS_PER_TOKEN))


# -- packing -----------------------------------------------------------------------


def _pack(
    text: str,
    starts: array[int],
    strengths: array[int],
    sizes: array[int],
    budget: int,
    overlap: int,
) -> list[Chunk]:
    count = len(starts)
    prefix = array("q", accumulate(sizes, initial=0))
    chunks: list[Chunk] = []
    first = 0
    done = 0  # units before this one are in an earlier chunk
    while first < count:
        stop = done + 1  # units [first, stop) make the chunk; at least one new one
        while stop < count and prefix[stop + 1] - prefix[first] <= budget:
            stop += 1
        if stop < count:
            stop = _best_end(prefix, strengths, max(first, done), stop, budget)
        start = starts[first]
        end = _rstrip(text, starts[stop] if stop < count else len(text), start)
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
        if stop >= count:
            break
        first = _overlap_start(prefix, first, stop, min(overlap, budget - sizes[stop]))
        done = stop
    return chunks


def _best_end(prefix: array[int], strengths: array[int], first: int, stop: int,
              budget: int) -> int:
    """The unit to end before: the latest strongest boundary in the second half of the budget.

    ``first`` is the first unit not yet in any chunk; the end stays after it.
    """
    floor = prefix[first] + _MIN_FILL * budget
    best, best_strength = stop, strengths[stop - 1]
    candidate = stop - 1
    while candidate > first and prefix[candidate] >= floor and best_strength < _PARAGRAPH:
        if strengths[candidate - 1] > best_strength:
            best, best_strength = candidate, strengths[candidate - 1]
        candidate -= 1
    return best


def _overlap_start(prefix: array[int], first: int, stop: int, overlap: int) -> int:
    """Where the next chunk starts: the earliest unit after ``first`` within ``overlap`` of ``stop``.

    The caller caps ``overlap`` so that the unit at ``stop`` still fits after it.
    """
    start = stop
    while start - 1 > first and prefix[stop] - prefix[start - 1] <= overlap:
        start -= 1
    return start


def _rstrip(text: str, end: int, start: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end
