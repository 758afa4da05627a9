"""Long-document overhead per MB: a 1 MB and a 10 MB document through a scripted endpoint.

A loopback :class:`tests.scripted_server.ScriptedServer` answers each chunk
with what the chunk says (``tests/document_reader.py``: ``Party:`` lines
become list items, ``Governing law:`` a scalar), so the merged value grows
with the document: one party every ~2 KB, i.e. ~5,000 list items at 10 MB.
Both sizes run in this one process, alternating for ``--rounds`` rounds
(each size's best round is kept: the machine is shared), after a warm-up,
and the report compares them per MB:

* ``chunk``: cutting the text into chunks (``chunk_text``);
* ``ground``: aligning every chunk's value to its chunk text;
* ``merge``: merging every chunk's value by schema (``merge_parts``);
* ``total``: the whole ``Extractor.extract_result`` wall time, HTTP included.

Budget: seconds per MB of chunk+ground+merge at 10 MB within 1.3x of 1 MB;
peak traced memory (``tracemalloc``) per MB of document flat (within 1.3x).

    python bench/longdoc_scaling.py [--sizes 1,10] [--chunk-tokens 3000]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from extractkit import Extractor  # noqa: E402
from extractkit.documents import run as run_module  # noqa: E402
from tests.document_reader import filler, reader_reply  # noqa: E402
from tests.scripted_server import ScriptedServer  # noqa: E402

MB = 1_000_000


class Contract(BaseModel):
    parties: list[str] = []
    jurisdiction: str | None = None
    term_years: int | None = None


def document(size: int) -> str:
    block = filler(300)
    parts: list[str] = []
    total, i = 0, 0
    while total < size:
        piece = f"Party: Company {i} Ltd\n\n{block}\n\n"
        if i % 50 == 7:
            piece += f"Governing law: State {i}\n\n"
        parts.append(piece)
        total += len(piece)
        i += 1
    return "".join(parts)[:size]


_timings: dict[str, float] = defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _timings[name] += time.perf_counter() - started

    return wrapper


def _instrument() -> None:
    run_module.chunk_text = _timed("chunk", run_module.chunk_text)  # type: ignore[assignment]
    run_module.merge_parts = _timed("merge", run_module.merge_parts)  # type: ignore[assignment]
    run_module.ground_value = _timed("ground", run_module.ground_value)  # type: ignore[assignment]


def measure(ex: Extractor, size: int) -> dict[str, float]:
    """Timings from one run, peak memory from a second one (tracing slows allocation)."""
    text = document(size)
    _timings.clear()
    started = time.perf_counter()
    result = ex.extract_result(Contract, text)
    total = time.perf_counter() - started
    assert not result.failed_chunks, result.failed_chunks[:3]
    timings = dict(_timings)
    chunks, items = result.chunk_count, len(result.value.parties)
    del result
    tracemalloc.start()
    ex.extract_result(Contract, text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mb = size / MB
    return {
        "mb": mb, "chunks": chunks, "items": items,
        "chunk": timings["chunk"] / mb, "ground": timings["ground"] / mb,
        "merge": timings["merge"] / mb,
        "overhead": (timings["chunk"] + timings["ground"] + timings["merge"]) / mb,
        "total": total / mb, "peak_mb_per_mb": peak / MB / mb,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10", help="document sizes in MB")
    ap.add_argument("--chunk-tokens", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2,
                    help="sizes alternate this many times; each size's best round is kept")
    args = ap.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    _instrument()
    with ScriptedServer(default=reader_reply) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        ex = Extractor(client=client, model="m", chunk_tokens=args.chunk_tokens)
        measure(ex, 100_000)  # warm up: schema compile, templates, tokenizer
        best: dict[float, dict[str, float]] = {}
        for _ in range(args.rounds):
            for size in sizes:
                row = measure(ex, int(size * MB))
                kept = best.setdefault(size, row)
                for key in ("chunk", "ground", "merge", "overhead", "total", "peak_mb_per_mb"):
                    kept[key] = min(kept[key], row[key])
        rows = [best[s] for s in sizes]
    print(f"{'MB':>5} {'chunks':>6} {'items':>6} {'chunk s/MB':>10} {'ground s/MB':>11} "
          f"{'merge s/MB':>10} {'overhead s/MB':>13} {'total s/MB':>10} {'peak MB/MB':>10}")
    for r in rows:
        print(f"{r['mb']:5.1f} {r['chunks']:6.0f} {r['items']:6.0f} {r['chunk']:10.4f} "
              f"{r['ground']:11.4f} {r['merge']:10.4f} {r['overhead']:13.4f} {r['total']:10.3f} "
              f"{r['peak_mb_per_mb']:10.2f}")
    small, big = rows[0], rows[-1]
    print(f"overhead per MB, {big['mb']:.0f} MB / {small['mb']:.0f} MB: "
          f"{big['overhead'] / small['overhead']:.2f}x (budget <= 1.3x); total per MB: "
          f"{big['total'] / small['total']:.2f}x; peak memory per MB: "
          f"{big['peak_mb_per_mb'] / small['peak_mb_per_mb']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
