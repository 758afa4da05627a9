"""What a batch would cost, from its rendered requests, before anything is sent.

``extractkit run --dry-run`` renders the first request of every input (every
chunk's, for a document read in chunks) exactly as it would be sent, and
feeds them here with the number of answer tokens the schema implies
(:func:`answer_tokens`). An :class:`Estimator` counts them for one endpoint,
a (model, profile, price) triple, so several endpoints can be estimated
over the same requests side by side.

How tokens are counted (:func:`tokenizer_for`, the tokenizer that sizes
chunks, :mod:`extractkit.documents.tokens`):

* prompt tokens: the messages' text with the model's own tokenizer where it is
  known offline (tiktoken for OpenAI model names, the embedded model's
  vocabulary for ``local``), else one token per 4 characters; plus
  :data:`MESSAGE_TOKENS` per message and :data:`REPLY_TOKENS` per request (the
  chat format's framing), plus the JSON text of the schema or tools sent with
  the request. The embedded model gets its schema as a grammar, not as
  prompt text, so only its messages count;
* completion tokens: :func:`~extractkit.schema.budget.schema_token_budget` of
  the schema (a generous count of what a complete value needs), capped by
  ``max_tokens`` when one is set.

Measured against the embedded model's own usage on the four examples of
``schemas/`` (``bench/cost.py``): prompt tokens 0.97-0.98 of the real count;
completion tokens 0.92-4.8 times the real answers (median 3.8: lists are
counted at 8 items and strings at 24 tokens when the schema sets no bound),
so the completion part of an estimate is on the high side.

An estimate covers the first attempt of each request. Re-asks (up to
``max_retries`` more requests per input, each resending the conversation)
and later passes over a chunked document come on top; the limits of
:mod:`extractkit.spend` bound what a real run spends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .documents.tokens import TokenCounter, estimate_tokens, token_counter
from .pricing import Price
from .schema.budget import schema_token_budget

#: framing tokens per chat message (role and separators)
MESSAGE_TOKENS = 3
#: tokens that open the reply
REPLY_TOKENS = 3


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a dry run: the input it belongs to, the keyword arguments of
    ``chat.completions.create``, and the answer tokens expected."""

    input: str
    request: Mapping[str, Any]
    answer_tokens: int


@dataclass(frozen=True)
class Tokenizer:
    """How an endpoint's tokens are counted: ``count`` and what it is, in words."""

    count: TokenCounter
    name: str
    #: the schema travels as prompt text (False: the embedded model's grammar)
    schema_in_prompt: bool = True


def tokenizer_for(model: str | None, profile: str | None) -> Tokenizer:
    """The tokenizer of ``model`` on the profile named ``profile`` (see the module docstring)."""
    count = token_counter(model, profile)
    if profile == "local":
        return Tokenizer(count, "the embedded model's vocabulary", schema_in_prompt=False)
    if count is estimate_tokens or not model:
        return Tokenizer(estimate_tokens, "an approximation (1 token per 4 characters)")
    import tiktoken

    return Tokenizer(count, f"tiktoken {tiktoken.encoding_name_for_model(model.rsplit('/', 1)[-1])}")


def answer_tokens(schema: Mapping[str, Any] | bool, params: Mapping[str, Any] | None = None) -> int:
    """The completion tokens expected for a value of ``schema``, capped by the request's
    ``max_tokens`` / ``max_completion_tokens``."""
    budget = schema_token_budget(schema if isinstance(schema, bool) else dict(schema))
    params = params or {}
    limit = params.get("max_completion_tokens") or params.get("max_tokens")
    return min(budget, int(limit)) if limit else budget


def prompt_tokens(request: Mapping[str, Any], tokenizer: Tokenizer) -> int:
    """The prompt tokens of one request (see the module docstring)."""
    messages = request.get("messages") or ()
    total = REPLY_TOKENS
    for message in messages:
        total += MESSAGE_TOKENS + tokenizer.count(_content_text(message.get("content")))
    if tokenizer.schema_in_prompt:
        for key in ("response_format", "tools"):
            if request.get(key):
                total += tokenizer.count(json.dumps(request[key], separators=(",", ":"),
                                                    ensure_ascii=False, default=str))
    return total


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: their text
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))
    return ""


@dataclass(frozen=True)
class Estimate:
    """What one endpoint would take for a batch's first requests."""

    endpoint: str
    model: str | None
    tokenizer: str
    inputs: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    #: ``None``: the model has no price in the table (its cost is unknown, not 0)
    price: Price | None

    @property
    def cost(self) -> float | None:
        if self.price is None:
            return None
        return self.price.tokens_cost(self.prompt_tokens, self.completion_tokens)

    @property
    def prompt_cost(self) -> float | None:
        return None if self.price is None else self.price.tokens_cost(self.prompt_tokens, 0)

    @property
    def completion_cost(self) -> float | None:
        return None if self.price is None else self.price.tokens_cost(0, self.completion_tokens)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "tokenizer": self.tokenizer,
            "inputs": self.inputs,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "price": None if self.price is None else {"input": self.price.input,
                                                      "output": self.price.output},
            "cost": self.cost,
            "prompt_cost": self.prompt_cost,
            "completion_cost": self.completion_cost,
        }


class Estimator:
    """Counts :class:`PlannedRequest` objects for one endpoint as they come
    (constant memory however many inputs): ``add`` each, then :meth:`estimate`."""

    def __init__(self, endpoint: str, *, model: str | None, profile: str | None,
                 price: Price | None, tokenizer: Tokenizer | None = None) -> None:
        self.endpoint = endpoint
        self.model = model
        self.price = price
        self.tokenizer = tokenizer or tokenizer_for(model, profile)
        self._last_input: str | None = None
        self._input_count = 0
        self._requests = 0
        self._prompt = 0
        self._completion = 0

    def add(self, planned: PlannedRequest) -> None:
        if planned.input != self._last_input:  # an input's requests come together
            self._last_input = planned.input
            self._input_count += 1
        self._requests += 1
        self._prompt += prompt_tokens(planned.request, self.tokenizer)
        self._completion += planned.answer_tokens

    def estimate(self) -> Estimate:
        return Estimate(self.endpoint, self.model, self.tokenizer.name, self._input_count,
                        self._requests, self._prompt, self._completion, self.price)


def estimate(planned: Iterable[PlannedRequest], *, endpoint: str, model: str | None,
             profile: str | None, price: Price | None) -> Estimate:
    """The :class:`Estimate` of ``planned`` requests on one endpoint."""
    estimator = Estimator(endpoint, model=model, profile=profile, price=price)
    for request in planned:
        estimator.add(request)
    return estimator.estimate()


def dollars(amount: float) -> str:
    """``$12.3400``; below a cent, six decimals (``$0.000570``)."""
    if amount >= 0.01 or amount == 0:
        return f"${amount:,.4f}"
    return f"${amount:.6f}" if amount >= 0.000001 else "< $0.000001"


def estimate_lines(estimates: Iterable[Estimate]) -> list[str]:
    """A dry run's report: one block per endpoint."""
    lines = []
    for e in estimates:
        if e.cost is None:
            cost = f"unknown: no price for {e.model!r} (add it with --price-table)"
        elif e.price is not None and not (e.price.input or e.price.output):
            cost = "$0 (free)"
        else:
            assert e.prompt_cost is not None and e.completion_cost is not None
            cost = (f"{dollars(e.cost)} ({dollars(e.prompt_cost)} prompt + "
                    f"{dollars(e.completion_cost)} completion, counted generously)")
        lines += [
            f"endpoint {e.endpoint}: model {e.model or '?'}, tokens counted with {e.tokenizer}",
            f"  {e.inputs:,} input(s), {e.requests:,} request(s): {e.prompt_tokens:,} prompt "
            f"+ ~{e.completion_tokens:,} completion tokens",
            f"  estimated cost: {cost}",
        ]
    return lines


__all__ = [
    "Estimate",
    "Estimator",
    "PlannedRequest",
    "Tokenizer",
    "answer_tokens",
    "dollars",
    "estimate",
    "estimate_lines",
    "prompt_tokens",
    "tokenizer_for",
]
