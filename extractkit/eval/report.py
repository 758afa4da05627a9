"""The result of an eval: scores per field and per document, cost and time.

:class:`EvalReport` is what :func:`extractkit.evaluate` returns and what
``extractkit eval --json FILE`` writes (``as_dict``); ``--baseline`` reads
such a file back (:meth:`EvalReport.load`) and :meth:`EvalReport.deltas`
compares per field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigurationError
from .compare import LeafOutcome
from .metrics import Counts, by_field, count

#: A field whose F1 drops by more than this against the baseline is a regression.
REGRESSION_TOLERANCE = 1e-9
FORMAT = "extractkit-eval/1"


@dataclass
class DocumentReport:
    """One example: its outcome, what it cost, how long it took."""

    id: str
    ok: bool
    outcomes: list[LeafOutcome]
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    #: dollars; ``None`` when the model has no price; 0 for the local model
    cost: float | None = None
    seconds: float | None = None

    @property
    def counts(self) -> Counts:
        return count(self.outcomes)

    @property
    def exact(self) -> bool:
        """The whole document right: answered, nothing wrong, missing or extra."""
        return self.ok and self.counts.exact

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ok": self.ok, "error": self.error, "exact": self.exact,
                **self.counts.as_dict(), "usage": self.usage, "cost": self.cost,
                "seconds": None if self.seconds is None else round(self.seconds, 4),
                "outcomes": [o.as_dict() for o in self.outcomes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DocumentReport:
        return cls(str(data["id"]), bool(data["ok"]),
                   [LeafOutcome.from_dict(o) for o in data.get("outcomes") or ()],
                   data.get("error"), dict(data.get("usage") or {}), data.get("cost"),
                   data.get("seconds"))


@dataclass
class FieldDelta:
    """One field against the baseline."""

    field: str
    f1: float | None
    baseline_f1: float | None

    @property
    def delta(self) -> float | None:
        if self.f1 is None or self.baseline_f1 is None:
            return None
        return self.f1 - self.baseline_f1

    @property
    def regression(self) -> bool:
        """Worse than the baseline (or gone)."""
        if self.baseline_f1 is None:
            return False
        return self.f1 is None or self.f1 < self.baseline_f1 - REGRESSION_TOLERANCE


@dataclass
class EvalReport:
    """Scores of one eval run (see :mod:`extractkit.eval.metrics` for the rules)."""

    documents: list[DocumentReport]
    #: the model the run used (``None`` for scored ``--results``)
    model: str | None = None
    #: the embedded local model answered (its cost is "local", i.e. 0)
    local: bool = False

    # -- scores -----------------------------------------------------------------

    @property
    def fields(self) -> dict[str, Counts]:
        """Counts per field, in order of first appearance."""
        fields: dict[str, Counts] = {}
        for doc in self.documents:
            by_field(doc.outcomes, fields)
        return fields

    @property
    def total(self) -> Counts:
        """Micro-averaged counts over every field and document."""
        total = Counts()
        for doc in self.documents:
            total += doc.counts
        return total

    @property
    def f1(self) -> float:
        return self.total.f1

    @property
    def precision(self) -> float:
        return self.total.precision

    @property
    def recall(self) -> float:
        return self.total.recall

    @property
    def exact_match_rate(self) -> float:
        """Share of documents extracted entirely right."""
        if not self.documents:
            return 0.0
        return sum(1 for d in self.documents if d.exact) / len(self.documents)

    @property
    def failed(self) -> int:
        return sum(1 for d in self.documents if not d.ok)

    # -- cost ---------------------------------------------------------------------

    @property
    def tokens(self) -> int:
        return sum(int(d.usage.get("total_tokens", 0)) for d in self.documents)

    @property
    def cost(self) -> float | None:
        """Total dollars; ``None`` if a document that used tokens had no price."""
        if self.local:
            return 0.0
        total = 0.0
        for doc in self.documents:
            if doc.cost is not None:
                total += doc.cost
            elif doc.usage.get("total_tokens"):
                return None
        return total

    @property
    def seconds(self) -> float | None:
        times = [d.seconds for d in self.documents if d.seconds is not None]
        return sum(times) if times else None

    def cost_text(self, cost: float | None) -> str:
        """``"local"`` for the embedded model, ``"?"`` when unpriced, else dollars."""
        if self.local:
            return "local"
        return "?" if cost is None else f"${cost:.4f}"

    # -- baseline -----------------------------------------------------------------

    def deltas(self, baseline: EvalReport) -> list[FieldDelta]:
        """Per field F1 now and in ``baseline`` (fields of either run)."""
        now = {name: c.f1 for name, c in self.fields.items()}
        before = {name: c.f1 for name, c in baseline.fields.items()}
        names = list(now) + [n for n in before if n not in now]
        return [FieldDelta(n, now.get(n), before.get(n)) for n in names]

    def regressions(self, baseline: EvalReport) -> list[FieldDelta]:
        return [d for d in self.deltas(baseline) if d.regression]

    # -- JSON ---------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.model,
            "local": self.local,
            "summary": {**self.total.as_dict(), "documents": len(self.documents),
                        "failed": self.failed,
                        "exact_match_rate": round(self.exact_match_rate, 6),
                        "tokens": self.tokens, "cost": self.cost,
                        "seconds": None if self.seconds is None else round(self.seconds, 4)},
            "fields": {name: c.as_dict() for name, c in self.fields.items()},
            "documents": [d.as_dict() for d in self.documents],
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        return cls([DocumentReport.from_dict(d) for d in data.get("documents") or ()],
                   data.get("model"), bool(data.get("local")))

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        """A report written by ``--json`` (for ``--baseline``)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read eval report {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigurationError(f"eval report {path} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigurationError(
                f"{path} is not an eval report (written by extractkit eval --json)")
        return cls.from_dict(data)

    # -- terminal -----------------------------------------------------------------

    def print(self, file: IO[str] | None = None, *, baseline: EvalReport | None = None,
              documents: bool = True) -> None:
        """Rich tables: per field (with deltas against ``baseline``), per document, totals."""
        from .render import print_report

        print_report(self, file, baseline=baseline, documents=documents)


__all__ = ["REGRESSION_TOLERANCE", "DocumentReport", "EvalReport", "FieldDelta"]
