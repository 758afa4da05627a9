"""What grounding finds, as values and as JSON.

The JSON form (``Grounding.as_dict()``) is what ``-o`` records carry under
``"grounding"`` and what the review page and eval read::

    {"/name": {"value": "Maria Lopez", "status": "exact", "score": 1.0,
               "spans": [{"start": 10, "end": 21, "source": "text",
                          "page": null, "chunk": null}]},
     "/email": {"value": "ann@example.com", "status": "ungrounded",
                "score": 0.0, "spans": []}}

Offsets are character offsets (Python ``str`` indexes) into the original text
of the document named by ``source`` (the template variable carrying it; the
CLI input is ``"text"``). ``page`` is the 1-based page of ``start`` when the
document has pages; ``chunk`` the index of the chunk a value came from when
the document was chunked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: Alignment outcomes, best first.
STATUSES = ("exact", "normalized", "fuzzy", "ungrounded")


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` of the document ``source``."""

    start: int
    end: int
    source: str = "text"
    page: int | None = None
    chunk: int | None = None

    def shifted(self, offset: int, **changes: Any) -> Span:
        """The same span ``offset`` characters later (chunk → document coordinates)."""
        return replace(self, start=self.start + offset, end=self.end + offset, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "source": self.source,
                "page": self.page, "chunk": self.chunk}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        return cls(int(data["start"]), int(data["end"]), str(data.get("source", "text")),
                   data.get("page"), data.get("chunk"))


@dataclass(frozen=True)
class LeafGrounding:
    """Where one scalar of the value was found (JSON pointer into the value)."""

    pointer: str
    value: Any
    status: str
    score: float = 0.0
    spans: tuple[Span, ...] = ()
    #: whether the field is grounded by policy (an ungrounded value of an
    #: ungrounded field is no error, even under ``require``)
    required: bool = True

    @property
    def grounded(self) -> bool:
        return self.status != "ungrounded"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "status": self.status, "score": round(self.score, 4),
                "spans": [s.as_dict() for s in self.spans], "required": self.required}

    @classmethod
    def from_dict(cls, pointer: str, data: Mapping[str, Any]) -> LeafGrounding:
        return cls(pointer, data.get("value"), str(data["status"]), float(data.get("score", 0.0)),
                   tuple(Span.from_dict(s) for s in data.get("spans") or ()),
                   bool(data.get("required", True)))


class LazyLeaves(Mapping[str, LeafGrounding]):
    """Leaves computed on first use (``grounding="check"`` keeps the hot path free:
    nothing is aligned until someone looks)."""

    __slots__ = ("_compute", "_leaves")

    def __init__(self, compute: Callable[[], Mapping[str, LeafGrounding]]) -> None:
        self._compute: Callable[[], Mapping[str, LeafGrounding]] | None = compute
        self._leaves: Mapping[str, LeafGrounding] = {}

    def _get(self) -> Mapping[str, LeafGrounding]:
        compute = self._compute
        if compute is not None:
            self._leaves = compute()
            self._compute = None
        return self._leaves

    def __getitem__(self, pointer: str) -> LeafGrounding:
        return self._get()[pointer]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(dict(self._get()))

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled and copied as the plain dict it stands for
        return (dict, (dict(self._get()),))


@dataclass(frozen=True)
class Grounding(Mapping[str, LeafGrounding]):
    """Pointer → :class:`LeafGrounding` for every grounded-or-checked leaf of a value."""

    leaves: Mapping[str, LeafGrounding] = field(default_factory=dict)

    def __getitem__(self, pointer: str) -> LeafGrounding:
        return self.leaves[pointer]

    def __iter__(self) -> Iterator[str]:
        return iter(self.leaves)

    def __len__(self) -> int:
        return len(self.leaves)

    def with_pages(self, page_of: Callable[[int], int | None],
                   source: str = "text") -> Grounding:
        """The same leaves, with ``page`` set on the spans of ``source`` (from a
        document's ``page_of(offset)``)."""
        return Grounding({
            p: replace(g, spans=tuple(replace(s, page=page_of(s.start)) if s.source == source
                                      else s for s in g.spans))
            for p, g in self.leaves.items()})

    @property
    def ungrounded(self) -> list[LeafGrounding]:
        """Leaves of grounded fields that were not found in the document."""
        return [g for g in self.leaves.values() if g.required and not g.grounded]

    def as_dict(self) -> dict[str, Any]:
        return {p: g.as_dict() for p, g in self.leaves.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grounding:
        return cls({p: LeafGrounding.from_dict(p, g) for p, g in data.items()})


__all__ = ["STATUSES", "Grounding", "LazyLeaves", "LeafGrounding", "Span"]
