"""Spending limits of a batch: stop starting inputs before money or tokens would pass a limit.

:class:`SpendLimit` is sans-IO bookkeeping that the batch drivers
(:mod:`extractkit.drivers.batch`) ask before starting each input
(:meth:`SpendLimit.may_start`) and tell about each input that finished
(:meth:`SpendLimit.add`). The rule, conservative by design:

* an input starts only if what is spent, plus the expected cost of every
  input in flight, plus the expected cost of this one stays within every
  limit. The expected cost of an input is the *most* any input that made
  requests cost so far (re-asks, failures and chunks included), not the
  mean: a batch of inputs of varying length then stays under the limit, and
  what is left unspent at the stop is at most ``concurrency + 1`` such inputs;
* until one input's cost is known, inputs start one at a time: nothing is
  guessed;
* inputs in flight when the limit is near are waited for and counted, never
  abandoned (their records are written). The limit can only be passed by
  an input that costs more than any before it (a longer text, more
  re-asks), or by a first input that alone costs more than the limit;
* answers from the response cache cost nothing and do not lower the mean.

When an input may not start and none is in flight, the batch ends:
:class:`~extractkit.errors.SpendLimitReached` is raised from its iterator
after the last item. ``extractkit run`` reports it and exits with code 3;
``--resume`` continues with the inputs that were not started.

A money limit needs a price for the model (:mod:`extractkit.pricing`): an
unknown price is a :class:`~extractkit.errors.ConfigurationError` when the
limit is built, before anything is sent, never an unlimited run. The
embedded model costs nothing, so only a token limit can stop it.
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import ConfigurationError, SpendLimitReached
from .pricing import FREE, Price, price_table


class SpendLimit:
    """A money (``max_cost``, US dollars) and/or token (``max_tokens_total``,
    prompt + completion) limit over one batch, or several sharing it."""

    def __init__(
        self,
        *,
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
        prices: Any = None,
        model: str | None = None,
        local: bool = False,
    ) -> None:
        check_limits(max_cost, max_tokens_total)
        if max_cost is None and max_tokens_total is None:
            raise ConfigurationError("a SpendLimit needs max_cost or max_tokens_total")
        self.max_cost = None if max_cost is None else float(max_cost)
        self.max_tokens_total = max_tokens_total
        self.prices = price_table(prices)
        self.model = model
        self.local = local
        if self.max_cost is not None and not local and self.prices.price_for(model) is None:
            named = f"model {model!r}" if model else "a model with no name"
            raise ConfigurationError(
                f"max_cost needs a price for {named}, and the price table has none: add one "
                'with prices= (or --price-table FILE: {"MODEL": {"input": $, "output": $}} '
                "per million tokens); nothing was sent"
            )
        #: dollars and tokens spent by the inputs that finished
        self.cost = 0.0
        self.tokens = 0
        #: inputs that finished, and those among them that paid for requests
        self.finished = 0
        self._paying = 0
        self._most = (0.0, 0)  # the most one input cost: dollars, tokens
        self._prices: dict[str | None, Price | None] = {}
        self._lock = threading.Lock()

    def add(self, item: Any) -> None:
        """Count one finished input (an :class:`~extractkit.drivers.jobs.ItemResult`)."""
        with self._lock:
            self.finished += 1
            usage = item.usage
            if item.cached or not usage.total_tokens:
                return
            self._paying += 1
            self.tokens += usage.total_tokens
            price = self._price(item.model)
            cost = 0.0 if price is None else price.cost(usage)
            self.cost += cost
            self._most = (max(self._most[0], cost or 0.0), max(self._most[1], usage.total_tokens))

    def _price(self, answered: str | None) -> Price | None:
        """The price of the model that answered, else of the one asked for
        (:meth:`PriceTable.answered_cost`'s rule), looked up once per name."""
        if answered not in self._prices:
            if self.local:
                self._prices[answered] = FREE
            else:
                price = self.prices.price_for(answered)
                self._prices[answered] = price or self.prices.price_for(self.model)
        return self._prices[answered]

    def expected(self) -> tuple[float, int] | None:
        """What one more input is expected to cost, (dollars, tokens): the most one
        input that made requests cost so far; ``None`` before one did."""
        with self._lock:
            return self._most if self._paying else None

    def may_start(self, in_flight: int) -> bool:
        """Whether one more input may start while ``in_flight`` are running."""
        expected = self.expected()
        if expected is None:
            return in_flight == 0
        cost, tokens = expected
        starting = in_flight + 1
        if self.max_cost is not None and self.cost + starting * cost > self.max_cost:
            return False
        return not (self.max_tokens_total is not None
                    and self.tokens + starting * tokens > self.max_tokens_total)

    def spent_text(self) -> str:
        """``$0.0123 of max_cost $0.0150, 4,200 tokens`` -- what was spent against which limit."""
        parts = []
        if self.max_cost is not None:
            parts.append(f"${self.cost:.4f} of max_cost ${self.max_cost:.4f}")
        if self.max_tokens_total is not None:
            parts.append(f"{self.tokens:,} tokens of max_tokens_total {self.max_tokens_total:,}")
        else:
            parts.append(f"{self.tokens:,} tokens")
        return ", ".join(parts)

    def reached(self) -> SpendLimitReached:
        """The error that ends a batch stopped by this limit."""
        expected = self.expected()
        next_cost = ""
        if expected is not None:
            cost, tokens = expected
            next_cost = (f"; the next input would cost about ${cost:.4f}"
                         if self.max_cost is not None else
                         f"; the next input would take about {tokens:,.0f} tokens")
        return SpendLimitReached(
            f"spending limit reached after {self.finished} input(s): spent "
            f"{self.spent_text()}{next_cost}; the remaining inputs were not started",
            spent_cost=self.cost,
            spent_tokens=self.tokens, max_cost=self.max_cost,
            max_tokens_total=self.max_tokens_total,
        )


def check_limits(max_cost: Any, max_tokens_total: Any) -> None:
    """``max_cost`` a positive number of dollars, ``max_tokens_total`` a positive integer."""
    if max_cost is not None and (
        not isinstance(max_cost, (int, float)) or isinstance(max_cost, bool) or not max_cost > 0
    ):
        raise ConfigurationError(f"max_cost must be a positive number of dollars, got {max_cost!r}")
    if max_tokens_total is not None and (
        not isinstance(max_tokens_total, int) or isinstance(max_tokens_total, bool)
        or max_tokens_total < 1
    ):
        raise ConfigurationError(
            f"max_tokens_total must be a positive integer, got {max_tokens_total!r}")


def limit_for(
    engine: Any, max_cost: float | None = None, max_tokens_total: int | None = None,
    spend: SpendLimit | None = None,
) -> SpendLimit | None:
    """The limit a front door's ``map`` runs under: ``spend`` (a shared one) if given,
    else one from ``max_cost``/``max_tokens_total`` over the engine's settings;
    ``None`` when no limit is set."""
    if spend is not None:
        if max_cost is not None or max_tokens_total is not None:
            raise ConfigurationError(
                "pass either spend= (a shared SpendLimit) or max_cost=/max_tokens_total=")
        return spend
    settings = engine.settings
    max_cost = settings.max_cost if max_cost is None else max_cost
    if max_tokens_total is None:
        max_tokens_total = settings.max_tokens_total
    if max_cost is None and max_tokens_total is None:
        return None
    resolved = engine.resolved
    return SpendLimit(max_cost=max_cost, max_tokens_total=max_tokens_total,
                      prices=settings.prices, model=resolved.model, local=resolved.local)


__all__ = ["SpendLimit", "check_limits", "limit_for"]
