"""Running totals of a batch run for progress lines and the end-of-run report.

The CLI's ``extractkit run`` feeds every :class:`~extractkit.drivers.jobs.ItemResult`
to a :class:`Tally`; the batch drivers know nothing of it.
"""

from __future__ import annotations

import time
from typing import Any

from .drivers.jobs import ItemResult
from .pricing import PriceTable
from .results import Usage


class Tally:
    """Running totals of a batch: counts, tokens, estimated cost, rate.

    Cost comes from ``prices`` (a :class:`~extractkit.pricing.PriceTable`) for
    the model named in each item's response, else the requested ``model``; answers from
    the response cache and the local model (``local=True``) cost nothing.
    """

    def __init__(
        self, prices: PriceTable | None = None, *, model: str | None = None, local: bool = False,
        total: int | None = None,
    ) -> None:
        self.prices = prices if prices is not None else PriceTable()
        self.model = model
        self.local = local
        #: how many inputs the run has, when known (for done/total and the ETA)
        self.total = total
        self.ok = 0
        self.failed = 0
        self.cached = 0
        self.skipped = 0
        self.usage = Usage()
        self.cost = 0.0
        self.unpriced: set[str] = set()
        self.started = time.monotonic()
        #: the run's :class:`~extractkit.spend.SpendLimit`, shown in the progress line
        self.spend: Any = None

    def add(self, item: ItemResult[Any]) -> None:
        if item.ok:
            self.ok += 1
        else:
            self.failed += 1
        if item.cached:
            self.cached += 1
            return
        self.usage = self.usage + item.usage
        cost = _priced_attempts(item)
        if cost is None:
            cost = self.prices.answered_cost(item.model, self.model, item.usage, local=self.local)
        if cost is not None:
            self.cost += cost
        elif item.usage.total_tokens:
            self.unpriced.add(item.model or self.model or "?")

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items per second since the start."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds until the last input is done at the rate so far, when that is known."""
        if self.total is None or not self.done or self.rate <= 0:
            return None
        return max(0, self.total - self.skipped - self.done) / self.rate

    def cost_text(self) -> str:
        if self.local and not self.cost and not self.unpriced:
            return "local"  # the embedded model costs nothing: no "$0.0000"
        text = f"${self.cost:.4f}"
        if self.unpriced:
            text += f" (+ unpriced: {', '.join(sorted(self.unpriced))})"
        return text

    def line(self) -> str:
        """One line for a progress display: done/total, failures, rate, ETA, tokens, cost."""
        total = self.total - self.skipped if self.total is not None else None
        done = f"{self.done}/{total}" if total is not None else f"{self.done}"
        eta = self.eta
        parts = [f"{done} done", f"{self.failed} failed", f"{self.rate:.1f}/s"]
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        cost = self.cost_text()
        tokens = f"{self.usage.total_tokens:,}"
        cost = cost if cost == "local" else f"~{cost}"
        limit = self.spend
        if limit is not None and limit.max_tokens_total is not None:
            tokens += f" of max {limit.max_tokens_total:,}"
        if limit is not None and limit.max_cost is not None:
            cost += f" of max ${limit.max_cost:.4f}"
        parts += [f"{tokens} tokens", cost]
        return ", ".join(parts)

    def summary(self) -> str:
        """The end-of-run report."""
        parts = [f"{self.ok} ok", f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        if self.cached:
            parts.append(f"{self.cached} from the cache")
        usage = self.usage
        cost = self.cost_text()
        cost = "no cost (local model)" if cost == "local" else f"estimated cost {cost}"
        return (
            f"{', '.join(parts)} in {self.elapsed:.1f} s; tokens: {usage.prompt_tokens:,} prompt "
            f"+ {usage.completion_tokens:,} completion; {cost}"
        )


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _priced_attempts(item: ItemResult[Any]) -> float | None:
    """A fallback chain prices each attempt by its own endpoint: their sum, when every
    attempt has a cost (else ``None``: the price table decides)."""
    outcome: Any = item.result if item.result is not None else item.error
    attempts = getattr(outcome, "attempts", None)
    if not attempts or getattr(outcome, "endpoint", None) is None:
        return None
    costs = [attempt.cost for attempt in attempts]
    return None if any(c is None for c in costs) else float(sum(costs))
