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
        self, prices: PriceTable | None = None, *, model: str | None = None, local: bool = False
    ) -> None:
        self.prices = prices if prices is not None else PriceTable()
        self.model = model
        self.local = local
        self.ok = 0
        self.failed = 0
        self.cached = 0
        self.skipped = 0
        self.usage = Usage()
        self.cost = 0.0
        self.unpriced: set[str] = set()
        self.started = time.monotonic()

    def add(self, item: ItemResult[Any]) -> None:
        if item.ok:
            self.ok += 1
        else:
            self.failed += 1
        if item.cached:
            self.cached += 1
            return
        self.usage = self.usage + item.usage
        cost = self.prices.cost(item.model, item.usage, local=self.local)
        if cost is None:  # the endpoint's name for the model may not be in the table
            cost = self.prices.cost(self.model, item.usage)
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

    def cost_text(self) -> str:
        text = f"${self.cost:.4f}"
        if self.unpriced:
            text += f" (+ unpriced: {', '.join(sorted(self.unpriced))})"
        return text

    def line(self) -> str:
        """One line for a progress display."""
        return (
            f"{self.done} done, {self.failed} failed, {self.rate:.1f}/s, "
            f"{self.usage.total_tokens:,} tokens, ~{self.cost_text()}"
        )

    def summary(self) -> str:
        """The end-of-run report."""
        parts = [f"{self.ok} ok", f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        if self.cached:
            parts.append(f"{self.cached} from the cache")
        usage = self.usage
        return (
            f"{', '.join(parts)} in {self.elapsed:.1f} s; tokens: {usage.prompt_tokens:,} prompt "
            f"+ {usage.completion_tokens:,} completion; estimated cost {self.cost_text()}"
        )


