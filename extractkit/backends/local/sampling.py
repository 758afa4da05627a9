"""The generation loop: evaluate the prompt, then pick tokens one by one.

:func:`generate` yields text pieces as they are decoded and records in a
:class:`Generation` why it ended. Each token is picked by :class:`Sampler`:
greedy or temperature/top-p, then checked by the grammar (the chosen token
first; the whole vocabulary is masked only when it is refused -- far cheaper
than masking every step) and, with extractive decoding, by the
:class:`~.extractive.ExtractiveConstraint`.
"""

from __future__ import annotations

import codecs
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import SchemaError
from . import ffi
from .copybias import CopyBias
from .extractive import ExtractiveConstraint
from .guards import Degeneration
from .model import LoadedModel
from .prompting import LocalRequest

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Prompt tokens evaluated between two looks at the clock.
PROMPT_BATCH = 64
#: With temperature sampling under the extractive constraint, pick among at
#: most this many allowed tokens (the likeliest ones).
_CONSTRAINED_TOP_K = 40


@dataclass
class Generation:
    text: str = ""
    finish_reason: str = "length"
    completion_tokens: int = 0
    #: generations run for this answer (more than one: a repeated re-ask was retried)
    attempts: int = 0


def generate(
    model: LoadedModel,
    prompt: list[int],
    req: LocalRequest,
    *,
    sampler: Sampler,
    budget: int,
    deadline: float,
    result: Generation,
    cancel: threading.Event | None = None,
) -> Iterator[str]:
    """Yield text pieces; ``result`` holds the whole text and why it ended."""
    llama = model.llama
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    guard = Degeneration()
    tokens: list[int] = []
    emitted = 0  # characters yielded
    hold = max((len(s) for s in req.stop), default=1) - 1  # a stop may be incomplete
    try:
        if not evaluate_prompt(model, prompt, deadline):
            return
        while True:
            token = sampler.pick(ffi.last_logits(llama))
            if ffi.is_end(llama, token):
                result.finish_reason = "stop"
                break
            tokens.append(token)
            piece = decoder.decode(llama.detokenize([token], prev_tokens=prompt + tokens[:-1]))
            result.completion_tokens = len(tokens)
            result.text += piece
            cut = _stop_at(result.text, req.stop)
            if cut is not None:
                result.text = result.text[:cut]
                result.finish_reason = "stop"
                break
            if len(result.text) - hold > emitted:
                yield result.text[emitted : len(result.text) - hold]
                emitted = len(result.text) - hold
            if (
                len(tokens) >= budget
                or time.monotonic() > deadline
                or guard.feed(piece)
                or (cancel is not None and cancel.is_set())
            ):
                break
            llama.eval([token])
    finally:
        sampler.close()
    if len(result.text) > emitted:
        yield result.text[emitted:]


def evaluate_prompt(model: LoadedModel, prompt: list[int], deadline: float) -> bool:
    """Evaluate ``prompt`` in batches, reusing the cached common prefix.

    Returns ``False`` when the deadline passed first (the clock is read
    between batches, so a long prompt cannot outlast the wall-clock guard by
    more than one batch).
    """
    llama = model.llama
    common = 0
    for old, new in zip(ffi.cached_tokens(llama), prompt, strict=False):
        if old != new:
            break
        common += 1
    llama.n_tokens = min(common, len(prompt) - 1)  # re-evaluate at least one token
    for start in range(llama.n_tokens, len(prompt), PROMPT_BATCH):
        if time.monotonic() > deadline:
            return False
        llama.eval(prompt[start : start + PROMPT_BATCH])
    return True


def _stop_at(text: str, stops: tuple[str, ...]) -> int | None:
    found = [text.find(s) for s in stops if s and s in text]
    return min(found) if found else None


class Sampler:
    """Greedy (temperature 0) or temperature/top-p sampling under the constraints.

    ``matcher`` (the JSON grammar), ``constraint`` (extractive decoding) and
    ``bias`` (the copy bias) are each optional; the sampler owns the matcher
    and frees it in :meth:`close`.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        temperature: float,
        top_p: float,
        seed: int,
        matcher: ffi.GrammarMatcher | None = None,
        constraint: ExtractiveConstraint | None = None,
        bias: CopyBias | None = None,
    ) -> None:
        import numpy as np

        self.model = model
        self.temperature = temperature
        self.top_p = top_p
        self.rng = np.random.default_rng(seed)
        self.matcher = matcher
        self.constraint = constraint
        self.bias = bias

    def pick(self, logits: npt.NDArray[np.float32]) -> int:
        if self.bias is not None:
            logits = self.bias.adjust(logits)
        token = self._choose(logits)
        if not self._allowed(token):
            token = self._constrained(logits)
        if self.matcher is not None:
            self.matcher.accept(token)
        if self.constraint is not None:
            self.constraint.accept(token)
        if self.bias is not None:
            self.bias.advance(token)
        return token

    def close(self) -> None:
        if self.matcher is not None:
            self.matcher.close()

    def _allowed(self, token: int) -> bool:
        if self.matcher is not None and not self.matcher.allows(token):
            return False
        return self.constraint is None or self.constraint.allows(token)

    def _constrained(self, logits: npt.NDArray[np.float32]) -> int:
        import numpy as np

        masked = self.matcher.mask(logits) if self.matcher is not None else logits
        if not (masked > -math.inf).any():
            raise SchemaError("the grammar allows no token here (an empty schema?)")
        if self.constraint is None:
            return self._choose(masked)
        firsts = self.constraint.first_bytes()
        if firsts is None:
            candidates = np.flatnonzero(masked > -math.inf)
        else:
            starts = self.model.tokens_by_first_byte()
            candidates = np.concatenate([starts[b] for b in firsts if b in starts] or [[]])
            candidates = candidates.astype(np.int64)
            candidates = candidates[masked[candidates] > -math.inf]
        order = candidates[np.argsort(-masked[candidates], kind="stable")]
        allowed: list[int] = []
        want = 1 if self.temperature <= 0 else _CONSTRAINED_TOP_K
        for token in order:
            if self.constraint.allows(int(token)):
                allowed.append(int(token))
                if len(allowed) >= want:
                    break
        if not allowed:  # the grammar and the documents disagree: the grammar wins
            return self._choose(masked)
        if len(allowed) == 1:
            return allowed[0]
        sub = np.asarray(masked[allowed], dtype=np.float32)
        return allowed[self._choose(sub)]

    def _choose(self, logits: npt.NDArray[np.float32]) -> int:
        import numpy as np

        if self.temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / self.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        if self.top_p < 1.0:
            order = np.argsort(-probs)
            keep = np.cumsum(probs[order]) - probs[order] < self.top_p
            kept = order[keep]
            return int(self.rng.choice(kept, p=probs[kept] / probs[kept].sum()))
        return int(self.rng.choice(len(probs), p=probs))


__all__ = ["PROMPT_BATCH", "Generation", "Sampler", "evaluate_prompt", "generate"]
