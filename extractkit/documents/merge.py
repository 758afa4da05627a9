"""Merging the values extracted from the chunks of one document, by schema.

Each chunk of a long document gives a value of the whole schema (a
:class:`Part`: the chunk's index, its value as JSON, and its grounding in
*document* coordinates). :func:`merge_parts` combines them walking the one
schema view (:mod:`extractkit.schema.view`):

* objects merge field by field;
* lists (``list[T]``, also a root list) are concatenated in document order
  and de-duplicated: equal objects, or equal normalized scalars whose spans
  overlap (the same mention seen by two overlapping chunks) or are unknown;
* scalars take the first *grounded* non-empty value in document order (an
  ungrounded one only when no chunk's value was found in the text);
* every disagreement is kept as a :class:`~.conflicts.Conflict`.

The per-field marker ``x-merge`` (:class:`extractkit.markers.Merge`) changes
the policy of a field: ``first``, ``last``, ``longest``, ``most_frequent``,
``union`` (lists: de-duplicate by value wherever it was found; scalars:
like ``first``), ``best`` (a scored value, i.e. one found in the text,
before an unscored one; then the one whose surroundings speak most of the
field: :attr:`Part.scores`, set by evidence ranking), or the name of a registered callable, called with the
list of :class:`~.conflicts.Candidate` and returning the value.

The result says which chunk each leaf came from (``sources``) and carries
the grounding of the merged value (pointers of the merged value, spans of
the document). Validating the merged value against the schema is the
caller's job (:mod:`extractkit.documents.run` does it with the validator of
record).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import SchemaError
from ..grounding.spans import Grounding, LeafGrounding, Span
from ..markers import MERGE_POLICIES, registered_callable
from ..schema.jsonutil import join_pointer
from ..schema.view import Node, SchemaView, schema_view
from .conflicts import Candidate, Conflict

_ABSENT: Any = object()
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = " \t\n.,;:'\"()[]"


@dataclass(frozen=True)
class Part:
    """One chunk's value (JSON) and its grounding in document coordinates."""

    chunk: int
    value: Any
    grounding: Mapping[str, LeafGrounding] = field(default_factory=dict)
    #: pointer into ``value`` → evidence score of that value (policy ``best``)
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Merged:
    """The merged value (JSON, not yet validated) and what merging found out."""

    value: Any
    conflicts: list[Conflict]
    #: leaf pointer of the merged value → index of the chunk it came from
    sources: dict[str, int]
    grounding: Grounding


@dataclass(frozen=True)
class _Cand:
    value: Any
    chunk: int
    src: str  # pointer into that chunk's value


def normalized(value: Any) -> str:
    """The comparison key of a value: strings case-folded with spaces collapsed and
    edge punctuation dropped; objects and lists as canonical JSON of those."""
    if isinstance(value, str):
        return _SPACES.sub(" ", value).strip(_EDGE_PUNCT).casefold()
    if isinstance(value, Mapping):
        return json.dumps({k: normalized(v) for k, v in value.items() if v is not None},
                          sort_keys=True)
    if isinstance(value, (list, tuple)):
        return json.dumps([normalized(v) for v in value])
    return "\x00" + json.dumps(value)  # never equal to a string's key


def is_empty(value: Any) -> bool:
    """``None``, ``""``, ``[]`` and ``{}``: nothing was found."""
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def merge_parts(
    schema: Node | SchemaView | Mapping[str, Any] | bool, parts: Sequence[Part],
    *, scalar_policy: str = "first",
) -> Merged:
    """Merge the chunk values ``parts`` (in document order) by ``schema`` (a JSON
    Schema, its view, or a node of a view). ``scalar_policy`` is the policy of
    scalars without an ``x-merge`` marker (``"best"`` when the parts carry
    evidence scores)."""
    if isinstance(schema, Node):
        root = schema
    elif isinstance(schema, SchemaView):
        root = schema.root
    else:
        root = schema_view(dict(schema) if isinstance(schema, Mapping) else schema).root
    if scalar_policy not in MERGE_POLICIES:
        raise ValueError(f"scalar_policy must be one of {', '.join(MERGE_POLICIES)}")
    merger = _Merger(parts, scalar_policy)
    cands = [_Cand(p.value, p.chunk, "") for p in parts]
    value = merger.merge(root, cands, "")
    if value is _ABSENT:
        value = None
    return Merged(value, merger.conflicts, merger.sources(), merger.grounding())


class _Merger:
    def __init__(self, parts: Sequence[Part], scalar_policy: str = "first") -> None:
        self._grounding = {p.chunk: p.grounding for p in parts}
        self._scores = {p.chunk: p.scores for p in parts}
        self._scalar_policy = scalar_policy
        self.conflicts: list[Conflict] = []
        self._origins: dict[str, tuple[int, str]] = {}

    # -- what came from where -------------------------------------------------

    def _leaf(self, cand: _Cand) -> LeafGrounding | None:
        return self._grounding.get(cand.chunk, {}).get(cand.src)

    def _spans(self, cand: _Cand) -> tuple[Span, ...]:
        leaf = self._leaf(cand)
        return leaf.spans if leaf is not None else ()

    def _score(self, cand: _Cand) -> float | None:
        return self._scores.get(cand.chunk, {}).get(cand.src)

    def _grounded(self, cand: _Cand) -> bool | None:
        leaf = self._leaf(cand)
        if leaf is None or not leaf.required:
            return None
        return leaf.grounded

    def _take(self, cand: _Cand, out: str) -> Any:
        """Keep ``cand``'s value whole at ``out``: record the origin of each leaf."""
        stack: list[tuple[Any, str, str]] = [(cand.value, out, cand.src)]
        while stack:
            value, dst, src = stack.pop()
            if isinstance(value, Mapping):
                stack.extend((v, join_pointer(dst, k), join_pointer(src, k)) for k, v in value.items())
            elif isinstance(value, (list, tuple)):
                stack.extend((v, join_pointer(dst, i), join_pointer(src, i))
                             for i, v in enumerate(value))
            else:
                self._origins[dst] = (cand.chunk, src)
        return cand.value

    def sources(self) -> dict[str, int]:
        return {dst: chunk for dst, (chunk, _) in self._origins.items()}

    def grounding(self) -> Grounding:
        leaves: dict[str, LeafGrounding] = {}
        for dst, (chunk, src) in self._origins.items():
            found = self._grounding.get(chunk, {}).get(src)
            if found is not None:
                leaves[dst] = replace(found, pointer=dst)
        return Grounding(leaves)

    # -- merging ----------------------------------------------------------------

    def merge(self, node: Node | None, cands: list[_Cand], out: str) -> Any:
        if not cands:
            return _ABSENT
        full = [c for c in cands if not is_empty(c.value)]
        if not full:
            return self._take(cands[0], out)  # every chunk: null / "" / []
        if node is not None:
            policy = node.marker("merge") or node.unwrap().marker("merge")
            node = node.branch_for(full[0].value) or node.unwrap()
        else:
            policy = None
        if policy is not None and not isinstance(policy, str):
            raise SchemaError(f"{out or '(root)'}: x-merge must be a policy name, got {policy!r}")
        if policy is not None and policy not in MERGE_POLICIES:
            return self._by_callable(policy, full, out)
        if all(isinstance(c.value, Mapping) for c in full) and policy is None:
            return self._object(node, full, out)
        if all(isinstance(c.value, (list, tuple)) for c in full) and policy in (None, "union"):
            return self._list(full, out, by_value=policy == "union")
        return self._whole(policy or self._scalar_policy, full, out)

    def _object(self, node: Node | None, cands: list[_Cand], out: str) -> dict[str, Any]:
        keys: dict[str, None] = dict.fromkeys(node.properties) if node is not None else {}
        for c in cands:
            keys.update(dict.fromkeys(c.value))
        merged: dict[str, Any] = {}
        for key in keys:
            sub = [_Cand(c.value[key], c.chunk, join_pointer(c.src, key))
                   for c in cands if key in c.value]
            child = (node.properties.get(key) or node.additional) if node is not None else None
            value = self.merge(child, sub, join_pointer(out, key))
            if value is not _ABSENT:
                merged[key] = value
        return merged

    def _list(self, cands: list[_Cand], out: str, *, by_value: bool) -> list[Any]:
        kept: list[Any] = []
        seen: dict[str, _Mentions] = {}
        for c in cands:
            for i, item in enumerate(c.value):
                one = _Cand(item, c.chunk, join_pointer(c.src, i))
                key = normalized(item)
                spans = self._spans(one)
                earlier = seen.get(key)
                if earlier is not None and (by_value or isinstance(item, (Mapping, list))
                                            or earlier.same_mention(spans)):
                    earlier.add(spans)
                    continue
                if earlier is None:
                    earlier = seen[key] = _Mentions()
                earlier.add(spans)
                kept.append(self._take(one, join_pointer(out, len(kept))))  # one item, whole
        return kept

    def _whole(self, policy: str, cands: list[_Cand], out: str) -> Any:
        preferred = [c for c in cands if self._grounded(c) is not False] or cands
        if policy == "last":
            chosen = preferred[-1]
        elif policy == "longest":
            chosen = max(preferred, key=lambda c: len(_text(c.value)))  # first of the longest
        elif policy == "best":  # found in the text first, then the strongest evidence
            chosen = max(preferred, key=lambda c: (self._score(c) is not None,
                                                   self._score(c) or 0.0))
        elif policy == "most_frequent":
            counts = Counter(normalized(c.value) for c in preferred)
            top = max(counts.values())
            chosen = next(c for c in preferred if counts[normalized(c.value)] == top)
        else:  # first, and union for a scalar
            chosen = preferred[0]
        self._note_conflict(policy, cands, chosen.value, out)
        return self._take(chosen, out)

    def _by_callable(self, name: str, cands: list[_Cand], out: str) -> Any:
        fn = registered_callable(name)
        if fn is None:
            raise SchemaError(
                f"{out or '(root)'}: unknown merge policy {name!r}; expected one of "
                f"{', '.join(MERGE_POLICIES)} or a callable registered with "
                "extractkit.markers.register_callable"
            )
        value = fn([self._candidate(c) for c in cands])
        key = normalized(value)
        origin = next((c for c in cands if normalized(c.value) == key), None)
        self._note_conflict(name, cands, value, out)
        if origin is not None:
            return self._take(_Cand(value, origin.chunk, origin.src), out)
        return value

    def _candidate(self, c: _Cand) -> Candidate:
        return Candidate(c.value, c.chunk, self._spans(c), self._grounded(c), self._score(c))

    def _note_conflict(self, policy: str, cands: list[_Cand], chosen: Any, out: str) -> None:
        if len({normalized(c.value) for c in cands}) > 1:
            self.conflicts.append(
                Conflict(out, chosen, policy, tuple(self._candidate(c) for c in cands))
            )


class _Mentions:
    """The spans of the items seen so far with one normalized value, for overlap queries.

    Equal values are one mention when their spans overlap (``a.start < b.end``
    and ``b.start < a.end``), or when either item has no span. Spans are kept
    as sorted, disjoint unions of strictly overlapping spans (their interiors
    and their characters are those of the spans they unite, so an overlap
    query answers the same), plus the positions of empty spans: a query is a
    binary search instead of a comparison with every earlier item, so
    de-duplicating a value repeated *n* times costs ``O(n log n)``, not
    ``O(n²)``.
    """

    __slots__ = ("_ends", "_points", "_spanless", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._points: list[int] = []  # where empty spans stand
        self._spanless = False  # an earlier item had no span

    def same_mention(self, spans: tuple[Span, ...]) -> bool:
        if not spans or self._spanless:
            return True
        starts, ends, points = self._starts, self._ends, self._points
        for a in spans:
            if a.start < a.end:
                i = bisect_left(starts, a.end) - 1  # the last union starting before a ends
                if i >= 0 and ends[i] > a.start:
                    return True
                j = bisect_right(points, a.start)  # an empty span strictly inside a
                if j < len(points) and points[j] < a.end:
                    return True
            else:  # empty: strictly inside a union (two empty spans never overlap)
                i = bisect_left(starts, a.start) - 1
                if i >= 0 and ends[i] > a.start:
                    return True
        return False

    def add(self, spans: tuple[Span, ...]) -> None:
        if not spans:
            self._spanless = True
            return
        starts, ends = self._starts, self._ends
        for a in spans:
            s, e = a.start, a.end
            if s >= e:
                insort(self._points, s)
                continue
            lo = bisect_right(ends, s)  # the first union ending after s...
            hi = bisect_left(starts, e)  # ...to the last one starting before e
            if lo < hi:
                s, e = min(s, starts[lo]), max(e, ends[hi - 1])
            starts[lo:hi] = [s]
            ends[lo:hi] = [e]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


__all__ = ["Merged", "Part", "is_empty", "merge_parts", "normalized"]
