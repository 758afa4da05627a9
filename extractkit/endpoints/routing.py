"""Which endpoint an extraction tries first: ``routing="order" | "cheapest" | "weighted"``.

``order``
    the chain as written: the primary endpoint, then each ``fallback``.
``cheapest``
    by price, cheapest first: the blended price per million tokens,
    ``(3 * input + output) / 4`` (extraction prompts are long and answers
    short); the endpoint's own ``price``, else the price table's entry for its
    model. Endpoints of unknown price come last, in their written order; ties
    keep the written order.
``weighted``
    a share of the extractions per endpoint (``weight=``, default 1) by
    smooth weighted round-robin: deterministic, and spread evenly (weights
    5, 1, 1 give ``a a b a c a a`` rather than ``a a a a a b c``). The chosen
    endpoint goes first; the others follow in written order as its fallbacks.

A :class:`Router` computes the order of every extraction (no I/O; shared by
a batch, so thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..errors import ConfigurationError
from ..pricing import Price, PriceTable

ROUTINGS = ("order", "cheapest", "weighted")


def blended(price: Price) -> float:
    """Dollars per million tokens of a typical extraction: 3 prompt tokens per answer token."""
    return (3 * price.input + price.output) / 4


def cheapest_first(prices: Sequence[Price | None]) -> list[int]:
    """Indexes by blended price, cheapest first; unknown prices last (stable)."""
    def key(index: int) -> tuple[bool, float]:
        price = prices[index]
        return (price is None, 0.0 if price is None else blended(price))

    return sorted(range(len(prices)), key=key)


class SmoothWeighted:
    """Smooth weighted round-robin over ``weights`` (nginx's): each pick adds every
    weight to its running score, takes the highest and subtracts the total from it."""

    def __init__(self, weights: Sequence[int]) -> None:
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigurationError(
                f"routing='weighted' needs non-negative weights, at least one above 0; got "
                f"{list(weights)!r}")
        self._weights = list(weights)
        self._total = sum(weights)
        self._current = [0] * len(weights)
        self._lock = threading.Lock()

    def pick(self) -> int:
        with self._lock:
            best = 0
            for i, weight in enumerate(self._weights):
                self._current[i] += weight
                if self._current[i] > self._current[best]:
                    best = i
            self._current[best] -= self._total
            return best


class Router:
    """The order in which one extraction tries the chain's endpoints (indexes)."""

    def __init__(self, routing: str, prices: Sequence[Price | None], weights: Sequence[int]):
        if routing not in ROUTINGS:
            raise ConfigurationError(
                f"routing must be one of {', '.join(ROUTINGS)}, got {routing!r}")
        self.routing = routing
        count = len(prices)
        self._fixed = cheapest_first(prices) if routing == "cheapest" else list(range(count))
        self._weighted = SmoothWeighted(weights) if routing == "weighted" else None

    def order(self) -> list[int]:
        if self._weighted is None:
            return self._fixed
        first = self._weighted.pick()
        return [first, *(i for i in self._fixed if i != first)]


def price_for(price: Price | None, model: str | None, local: bool,
              table: PriceTable | None = None) -> Price | None:
    """An endpoint's price: its own, else the table's for its model (local: free)."""
    if price is not None:
        return price
    if local:
        return Price(0.0, 0.0)
    return (table or PriceTable()).price_for(model)
