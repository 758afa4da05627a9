"""Local repair stays linear on hostile answers: per-KB cost at a small and a large size.

Each case is a pathological reply (runs of code-fence markers with no newline,
``[}`` runs, deep nesting, unclosed braces, long number lists, fences on one
line with JSON inside, prose before JSON). ``parse_reply`` runs on the small and
the large size in the same process, best of ``--repeat``; the script prints the
per-KB time at both sizes and their ratio (1.0 = perfectly linear; a
quadratic path shows about 16x at the default sizes, since the large input is
16 times the small one). Budget: every ratio at most 2.0 -- caches make large
inputs a little dearer per KB, and the machine is shared.

    python bench/repair_scaling.py [--small 32] [--large 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractkit.repair import parse_reply

BUDGET = 2.0

CASES: dict[str, Callable[[int], str]] = {
    "fence markers, no newline": lambda n: "```" * (n // 3),
    "fences each on a line": lambda n: "```\n" * (n // 4),
    "[} runs": lambda n: "[}" * (n // 2),
    "deep nesting": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "unclosed braces": lambda n: "{" * n,
    "number list, trailing comma": lambda n: "[" + "1," * (n // 2) + "]",
    "prose then JSON": lambda n: "word " * (n // 5) + '{"a": 1}',
    "fenced JSON on one line": lambda n: '```json {"a": "' + "x" * (n - 20) + '"} ```',
}


def _once(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_reply(text)


def _seconds(text: str, repeat: int) -> float:
    """Best per-call time; fast cases are looped for at least 50 ms per sample."""
    start = time.perf_counter()
    _once(text)
    loops = max(1, int(0.05 / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            _once(text)
        best = min(best, (time.perf_counter() - start) / loops)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=32, help="KB")
    parser.add_argument("--large", type=int, default=512, help="KB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"parse_reply per-KB cost, {args.small} KB vs {args.large} KB (best of {args.repeat})")
    worst = 0.0
    for name, make in CASES.items():
        small = _seconds(make(args.small * 1024), args.repeat) / args.small
        large = _seconds(make(args.large * 1024), args.repeat) / args.large
        ratio = large / small if small > 0 else 1.0
        worst = max(worst, ratio)
        print(f"  {name:30s} {small * 1e6:9.1f} us/KB  {large * 1e6:9.1f} us/KB  "
              f"growth {ratio:4.2f}x")
    verdict = "within" if worst <= BUDGET else "OVER"
    print(f"worst growth {worst:.2f}x ({verdict} the {BUDGET}x budget)")
    return 0 if worst <= BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
