"""Aligning every leaf of a value to the source documents.

:func:`ground_value` walks the value with the one schema walker
(:meth:`SchemaView.leaves <extractkit.schema.view.SchemaView.leaves>`) and
finds each scalar in the documents:

* a string: ``exact`` (its text, verbatim), else ``normalized`` (equal after
  case folding, Unicode compatibility folding (NFKD per character), whitespace runs
  collapsed and surrounding spaces/punctuation of the value ignored), else
  ``fuzzy`` (rapidfuzz ``partial_ratio_alignment`` score ≥ the threshold,
  default :data:`FUZZY_THRESHOLD`; values of :data:`FUZZY_MIN_LENGTH` to
  :data:`FUZZY_MAX_LENGTH` characters), else ``ungrounded``;
* a number, a date (a ``format: date`` string or any ISO date string), a
  boolean of a field marked grounded: one of its textual forms
  (:mod:`.forms`), not inside a longer number or word;
* ``null``, empty strings and fields marked ``x-grounding: false`` are not
  aligned; booleans only when the field is marked grounded.

Which occurrence: the one nearest to the previous value that was found (in
the value's own order, so the fields of one list item are looked up near
each other); the first occurrence in the document for the first value. An
exact occurrence wins over a normalized one among the nearest
:data:`_NEAREST` occurrences. Several documents: the best status wins, then
the document of the previous value, then the document given first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..markers import GROUNDING_KEY
from ..schema.view import Node, SchemaView, is_number
from .forms import ISO_DATE, boolean_forms, canonical_number, date_forms
from .index import DocumentIndex
from .normalize import fold, is_mark, strip_edges
from .policy import is_grounded
from .spans import STATUSES, Grounding, LeafGrounding, Span

#: Lowest rapidfuzz score (0-100) that counts as a ``fuzzy`` match.
FUZZY_THRESHOLD = 90.0
#: Shorter values (normalized) are found exactly or not at all...
FUZZY_MIN_LENGTH = 5
#: ...and so are longer ones (a fuzzy alignment costs value length × window).
FUZZY_MAX_LENGTH = 500
#: Occurrences examined, nearest first, when choosing among repeated ones.
_NEAREST = 32


@dataclass(frozen=True)
class _Found:
    status: str
    score: float
    source: str
    start: int
    end: int
    nstart: int


class Aligner:
    """Documents (name → text, or an object with ``.text``), indexed on first use."""

    def __init__(self, documents: Mapping[str, Any], *,
                 fuzzy_threshold: float = FUZZY_THRESHOLD) -> None:
        self._texts: dict[str, str] = {}
        self._paged: dict[str, Any] = {}
        for name, doc in documents.items():
            text = doc if isinstance(doc, str) else getattr(doc, "text", None)
            if not isinstance(text, str):
                raise TypeError(
                    f"document {name!r} is a {type(doc).__name__}; a document is a str "
                    "(or an object with a .text str)"
                )
            self._texts[name] = text
            if callable(getattr(doc, "page_of", None)):
                self._paged[name] = doc
        self._indexes: dict[str, DocumentIndex] = {}
        self.threshold = fuzzy_threshold

    @property
    def texts(self) -> Mapping[str, str]:
        return self._texts

    def index(self, name: str) -> DocumentIndex:
        found = self._indexes.get(name)
        if found is None:
            found = self._indexes[name] = DocumentIndex(self._texts[name])
        return found

    # -- the walk ---------------------------------------------------------------

    def ground(self, value: Any, view: SchemaView, *,
               policy: Callable[[Node], bool] = is_grounded, prefix: str = "") -> Grounding:
        """Pointer → :class:`LeafGrounding` for every aligned leaf of ``value``.

        ``prefix`` is cut from the front of every pointer (a wrapped value's
        ``/value``).
        """
        leaves: dict[str, LeafGrounding] = {}
        anchor: tuple[str, int] | None = None
        cut = len(prefix)
        for leaf in view.leaves(value):
            v = leaf.value
            node = leaf.node
            if v is None or node.schema.get(GROUNDING_KEY) is False:
                continue
            required = bool(policy(node))
            if isinstance(v, bool):
                if not required:
                    continue
                found = self._forms(boolean_forms(v), anchor, _word_bounded)
            elif is_number(v):
                found = self._number(v, anchor)
            elif isinstance(v, str):
                if not v.strip():
                    continue
                found = None
                if node.schema.get("format") == "date" or ISO_DATE.fullmatch(v):
                    found = self._forms(date_forms(v), anchor, _number_bounded)
                if found is None:
                    found = self._text(v, anchor)
            else:
                continue
            pointer = leaf.pointer[cut:] if cut and leaf.pointer.startswith(prefix) else leaf.pointer
            if found is None:
                leaves[pointer] = LeafGrounding(pointer, v, "ungrounded", 0.0, (), required)
                continue
            anchor = (found.source, found.nstart)
            paged = self._paged.get(found.source)
            page = paged.page_of(found.start) if paged is not None else None
            span = Span(found.start, found.end, found.source, page)
            leaves[pointer] = LeafGrounding(pointer, v, found.status, found.score, (span,),
                                            required)
        return Grounding(leaves)

    # -- one value ----------------------------------------------------------------

    def _text(self, value: str, anchor: tuple[str, int] | None) -> _Found | None:
        core, lead, trail = strip_edges(value)
        if not core:
            core, lead, trail = value, 0, 0
        needle = fold(core)
        # the value as given first (surrounding spaces and punctuation included), then its core
        tries = [(fold(value), value, 0, 0), (needle, core, lead, trail)] if lead or trail \
            else [(needle, core, 0, 0)]
        best: _Found | None = None
        for text, expected, left, right in tries:
            for name in self._texts:
                index = self.index(name)
                near = anchor[1] if anchor is not None and anchor[0] == name else None
                exact = partial(_exact_text, index, value=value, core=expected, lead=left,
                                trail=right)
                found = self._pick(name, index, index.find_all(text, near), len(text), near,
                                   _mark_bounded, exact)
                best = _better(best, found, anchor)
            if best is not None:
                return best
        if best is not None or not FUZZY_MIN_LENGTH <= len(needle) <= FUZZY_MAX_LENGTH:
            return best
        for name in self._texts:
            index = self.index(name)
            matches = index.fuzzy(needle, self.threshold)
            if not matches:
                continue
            top = matches[0][0]
            near = anchor[1] if anchor is not None and anchor[0] == name else 0
            score, ns, ne = min((m for m in matches if m[0] == top),
                                key=lambda m: abs(m[1] - near))
            ns, ne = _widen(index.text, *_trim(index.text, ns, ne, needle))
            start, end = index.normalized.to_original(ns, ne)
            found = _Found("fuzzy", score / 100.0, name, start, end, ns)
            best = _better(best, found, anchor)
        return best

    def _number(self, value: float, anchor: tuple[str, int] | None) -> _Found | None:
        canonical = canonical_number(value)
        best: _Found | None = None
        for name in self._texts:
            index = self.index(name)
            starts, ends = index.numbers(value)
            if not starts:
                continue
            near = anchor[1] if anchor is not None and anchor[0] == name else None
            fallback: _Found | None = None
            for count, i in enumerate(_nearest_first(starts, near)):
                ns = starts[i]
                start, end = index.normalized.to_original(ns, ends[i])
                if index.original[start:end] == canonical:
                    fallback = _Found("exact", 1.0, name, start, end, ns)
                    break
                if fallback is None:
                    fallback = _Found("normalized", 1.0, name, start, end, ns)
                if count >= _NEAREST:
                    break
            best = _better(best, fallback, anchor)
        return best

    def _forms(self, forms: Sequence[str], anchor: tuple[str, int] | None,
               bounded: Callable[[str, int, int], bool]) -> _Found | None:
        if not forms:
            return None
        canonical = forms[0]
        best: _Found | None = None
        for name in self._texts:
            index = self.index(name)
            near = anchor[1] if anchor is not None and anchor[0] == name else None
            for form in forms:
                needle = fold(form)
                found = self._pick(name, index, index.find_all(needle, near), len(needle), near,
                                   bounded, partial(_exact_form, index, canonical=canonical))
                best = _better(best, found, anchor)
                if best is not None and best.status == "exact":
                    return best
        return best

    def _pick(self, name: str, index: DocumentIndex, positions: Sequence[int], size: int,
              near: int | None, bounded: Callable[[str, int, int], bool],
              exact: Callable[[int, int], tuple[int, int] | None]) -> _Found | None:
        """The occurrence to report: the nearest exact one among the nearest few,
        else the nearest normalized one. Occurrences that split a character from
        its combining marks count only when verbatim and nothing else is found."""
        fallback: _Found | None = None
        loose: _Found | None = None
        seen = 0
        for i in _nearest_first(positions, near):
            ns = int(positions[i])
            ne = ns + size
            start, end = index.normalized.to_original(ns, ne)
            if not bounded(index.text, ns, ne):
                if loose is None and bounded is _mark_bounded:
                    verbatim = exact(start, end)
                    if verbatim is not None:
                        loose = _Found("exact", 1.0, name, verbatim[0], verbatim[1], ns)
                continue
            verbatim = exact(start, end)
            if verbatim is not None:
                return _Found("exact", 1.0, name, verbatim[0], verbatim[1], ns)
            if fallback is None:
                fallback = _Found("normalized", 1.0, name, start, end, ns)
            seen += 1
            if seen >= _NEAREST:
                break
        return fallback or loose


def ground_value(value: Any, view: SchemaView, documents: Mapping[str, Any], *,
                 policy: Callable[[Node], bool] = is_grounded,
                 fuzzy_threshold: float = FUZZY_THRESHOLD) -> Grounding:
    """Align every leaf of ``value`` (JSON data described by ``view``) to ``documents``.

    ``documents`` maps a name (the template variable; ``"text"`` for the CLI
    input and the ``text`` argument) to the document's text, or to an object
    with ``.text`` (and ``.page_of(offset)``, which fills :attr:`Span.page`).
    ``policy`` says which fields are grounded (``LeafGrounding.required``).
    """
    return Aligner(documents, fuzzy_threshold=fuzzy_threshold).ground(value, view, policy=policy)


# -- helpers ------------------------------------------------------------------------


def _nearest_first(positions: Sequence[int], near: int | None) -> Iterator[int]:
    """Indexes of ascending ``positions``, nearest to ``near`` first (ties: the later one)."""
    n = len(positions)
    if near is None:
        yield from range(n)
        return
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if positions[mid] < near:
            lo = mid + 1
        else:
            hi = mid
    before, after = lo - 1, lo
    while before >= 0 or after < n:
        if after < n and (before < 0 or positions[after] - near <= near - positions[before]):
            yield after
            after += 1
        else:
            yield before
            before -= 1


def _better(best: _Found | None, found: _Found | None,
            anchor: tuple[str, int] | None) -> _Found | None:
    if found is None:
        return best
    if best is None:
        return found
    rank_new = (STATUSES.index(found.status), -found.score)
    rank_old = (STATUSES.index(best.status), -best.score)
    if rank_new < rank_old:
        return found
    if rank_new == rank_old and anchor is not None and found.source == anchor[0] != best.source:
        return found
    return best


def _exact_text(index: DocumentIndex, start: int, end: int, value: str, core: str,
                lead: int, trail: int) -> tuple[int, int] | None:
    """The verbatim span of ``value`` in the original text at a normalized match
    mapped to ``[start, end)`` (a collapsed whitespace run maps whole, so the
    verbatim text may sit inside it), or ``None``."""
    original = index.original
    at = original.find(core, start, end)
    if at < 0:
        return None
    if lead or trail:
        stop = at + len(core)
        if at >= lead and original[at - lead:stop + trail] == value:
            return at - lead, stop + trail
        return None
    return at, at + len(core)


def _exact_form(index: DocumentIndex, start: int, end: int,
                canonical: str) -> tuple[int, int] | None:
    return (start, end) if index.original[start:end] == canonical else None


def _mark_bounded(text: str, start: int, end: int) -> bool:
    """The match neither starts on nor is followed by a combining mark of the document
    (it covers whole characters)."""
    if start < len(text) and start > 0 and ord(text[start]) > 127 and is_mark(text[start]):
        return False
    return not (end < len(text) and ord(text[end]) > 127 and is_mark(text[end]))


def _number_bounded(text: str, start: int, end: int) -> bool:
    """Not part of a longer number (``34`` is not in ``1234`` nor in ``34.5``)."""
    if start > 0:
        before = text[start - 1]
        if before.isdigit() or (before in ".," and start > 1 and text[start - 2].isdigit()):
            return False
    if end < len(text):
        after = text[end]
        if after.isdigit() or (after in ".," and end + 1 < len(text) and text[end + 1].isdigit()):
            return False
    return True


def _word_bounded(text: str, start: int, end: int) -> bool:
    """Not part of a longer word (``no`` is not in ``note``)."""
    if start > 0 and text[start - 1].isalnum():
        return False
    return not (end < len(text) and text[end].isalnum())


def _widen(text: str, start: int, end: int, most: int = 3) -> tuple[int, int]:
    """A fuzzy span cut inside a word, widened to the word's ends (at most ``most``
    characters each way; not in scripts written without spaces)."""
    def inside(i: int) -> bool:
        return 0 <= i < len(text) and text[i].isalnum() and not _unspaced(text[i])

    if inside(start) and inside(start - 1):
        for _ in range(most):
            if not inside(start - 1):
                break
            start -= 1
    if inside(end - 1) and inside(end):
        for _ in range(most):
            if not inside(end):
                break
            end += 1
    return start, end


def _unspaced(char: str) -> bool:
    return ord(char) > 0x2E7F and unicodedata.east_asian_width(char) in "WF"


def _trim(text: str, start: int, end: int, needle: str) -> tuple[int, int]:
    """A fuzzy span without the spaces and punctuation around it the needle does not have."""
    _, lead, trail = strip_edges(text[start:end])
    if lead and strip_edges(needle[:1])[1] == 0:
        start += lead
    if trail and strip_edges(needle[-1:])[2] == 0:
        end -= trail
    return start, max(start, end)


__all__ = ["FUZZY_MAX_LENGTH", "FUZZY_MIN_LENGTH", "FUZZY_THRESHOLD", "Aligner", "ground_value"]
