"""Chunking scales linearly: time and memory per MB of text at 1 MB and 10 MB, in one run.

A synthetic document (seeded, so the same on every run) mixes what long
documents hold: prose paragraphs, Markdown tables, bullet lists, CJK text
without spaces, and a few very long "words" (base64 blobs). It is chunked
with :func:`extractkit.documents.chunk_text` at 1 MB and at 10 MB, with the
chars/4 estimate (``--tokenizer estimate``, default) or tiktoken o200k_base
(``--tokenizer tiktoken``, loaded offline from bpe-openai).

Reported per size: seconds per MB (best of ``--rounds``), how many times
``count_tokens`` was called and on how many characters in all (each
character once means no re-counting), the chunk count, and the traced peak
memory (tracemalloc, a separate round) per MB of text, including the chunks'
own copies of their text. A second, hostile case is one 1 MB / 10 MB "word"
with no space or punctuation (it falls back to runs of characters). Budget
for each case: per-MB time at 10 MB within 1.3x of that at 1 MB, and peak
memory per MB flat (within 1.3x).

    python bench/chunking.py [--tokenizer estimate|tiktoken] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    from extractkit.documents import chunk_text, token_counter
except ImportError:  # a checkout that is not installed
    sys.path.insert(0, str(ROOT))
    from extractkit.documents import chunk_text, token_counter

MB = 1_000_000
CHUNK_TOKENS = 1000
OVERLAP_TOKENS = 100
BUDGET = 1.3

_WORDS = [
    "agreement", "party", "confidential", "information", "shall", "disclose", "recipient",
    "term", "governed", "laws", "state", "effective", "date", "obligations", "written",
    "notice", "purpose", "termination", "remedies", "injunctive", "relief", "affiliates",
]
_CJK = "本契約は東京都の法律に準拠し当事者は秘密情報を第三者に開示しないものとする"


def synthetic_text(size: int, seed: int = 13) -> str:
    """About ``size`` characters of mixed document text."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.70:
            block = " ".join(
                " ".join(rng.choices(_WORDS, k=rng.randint(6, 30))).capitalize() + "."
                for _ in range(rng.randint(1, 8))
            )
        elif kind < 0.80:
            rows = [f"| {rng.choice(_WORDS)} | {rng.randint(1, 10**6)} | {rng.choice(_WORDS)} |"
                    for _ in range(rng.randint(3, 40))]
            block = "\n".join(["| item | amount | note |", "|---|---|---|", *rows])
        elif kind < 0.90:
            block = "\n".join(f"- {' '.join(rng.choices(_WORDS, k=rng.randint(3, 12)))}"
                              for _ in range(rng.randint(2, 15)))
        elif kind < 0.99:
            block = "。".join(
                "".join(rng.choices(_CJK, k=rng.randint(10, 60))) for _ in range(rng.randint(1, 6))
            ) + "。"
        else:
            block = "data:" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/",
                                                  k=rng.randint(2_000, 20_000)))
        parts.append(block)
        total += len(block) + 2
    return "\n\n".join(parts)


def spaceless_text(size: int, seed: int = 13) -> str:
    """Hostile: ``size`` characters of one "word", no space, no punctuation."""
    rng = random.Random(seed)
    return "".join(rng.choices("abcdefghij契約", k=size))


CASES = {"mixed": synthetic_text, "no spaces": spaceless_text}


def _counting(count: Callable[[str], int]) -> tuple[Callable[[str], int], list[int]]:
    tally = [0, 0]  # calls, characters

    def wrapped(text: str) -> int:
        tally[0] += 1
        tally[1] += len(text)
        return count(text)

    return wrapped, tally


def measure(text: str, count: Callable[[str], int], rounds: int) -> dict[str, float]:
    best = float("inf")
    chunks = 0
    calls = chars = 0
    for _ in range(rounds):
        wrapped, tally = _counting(count)
        start = time.perf_counter()
        result = chunk_text(text, chunk_tokens=CHUNK_TOKENS, overlap_tokens=OVERLAP_TOKENS,
                            count_tokens=wrapped)
        best = min(best, time.perf_counter() - start)
        chunks, (calls, chars) = len(result), tally
        del result
    tracemalloc.start()
    result = chunk_text(text, chunk_tokens=CHUNK_TOKENS, overlap_tokens=OVERLAP_TOKENS,
                        count_tokens=count)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    megabytes = len(text) / MB
    return {
        "s_per_mb": best / megabytes,
        "peak_mb_per_mb": peak / MB / megabytes,
        "chunks": chunks,
        "calls": calls,
        "counted_share": chars / len(text),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", choices=("estimate", "tiktoken"), default="estimate")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    count = token_counter("gpt-4o" if args.tokenizer == "tiktoken" else None, None)
    print(f"tokenizer: {args.tokenizer}; chunk_tokens={CHUNK_TOKENS}, overlap={OVERLAP_TOKENS}")
    chunk_text(synthetic_text(50_000), chunk_tokens=CHUNK_TOKENS, count_tokens=count)  # warm up
    ok = True
    for case, make in CASES.items():
        rows = {}
        for size in (1 * MB, 10 * MB):
            text = make(size)
            rows[size] = row = measure(text, count, args.rounds)
            print(f"{case:>9} {len(text) / MB:5.1f} MB: {row['s_per_mb']:.3f} s/MB, "
                  f"peak {row['peak_mb_per_mb']:.2f} MB/MB, {row['chunks']:.0f} chunks, "
                  f"{row['calls']:.0f} count calls over {row['counted_share']:.3f}x the text")
        time_ratio = rows[10 * MB]["s_per_mb"] / rows[MB]["s_per_mb"]
        memory_ratio = rows[10 * MB]["peak_mb_per_mb"] / rows[MB]["peak_mb_per_mb"]
        within = time_ratio <= BUDGET and memory_ratio <= BUDGET
        ok = ok and within
        print(f"{case:>9} 10 MB / 1 MB per-MB ratios: time {time_ratio:.2f}x, peak memory "
              f"{memory_ratio:.2f}x (budget {BUDGET}x): {'ok' if within else 'OVER BUDGET'}")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
