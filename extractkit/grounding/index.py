"""An index over one document: where a (normalized) text occurs, exactly or nearly.

Built once per document per extraction (:class:`DocumentIndex`), queried once
per value:

* :meth:`DocumentIndex.find_all` -- every position of a normalized needle in
  the normalized document;
* :meth:`DocumentIndex.fuzzy` -- the best near match (rapidfuzz
  ``partial_ratio_alignment``) in the few regions that share the most
  character trigrams with the needle.

Small documents (up to :data:`SCAN_LIMIT` characters) are searched with
``str.find``: there a scan costs less than building any index. Larger ones
get a trigram index: each position's trigram packed into one 63-bit integer
(21 bits per code point, so the packing is exact and ordered), sorted once
with numpy. A lookup is a binary search for the needle's rarest trigram and a
vectorized check of its other trigrams at their offsets -- no scan of the
document per value. Trigrams of code points work the same for every script:
no word splitting is involved, so CJK and other unspaced text index like any
other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from .forms import numbers_in
from .normalize import LargeNormalizedText, NormalizedText, normalize_text

#: Normalized documents up to this many characters are searched by scanning.
SCAN_LIMIT = 1 << 14
#: Trigrams occurring more often than this do not seed fuzzy candidates...
_SEED_LIMIT = 2048
#: ...and at most this many of the needle's rarest trigrams do.
_SEEDS = 12
#: A needle with more occurrences than this is looked up around its neighbour.
_FREQUENT = 4096
_SCAN_FREQUENT = 256
#: Needles whose scan results one small document's index keeps.
_SCANS_KEPT = 4096
_TOO_MANY: tuple[int, ...] = (-1,)  # a scan's mark for "more than _SCAN_FREQUENT"
#: Candidate regions checked per fuzzy lookup.
_FUZZY_REGIONS = 8
_B = 21  # bits per code point


class DocumentIndex:
    """The normalized text of one document and a way to look needles up in it."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.normalized: NormalizedText | LargeNormalizedText = normalize_text(text)
        self.text = self.normalized.text
        self._grams: Any = None
        self._order: Any = None
        self._sorted: Any = None
        self._numbers: dict[float, tuple[list[int], list[int]]] | None = None
        self._scans: dict[str, tuple[int, ...]] = {}
        if len(self.text) > SCAN_LIMIT:
            self._build()

    def _build(self) -> None:
        import numpy as np

        codes = np.frombuffer(self.text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        n = len(codes)
        padded = np.zeros(n + 2, dtype=np.uint64)
        padded[:n] = codes
        grams = (padded[:n] << np.uint64(2 * _B)) | (padded[1:n + 1] << np.uint64(_B)) | padded[2:]
        order = np.argsort(grams, kind="stable")  # equal trigrams: positions ascending
        self._grams = grams
        self._order = order
        self._sorted = grams[order]

    # -- exact (normalized) occurrences ---------------------------------------

    def find_all(self, needle: str, near: int | None = None) -> Sequence[int]:
        """Ascending positions of ``needle`` in the normalized text.

        With ``near``, a needle that occurs very often yields only the
        occurrences around ``near`` (at least the nearest one on each side
        that has any): the cost of a lookup stays bounded by the
        neighbourhood, not by how repetitive the document is.
        """
        if not needle:
            return []
        if self._grams is None:
            return self._scan(needle, near)
        import numpy as np

        m = len(needle)
        codes = [ord(c) for c in needle]
        if m < 3:
            low = codes[0] << (2 * _B)
            if m == 2:
                low |= codes[1] << _B
                high = low + (1 << _B)
            else:
                high = low + (1 << (2 * _B))
            lo, hi = np.searchsorted(self._sorted, np.array([low, high], dtype=np.uint64))
            if hi - lo > _FREQUENT:  # a frequent short needle: its neighbours, found directly
                return self._around(needle, near or 0)
            return cast(Sequence[int], np.sort(self._order[lo:hi]))
        offsets = sorted({*range(0, m - 2, 3), m - 3})
        hashes = np.array([(codes[o] << 2 * _B) | (codes[o + 1] << _B) | codes[o + 2]
                           for o in offsets], dtype=np.uint64)
        k = len(offsets)
        bounds = np.searchsorted(self._sorted, np.concatenate([hashes, hashes + np.uint64(1)]))
        lefts, rights = bounds[:k], bounds[k:]
        counts = rights - lefts
        best = int(np.argmin(counts))
        if counts[best] == 0:
            return []
        candidates = self._order[lefts[best]:rights[best]] - offsets[best]  # ascending
        others = [(o, hashes[i]) for i, o in enumerate(offsets) if i != best]
        total = len(candidates)
        if total <= _FREQUENT:
            return cast(Sequence[int], self._verify(candidates, m, others))
        centre = int(np.searchsorted(candidates, near or 0))
        width = _FREQUENT // 4
        while True:
            lo, hi = max(0, centre - width), min(total, centre + width)
            found = self._verify(candidates[lo:hi], m, others)
            point = near or 0
            left_ok = lo == 0 or (len(found) and int(found[0]) < point)
            right_ok = hi == total or (len(found) and int(found[-1]) >= point)
            if left_ok and right_ok:
                return cast(Sequence[int], found)
            width *= 4

    def _verify(self, candidates: Any, m: int, others: list[tuple[int, Any]]) -> Any:
        """The candidates where every other trigram of the needle matches too."""
        n = len(self.text)
        candidates = candidates[(candidates >= 0) & (candidates + m <= n)]
        for offset, value in others:
            if not len(candidates):
                break
            candidates = candidates[self._grams[candidates + offset] == value]
        return candidates

    def _around(self, needle: str, near: int) -> list[int]:
        before = self.text.rfind(needle, 0, near + len(needle) - 1)
        after = self.text.find(needle, near)
        return sorted({p for p in (before, after) if p >= 0})

    def _scan(self, needle: str, near: int | None) -> Sequence[int]:
        """Every position of ``needle``, found by ``str.find``; a needle found more than
        :data:`_SCAN_FREQUENT` times: its neighbours of ``near``.

        What a scan found is kept (up to :data:`_SCANS_KEPT` needles): a value
        repeated in a list, or in every item of one, is scanned for once.
        """
        found = self._scans.get(needle)
        if found is None:
            found = self._scan_all(needle)
            if len(self._scans) < _SCANS_KEPT:
                self._scans[needle] = found
        return self._around(needle, near or 0) if found is _TOO_MANY else found

    def _scan_all(self, needle: str) -> tuple[int, ...]:
        found: list[int] = []
        find = self.text.find
        at = find(needle)
        while at >= 0:
            if len(found) >= _SCAN_FREQUENT:
                return _TOO_MANY
            found.append(at)
            at = find(needle, at + 1)
        return tuple(found)

    def numbers(self, value: float) -> tuple[list[int], list[int]]:
        """Starts and ends (ascending, normalized offsets) of the numbers written in the
        text that equal ``value``."""
        if self._numbers is None:
            self._numbers = numbers_in(self.text)
        return self._numbers.get(value, ([], []))

    # -- near matches -----------------------------------------------------------

    def fuzzy(self, needle: str, threshold: float) -> list[tuple[float, int, int]]:
        """Near matches ``(score 0-100, start, end)`` of ``needle`` scoring at least
        ``threshold``, best first (normalized offsets)."""
        from rapidfuzz.fuzz import partial_ratio_alignment

        if self._grams is None:
            spans = [(0, len(self.text))] if self.text else []
        else:
            spans = self._regions(needle)
        out: list[tuple[float, int, int]] = []
        for start, end in spans:
            found = partial_ratio_alignment(needle, self.text[start:end], score_cutoff=threshold)
            if found is not None and found.score >= threshold and found.dest_end > found.dest_start:
                out.append((found.score, start + found.dest_start, start + found.dest_end))
        out.sort(key=lambda t: (-t[0], t[1]))
        return out

    def _regions(self, needle: str) -> list[tuple[int, int]]:
        """Windows around the diagonals where most of the needle's rarer trigrams agree."""
        import numpy as np

        m = len(needle)
        if m < 3:
            return []
        codes = [ord(c) for c in needle]
        hashes = np.array([(codes[o] << 2 * _B) | (codes[o + 1] << _B) | codes[o + 2]
                           for o in range(m - 2)], dtype=np.uint64)
        bounds = np.searchsorted(self._sorted, np.concatenate([hashes, hashes + np.uint64(1)]))
        lefts, rights = bounds[:m - 2], bounds[m - 2:]
        counts = rights - lefts
        seeds = [int(o) for o in np.argsort(counts, kind="stable")[:_SEEDS]
                 if 0 < counts[o] <= _SEED_LIMIT]
        if not seeds:
            return []
        width = max(m, 8)
        diagonals = np.concatenate([self._order[lefts[o]:rights[o]] - o for o in seeds])
        # votes per diagonal bucket, counted over the seeds' hits only (never the whole text)
        buckets, votes = np.unique(np.clip(diagonals, 0, None) // width, return_counts=True)
        top = buckets[np.argsort(-votes, kind="stable")[:_FUZZY_REGIONS]]
        n = len(self.text)
        return [(max(0, int(b) * width - m), min(n, int(b) * width + 2 * width + m))
                for b in top]


__all__ = ["SCAN_LIMIT", "DocumentIndex"]
