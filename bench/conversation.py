"""Conversations and moderation at hostile sizes: time per turn (or per string) stays flat.

Measured side by side in one run, at 1k, 10k and 100k turns of ~200 characters:

* ``check``: :func:`extractkit.conversation.check_messages` (roles, content);
* ``fit``: :func:`extractkit.conversation.fit_turns` with a budget that keeps
  about a tenth of the turns (the newest), counting with the 4-characters
  estimate;
* ``text``: :func:`extractkit.conversation.conversation_text` (the grounding document);
* ``screen``: :meth:`extractkit.moderation.Moderator.output_check` over a value
  holding as many strings (the leaves walk, no I/O).

Each is the best of ``--rounds``. ``ratio`` is the cost per item at 100k over
the cost per item at 1k; ``/copy`` divides it by the same ratio of a baseline
that is linear by construction (``copy``: a dict copy per turn), which takes
out what the machine adds at large sizes (caches, memory). 1.0 = linear;
quadratic work would be about 100. The garbage collector is off while a step
is timed. On a busy machine the numbers are noisy: raise ``--rounds``.

    python bench/conversation.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from extractkit.conversation import check_messages, conversation_text, fit_turns
from extractkit.documents.tokens import estimate_tokens
from extractkit.moderation import Moderator
from extractkit.schema import get_source

SIZES = (1_000, 10_000, 100_000)


class Notes(BaseModel):
    lines: list[str]


def _turns(n: int) -> list[dict[str, Any]]:
    roles = ("user", "assistant")
    return [{"role": roles[i % 2], "content": f"turn {i}: " + "lorem ipsum " * 16}
            for i in range(n)]


def _best(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    gc.collect()
    gc.disable()  # a collection landing in one round is noise, not the step's cost
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    moderator = Moderator(input=True, output=True, model="m", create=print)
    source = get_source(Notes)
    per_item: dict[str, list[float]] = {
        "copy": [], "check": [], "fit": [], "text": [], "screen": []}
    for n in SIZES:
        turns = _turns(n)
        budget = n * 55 // 10  # ~10 % of the turns (each ~50 tokens + 4)
        value = Notes(lines=[t["content"] for t in turns])
        runs = {
            "copy": lambda turns=turns: [dict(t) for t in turns],
            "check": lambda turns=turns: check_messages(turns),
            "fit": lambda turns=turns, budget=budget: fit_turns(
                [], turns, [], budget=budget, count=estimate_tokens),
            "text": lambda turns=turns: conversation_text(turns),
            "screen": lambda value=value: moderator.output_check(source, value),
        }
        for name, fn in runs.items():
            per_item[name].append(_best(fn, args.rounds) / n)
    print(f"{'step':<8}" + "".join(f"{n:>14,}" for n in SIZES) + f"{'ratio':>8}{'/copy':>8}")
    base = per_item["copy"][-1] / per_item["copy"][0]
    worst = 0.0
    for name, costs in per_item.items():
        ratio = costs[-1] / costs[0]
        if name != "copy":
            worst = max(worst, ratio / base)
        cells = "".join(f"{c * 1e6:>11.2f} us" for c in costs)
        print(f"{name:<8}{cells}{ratio:>8.2f}{ratio / base:>8.2f}")
    print(f"worst per-item ratio {SIZES[-1]:,} vs {SIZES[0]:,}, over the copy baseline's: "
          f"{worst:.2f} (1.0 = linear; quadratic work would be about 100)")


if __name__ == "__main__":
    main()
