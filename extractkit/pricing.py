"""What a run cost: a price table per model, overridable by the user.

Prices are US dollars per million tokens, prompt (``input``) and completion
(``output``). The built-in table holds a few OpenAI models at their list
prices when this was written; prices change, so pass your own with
``--price-table FILE`` (or :meth:`PriceTable.load`), a JSON object::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.6},
     "my-finetune": {"input": 0.3, "output": 1.2}}

Entries in the file replace or add to the built-in ones. A model is found by
its exact name, else by the longest table name it extends with ``-``
(``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``). The embedded local model
costs nothing. An unknown model has no price: its cost is ``None``, not 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .results import Usage
from .settings import LOCAL_MODEL_NAME

PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million prompt (``input``) and completion (``output``) tokens."""

    input: float
    output: float

    def cost(self, usage: Usage) -> float:
        return self.tokens_cost(usage.prompt_tokens, usage.completion_tokens)

    def tokens_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for this many prompt and completion tokens."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / PER_TOKENS


FREE = Price(0.0, 0.0)

#: List prices (USD per 1M tokens) of some OpenAI models; override with a file.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    LOCAL_MODEL_NAME: FREE,
}


class PriceTable:
    """Model name → :class:`Price`, with the lookup rules of the module docstring."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES if prices is None else prices)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """The built-in table with the entries of a JSON file on top."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read price table {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigurationError(f"price table {path} is not JSON: {exc}") from None
        return cls({**DEFAULT_PRICES, **_parse_prices(data, str(path))})

    def price_for(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        extended = [name for name in self._prices if model.startswith(name + "-")]
        return self._prices[max(extended, key=len)] if extended else None

    def cost(self, model: str | None, usage: Usage, *, local: bool = False) -> float | None:
        """Dollars for ``usage`` on ``model``; 0 for the local model, ``None`` if unknown."""
        if local:
            return 0.0
        price = self.price_for(model)
        return None if price is None else price.cost(usage)

    def answered_cost(
        self, answered: str | None, requested: str | None, usage: Usage, *, local: bool = False
    ) -> float | None:
        """Dollars for ``usage`` by the model that ``answered`` (the name in the
        response), else by the ``requested`` one (an endpoint may answer with a
        dated name the table lacks); ``None`` if neither has a price."""
        cost = self.cost(answered, usage, local=local)
        return self.cost(requested, usage) if cost is None else cost


def _parse_prices(data: Any, name: str) -> dict[str, Price]:
    if not isinstance(data, dict):
        raise ConfigurationError(f"price table {name} must be a JSON object of models")
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        try:
            prices[model] = Price(float(entry["input"]), float(entry["output"]))
        except (TypeError, KeyError, ValueError):
            raise ConfigurationError(
                f'price table {name}: {model!r} needs numeric "input" and "output" '
                "(dollars per million tokens)"
            ) from None
    return prices


def price_table(prices: Any = None) -> PriceTable:
    """The table that ``prices=`` (a setting) names: ``None`` → the built-in one; a
    :class:`PriceTable` as it is; a path → :meth:`PriceTable.load`; a mapping of model
    → :class:`Price` (or ``{"input": $, "output": $}``) → the built-in table with those on top."""
    if prices is None:
        return PriceTable()
    if isinstance(prices, PriceTable):
        return prices
    if isinstance(prices, (str, Path)):
        return PriceTable.load(prices)
    if isinstance(prices, Mapping):
        given = {k: v for k, v in prices.items() if isinstance(v, Price)}
        rest = {k: v for k, v in prices.items() if not isinstance(v, Price)}
        return PriceTable({**DEFAULT_PRICES, **_parse_prices(rest, "prices="), **given})
    raise ConfigurationError(
        "prices must be a PriceTable, a path to a JSON price table or a mapping of model "
        f"names to prices, got {type(prices).__name__}"
    )
