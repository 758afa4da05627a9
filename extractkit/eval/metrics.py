"""Counts and scores: precision, recall and F1 from leaf outcomes.

Per field, true positives are ``correct`` leaves, false positives ``wrong``
and ``extra`` ones, false negatives ``wrong`` and ``missing`` ones. A failed
document (no answer) contributes every expected leaf as ``missing``, so
failures lower recall instead of being skipped. Totals are micro averages
(counts summed over fields and documents, then scored).

With nothing to find and nothing found, precision and recall are 1; with
nothing found, precision is 1 and recall 0 (so F1 is 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .compare import LeafOutcome


@dataclass
class Counts:
    """True positives, false positives, false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, outcome: LeafOutcome) -> None:
        if outcome.status == "correct":
            self.tp += 1
        elif outcome.status == "wrong":
            self.fp += 1
            self.fn += 1
        elif outcome.status == "missing":
            self.fn += 1
        elif outcome.status == "extra":
            self.fp += 1

    def __iadd__(self, other: Counts) -> Counts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float:
        found = self.tp + self.fp
        return self.tp / found if found else 1.0

    @property
    def recall(self) -> float:
        gold = self.tp + self.fn
        return self.tp / gold if gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact(self) -> bool:
        """Nothing wrong, missing or extra."""
        return self.fp == 0 and self.fn == 0

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": round(self.precision, 6), "recall": round(self.recall, 6),
                "f1": round(self.f1, 6)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counts:
        return cls(int(data.get("tp", 0)), int(data.get("fp", 0)), int(data.get("fn", 0)))


def count(outcomes: Iterable[LeafOutcome]) -> Counts:
    """The counts of some outcomes."""
    total = Counts()
    for outcome in outcomes:
        total.add(outcome)
    return total


def by_field(outcomes: Iterable[LeafOutcome], into: dict[str, Counts] | None = None
             ) -> dict[str, Counts]:
    """Counts per field (``/items/*/name``), added to ``into`` if given."""
    fields = into if into is not None else {}
    for outcome in outcomes:
        fields.setdefault(outcome.field, Counts()).add(outcome)
    return fields


__all__ = ["Counts", "by_field", "count"]
