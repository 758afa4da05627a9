"""The normalized copy of a text, with a map back to the original offsets.

Normalizing folds what does not change a value's meaning, character by
character so that offsets can be mapped back:

* Unicode compatibility decomposition (NFKD) of each character, so that
  ``é`` and ``e`` + combining acute, ``ﬁ`` and ``fi``, full-width ``Ａ`` and
  ``A`` compare equal;
* case folding (``str.casefold``: ``Straße`` → ``strasse``);
* every run of whitespace (any Unicode space, tabs, line breaks) → one space.

ASCII text (the common case) costs one ``str.lower`` plus a pass of a regular
expression over its line breaks and double spaces; only characters that
change length are mapped one by one.

The map is a list of segments. A *linear* segment maps normalized offsets to
original offsets one to one; any other segment is one original unit (a
character that expanded, or a whitespace run that collapsed) and maps as a
whole, so a span never starts or ends inside an original character.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

# Whitespace that is not a single plain space, and runs of non-ASCII text.
_SPECIAL = re.compile(r"\s{2,}|[^\S ]|[^\x00-\x7f\s]+")

# Stripped from both ends of a value before it is looked up: spaces and
# punctuation (Unicode categories Z* and P*).
_EDGE_CATEGORIES = ("Z", "P")

_fold_cache: dict[str, str] = {}


def fold_char(char: str) -> str:
    """One character, normalized (NFKD, then case folded; a whitespace character is a
    space, and a folding that would bring in a space -- ``¨`` → ``" \u0308"`` --
    is not used)."""
    found = _fold_cache.get(char)
    if found is None:
        if char.isspace():
            found = " "
        else:
            found = unicodedata.normalize("NFKD", char).casefold() or char
            if not found.isprintable() or any(c.isspace() for c in found):
                found = char.casefold()
        if len(_fold_cache) < 65536:
            _fold_cache[char] = found
    return found


@dataclass(frozen=True)
class NormalizedText:
    """``text`` normalized, and the way back to ``original`` offsets."""

    original: str
    text: str
    _nstart: list[int]
    _ostart: list[int]
    _nlen: list[int]
    _olen: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span ``[start, end)`` of the normalized text covers."""
        if not self._nstart:
            return start, end
        i = bisect_right(self._nstart, start) - 1
        ostart = self._ostart[i]
        if self._nlen[i] == self._olen[i]:
            ostart += start - self._nstart[i]
        last = max(start, end - 1)
        j = bisect_right(self._nstart, last) - 1
        if self._nlen[j] == self._olen[j]:
            oend = self._ostart[j] + (end - self._nstart[j])
        else:
            oend = self._ostart[j] + self._olen[j]
        return ostart, max(ostart, oend)


#: Texts longer than this are normalized with ``str.translate`` and numpy.
LARGE = 1 << 14
_RUNS = re.compile(" {2,}")


def normalize_text(text: str) -> NormalizedText | LargeNormalizedText:
    """Normalize ``text`` (see the module docstring) keeping the offset map."""
    if len(text) > LARGE:
        return _normalize_large(text)
    return _normalize_small(text)


def _normalize_small(text: str) -> NormalizedText:
    pieces: list[str] = []
    nstart: list[int] = []
    ostart: list[int] = []
    nlen: list[int] = []
    olen: list[int] = []
    npos = 0

    def add(piece: str, opos: int, length: int) -> None:
        nonlocal npos
        size = len(piece)
        if size == 0:
            return
        if (size == length and nstart and nlen[-1] == olen[-1]
                and nstart[-1] + nlen[-1] == npos and ostart[-1] + olen[-1] == opos):
            nlen[-1] += size
            olen[-1] += size
        else:
            nstart.append(npos)
            ostart.append(opos)
            nlen.append(size)
            olen.append(length)
        pieces.append(piece)
        npos += size

    pos = 0
    for match in _SPECIAL.finditer(text):
        start, end = match.span()
        if start > pos:
            add(text[pos:start].lower(), pos, start - pos)
        run = match.group()
        if run.isspace():
            add(" ", start, end - start)
        else:
            folded = "".join(map(fold_char, run))
            if len(folded) == len(run):
                add(folded, start, end - start)
            else:
                for offset, char in enumerate(run):
                    add(fold_char(char), start + offset, 1)
        pos = end
    if pos < len(text):
        add(text[pos:].lower(), pos, len(text) - pos)
    return NormalizedText(text, "".join(pieces), nstart, ostart, nlen, olen)


class LargeNormalizedText:
    """:class:`NormalizedText` for large texts: the map is one array of the
    normalized start of every original character (numpy)."""

    __slots__ = ("_lengths", "_starts", "original", "text")

    def __init__(self, original: str, text: str, starts: Any, lengths: Any) -> None:
        self.original = original
        self.text = text
        self._starts = starts
        self._lengths = lengths

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        starts = self._starts
        ostart = int(starts.searchsorted(start, "right")) - 1
        last = int(starts.searchsorted(max(start, end - 1), "right")) - 1
        stop = int(starts[last] + self._lengths[last])
        oend = int(starts.searchsorted(stop, "right")) - 1
        return ostart, max(ostart, oend)


def _normalize_large(text: str) -> NormalizedText | LargeNormalizedText:
    import numpy as np

    table: dict[int, str] = {}
    expanded: dict[int, int] = {}
    spaces: list[int] = []
    for char in set(text):
        code = ord(char)
        if char.isspace():
            spaces.append(code)
            table[code] = " "
        elif code < 128:
            if "A" <= char <= "Z":
                table[code] = char.lower()
        else:
            folded = fold_char(char)
            if folded != char:
                table[code] = folded
            if len(folded) != 1:
                expanded[code] = len(folded)
    normalized = _RUNS.sub(" ", text.translate(table))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    top = int(codes.max()) + 1 if len(codes) else 1
    lengths = np.ones(len(text) + 1, dtype=np.int64)
    lengths[-1] = 0  # a sentinel character just past the end
    if expanded:
        lut = np.ones(top, dtype=np.int64)
        lut[list(expanded)] = list(expanded.values())
        lengths[:-1] = lut[codes]
    if spaces:
        is_space = np.zeros(top, dtype=bool)
        is_space[spaces] = True
        ws = is_space[codes]
        follows = np.zeros(len(text), dtype=bool)
        follows[1:] = ws[1:] & ws[:-1]
        lengths[:-1][ws] = 1
        lengths[:-1][follows] = 0
    ends = np.cumsum(lengths)
    starts = ends - lengths
    if int(ends[-1]) != len(normalized):  # pragma: no cover - a folding broke the map
        return _normalize_small(text)
    return LargeNormalizedText(text, normalized, starts, lengths)


_ODD_ASCII_SPACE = re.compile(r"[\t\n\r\x0b\x0c\x1c-\x1f\x85]|  ")


def fold(text: str) -> str:
    """The normalized form of a short text (a value to look up)."""
    if text.isascii() and not _ODD_ASCII_SPACE.search(text):
        return text.lower()
    return normalize_text(text).text


def strip_edges(value: str) -> tuple[str, int, int]:
    """``value`` without surrounding spaces and punctuation, and how much was cut
    from the left and from the right."""
    start, end = 0, len(value)
    while start < end and unicodedata.category(value[start])[0] in _EDGE_CATEGORIES:
        start += 1
    while end > start and unicodedata.category(value[end - 1])[0] in _EDGE_CATEGORIES:
        end -= 1
    return value[start:end], start, len(value) - end


def is_mark(char: str) -> bool:
    """A combining mark (it belongs to the character before it)."""
    return unicodedata.category(char)[0] == "M"


__all__ = ["LargeNormalizedText", "NormalizedText", "fold", "fold_char", "is_mark", "normalize_text", "strip_edges"]
