"""What merging a chunked document keeps besides the value: candidates and conflicts.

A :class:`Candidate` is one chunk's value for a field, with where it was found
(spans in document coordinates). A :class:`Conflict` is a field whose chunks
disagreed: the value merging chose, the policy that chose it, and every
candidate. Conflicts are data, never errors: the caller decides what to do.

Their JSON form (``Conflict.as_dict()``) is what ``-o`` records carry under
``"conflicts"``::

    {"pointer": "/jurisdiction", "policy": "first", "chosen": "Delaware",
     "candidates": [{"value": "Delaware", "chunk": 0, "spans": [...]},
                    {"value": "New York", "chunk": 3, "spans": [...]}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..grounding.spans import Span


@dataclass(frozen=True)
class Candidate:
    """One chunk's value for a field."""

    value: Any
    chunk: int
    spans: tuple[Span, ...] = ()
    #: ``True``/``False`` when the value was aligned to the text, ``None`` when
    #: the field is not grounded
    grounded: bool | None = None
    #: how strongly the text around the value speaks of the field (evidence
    #: ranking, :mod:`.evidence`), ``None`` when it was not scored
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"value": self.value, "chunk": self.chunk,
               "spans": [s.as_dict() for s in self.spans], "grounded": self.grounded}
        if self.score is not None:
            out["score"] = round(self.score, 3)
        return out


@dataclass(frozen=True)
class Conflict:
    """A field whose chunks gave different values."""

    pointer: str
    chosen: Any
    policy: str
    candidates: tuple[Candidate, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"pointer": self.pointer, "policy": self.policy, "chosen": self.chosen,
                "candidates": [c.as_dict() for c in self.candidates]}


__all__ = ["Candidate", "Conflict"]
