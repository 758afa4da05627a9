"""Long-document overhead per MB: 1 MB and 10 MB documents through a scripted endpoint.

A loopback :class:`tests.scripted_server.ScriptedServer` answers each chunk
with what the chunk says (``tests/document_reader.py``: ``Party:`` lines
become list items, ``Governing law:`` a scalar), so the merged value grows
with the document. Three documents (``--cases``):

* ``contract``: a party every ~2 KB, prose paragraphs between them (about
  5,000 list items at 10 MB), a governing-law line every 50 parties;
* ``nobreaks``: words and single spaces only -- no paragraph, sentence or
  line break anywhere (chunks end at word boundaries);
* ``nospaces``: letters only, no space or punctuation at all (chunks are runs of
  characters; BPE tokenizers take superlinear time over one such "word");
* ``repeats``: the same party line, 100 characters apart (100,000 times at
  10 MB): every list item has one normalized value.

Each is read as a paged :class:`~extractkit.documents.Document` (a page every
3,000 characters, like a PDF's), so spans are mapped to pages too. Tokens are
counted with the chars/4 estimate (``--tokenizer estimate``, the default) or
tiktoken o200k_base (``--tokenizer tiktoken``: the endpoint's model is then
called ``gpt-4o``; loaded offline from bpe-openai).

Both sizes of a case run in this one process, alternating for ``--rounds``
rounds after a warm-up. Each phase is timed in CPU seconds of the thread
that runs it (``time.thread_time``: other processes' load does not count),
exclusive of the other phases, and its best round is kept (noise on a shared
machine only adds time; the median round is shown too):

* ``plan``: deciding to chunk (``plan_document``: the prompt rendered, tokens counted);
* ``chunk``: cutting the text into chunks (``chunk_text``, tokenizer included);
* ``ground``: aligning each chunk's value to its chunk text (``GroundingCheck.ground``);
* ``map``: each chunk's value and spans into document coordinates (``ChunkedRun._part``);
* ``merge``: merging every chunk's value by schema (``merge_parts``);
* ``gc``: the interpreter's garbage collections, wherever they interrupt (reported
  apart: a full collection comes when the whole heap has grown by a quarter, so
  which run and phase it lands in is a step, not a property of that phase);
* ``total``: the whole ``Extractor.extract_result`` wall time, HTTP included.

The server keeps no record of the requests (a test's server does): its
memory is not the library's. Peak traced memory (``tracemalloc``, one extra
run per size; tracing slows allocation) is reported per MB of document.
Budget: the per-MB time of plan, chunk, ground, map and merge at 10 MB within
1.3x of that at 1 MB, and peak memory per MB within 1.3x.

    python bench/longdoc_scaling.py [--sizes 1,10] [--rounds 3] [--cases contract,repeats]
                                    [--tokenizer estimate|tiktoken]
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import sys
import threading
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
from extractkit.documents import Document, Page  # noqa: E402
from extractkit.documents import run as run_module  # noqa: E402
from extractkit.grounding.check import GroundingCheck  # noqa: E402
from tests.document_reader import filler, reader_reply  # noqa: E402
from tests.scripted_server import ScriptedServer  # noqa: E402

MB = 1_000_000
PAGE = 3000
BUDGET = 1.3
PHASES = ("plan", "chunk", "ground", "map", "merge")
KEYS = (*PHASES, "gc", "overhead", "total")


class Contract(BaseModel):
    parties: list[str] = []
    jurisdiction: str | None = None
    term_years: int | None = None


def contract(size: int) -> str:
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


def nobreaks(size: int) -> str:
    words = filler(60).replace(".", "").split()
    line = " ".join(words) + " "
    return (line * (size // len(line) + 1))[:size]


def nospaces(size: int) -> str:
    letters = "thepartiesagreetothetermsbelowandshallkeepthemconfidential"
    return (letters * (size // len(letters) + 1))[:size]


def repeats(size: int) -> str:
    piece = "Party: Acme Holdings Ltd\n\n" + "The parties agree to the terms below. " * 2 + "\n\n"
    piece = piece[:98] + "\n\n" if len(piece) > 100 else piece.ljust(98) + "\n\n"
    return (piece * (size // len(piece) + 1))[:size]


CASES: dict[str, Callable[[int], str]] = {
    "contract": contract, "nobreaks": nobreaks, "nospaces": nospaces, "repeats": repeats,
}


class _Unrecorded(ScriptedServer):
    """The scripted server, keeping no record of the requests it answers (the
    record is the test harness's memory, not the library's)."""

    def _record(self, request: Any) -> None:
        pass


def paged(text: str) -> Document:
    pages = tuple(Page(n + 1, start, min(start + PAGE, len(text)))
                  for n, start in enumerate(range(0, len(text), PAGE)))
    return Document(text, kind="pdf", pages=pages)

# -- exclusive phase timers -----------------------------------------------------------

_timings: dict[str, float] = defaultdict(float)
_lock = threading.Lock()
_local = threading.local()


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, its CPU time (of the calling thread: other processes' load does not
    count) added to phase ``name``, minus that of timed calls and collections inside it."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = getattr(_local, "inner", 0.0)
        _local.inner = 0.0
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            elapsed = time.thread_time() - started
            with _lock:
                _timings[name] += elapsed - _local.inner
            _local.inner = outer + elapsed

    return wrapper


def _on_gc(phase: str, info: dict[str, int]) -> None:
    """Garbage collections are a phase of their own (``gc``), taken out of the phase they
    interrupt: when one comes depends on the whole heap, not on the phase."""
    if phase == "start":
        _local.gc_started = time.thread_time()
        return
    elapsed = time.thread_time() - getattr(_local, "gc_started", time.thread_time())
    with _lock:
        _timings["gc"] += elapsed
    _local.inner = getattr(_local, "inner", 0.0) + elapsed


def _instrument() -> None:
    run_module.plan_document = _timed("plan", run_module.plan_document)  # type: ignore[assignment]
    run_module.chunk_text = _timed("chunk", run_module.chunk_text)  # type: ignore[assignment]
    run_module.merge_parts = _timed("merge", run_module.merge_parts)  # type: ignore[assignment]
    run_module.ground_value = _timed("ground", run_module.ground_value)  # type: ignore[assignment]
    GroundingCheck.ground = _timed("ground", GroundingCheck.ground)  # type: ignore[method-assign]
    run_module.ChunkedRun._part = _timed(  # type: ignore[method-assign]
        "map", run_module.ChunkedRun._part)
    gc.callbacks.append(_on_gc)


def timed_run(ex: Extractor, text: Document) -> dict[str, float]:
    _timings.clear()
    started = time.perf_counter()
    result = ex.extract_result(Contract, text)
    total = time.perf_counter() - started
    assert not result.failed_chunks, result.failed_chunks[:3]
    row = {phase: _timings.get(phase, 0.0) for phase in (*PHASES, "gc")}
    row["overhead"] = sum(row[p] for p in PHASES)
    row["total"] = total
    row["chunks"] = result.chunk_count
    row["items"] = len(result.value.parties)
    return row


def peak_memory(ex: Extractor, text: Document) -> int:
    tracemalloc.start()
    try:
        ex.extract_result(Contract, text)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_case(ex: Extractor, name: str, sizes: list[float], rounds: int) -> bool:
    make = CASES[name]
    texts = {s: paged(make(int(s * MB))) for s in sizes}
    timed_run(ex, paged(make(100_000)))  # warm up: schema compile, templates, tokenizer
    runs: dict[float, list[dict[str, float]]] = {s: [] for s in sizes}
    for _ in range(rounds):
        for size in sizes:
            runs[size].append(timed_run(ex, texts[size]))
    peaks = {s: peak_memory(ex, texts[s]) / MB / s for s in sizes}
    keys = KEYS

    def per_mb(size: float, pick: Callable[[list[float]], float]) -> dict[str, float]:
        return {k: pick([r[k] for r in runs[size]]) / size for k in keys}

    median = {s: per_mb(s, statistics.median) for s in sizes}
    best = {s: per_mb(s, min) for s in sizes}
    print(f"\n{name}: {rounds} rounds; seconds per MB (CPU; total: wall), best round")
    print(f"{'MB':>5} {'chunks':>6} {'items':>6} " + " ".join(f"{k:>8}" for k in keys)
          + f" {'peak MB/MB':>10}")
    for s in sizes:
        r0 = runs[s][0]
        cells = " ".join(f"{best[s][k]:8.4f}" for k in keys)
        print(f"{s:5.1f} {r0['chunks']:6.0f} {r0['items']:6.0f} {cells} {peaks[s]:10.2f}")
    small, big = sizes[0], sizes[-1]
    ok = True
    growth = []
    for k in keys:
        ratio_best = best[big][k] / best[small][k] if best[small][k] else float("nan")
        ratio = median[big][k] / median[small][k] if median[small][k] else float("nan")
        if k in (*PHASES, "overhead") and ratio_best > BUDGET:
            ok = False
        growth.append(f"{k} {ratio_best:.2f}x ({ratio:.2f}x)")
    memory = peaks[big] / peaks[small]
    ok = ok and memory <= BUDGET
    print(f"per-MB growth {big:g} MB / {small:g} MB, best (median) round: " + ", ".join(growth)
          + f"; peak memory per MB {memory:.2f}x -- budget <= {BUDGET}x for plan, chunk, "
          + "ground, map, merge and memory: " + ("met" if ok else "NOT met"))
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10", help="document sizes in MB, smallest first")
    ap.add_argument("--chunk-tokens", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3,
                    help="sizes alternate this many times; each phase's best round is kept")
    ap.add_argument("--cases", default=",".join(CASES), help=f"any of {', '.join(CASES)}")
    ap.add_argument("--tokenizer", choices=("estimate", "tiktoken"), default="estimate")
    args = ap.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    _instrument()
    results = []
    with _Unrecorded(default=reader_reply) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        model = "gpt-4o" if args.tokenizer == "tiktoken" else "m"
        ex = Extractor(client=client, model=model, chunk_tokens=args.chunk_tokens)
        for case in cases:
            results.append(run_case(ex, case, sizes, args.rounds))
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
