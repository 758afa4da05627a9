"""An eval run with the embedded model, plus the eval's hostile sizes.

Usage::

    python bench/eval_run.py [--data DATA.jsonl --schema SCHEMA.py] [--limit N] [--json FILE]
                             [--sizes-only]

1. **Quality**: ``extractkit eval`` on a labelled set with the embedded local
   model (SmolLM2-135M), printing the report (per field P/R/F1, per document,
   tokens, time), so numbers are comparable across versions. The default set
   is ``bench/data/messages.jsonl`` + ``messages.py`` when present, else
   ``bench/data/eval_small.jsonl`` + ``eval_small.py`` (twelve order messages
   written for this bench).
2. **Sizes**: scoring stays linear in the input. Lists of n items (shuffled,
   so alignment has work to do) are compared at n = 1,000 / 10,000 / 100,000
   and the time per item is printed side by side with its ratio to the smallest
   run; the review page is built for 1,000 documents and for one 300-page
   document. (Item alignment builds a similarity matrix only up to
   ``assign.MAX_CELLS`` cells; beyond, equal items pair by hashing and the rest
   by position.)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractkit.eval import Comparer, EvalReport  # noqa: E402
from extractkit.eval.assign import MAX_CELLS  # noqa: E402
from extractkit.eval.dataset import load_dataset  # noqa: E402
from extractkit.eval.run import run_examples, score_records  # noqa: E402
from extractkit.review.page import build_page, page_document  # noqa: E402

DATA = ROOT / "bench" / "data"


def default_set() -> tuple[Path, Path]:
    if (DATA / "messages.jsonl").exists() and (DATA / "messages.py").exists():
        return DATA / "messages.jsonl", DATA / "messages.py"
    return DATA / "eval_small.jsonl", DATA / "eval_small.py"


def quality(data: Path, schema_file: Path, limit: int | None, json_out: str | None) -> EvalReport:
    from extractkit.cli import Runner
    from extractkit.loading import load_target

    examples = load_dataset(data)[:limit] if limit else load_dataset(data)
    target = load_target(str(schema_file))
    runner = Runner(target, {"local": True})
    schema = target.function.schema if target.function is not None else target.schema
    started = time.perf_counter()
    records = list(run_examples(runner.map, examples, concurrency=1))
    wall = time.perf_counter() - started
    report = score_records(schema, examples, records, model=runner.settings.resolved_model(),
                           local=True)
    print(f"== eval: {data.name} with the embedded model ({len(examples)} examples, "
          f"{wall:.1f} s wall)")
    report.print()
    if json_out:
        report.write_json(json_out)
    return report


def _items(n: int, rng: random.Random) -> list[dict]:
    return [{"sku": f"SKU-{i}", "qty": i % 7} for i in range(n)]


def sizes() -> None:
    rng = random.Random(7)
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}}}}
    comparer = Comparer(schema)
    print("== sizes: comparing a list of n items with a shuffled copy (10% changed)")
    base: float | None = None
    for n in (1_000, 10_000, 100_000):
        expected = {"items": _items(n, rng)}
        actual_items = [dict(item) for item in expected["items"]]
        for item in rng.sample(actual_items, n // 10):
            item["qty"] += 1
        rng.shuffle(actual_items)
        started = time.perf_counter()
        outcomes = comparer.compare(expected, {"items": actual_items})
        took = time.perf_counter() - started
        per_item = took / n * 1e6
        base = base or per_item
        right = sum(1 for o in outcomes if o.status == "correct")
        print(f"  n={n:>7,}: {took * 1000:8.1f} ms, {per_item:6.2f} µs/item "
              f"(x{per_item / base:.2f} of n=1,000); correct leaves {right:,} of {2 * n:,}")
    side = int(MAX_CELLS ** 0.5)
    expected = {"items": [{"sku": f"A{i}", "qty": i} for i in range(side)]}
    actual = {"items": [{"sku": f"A{i}", "qty": i + 1} for i in reversed(range(side))]}
    started = time.perf_counter()
    outcomes = comparer.compare(expected, actual)
    took = time.perf_counter() - started
    print(f"  optimal assignment at the matrix limit ({side}x{side}, no equal items): "
          f"{took * 1000:.0f} ms; skus paired right: "
          f"{sum(1 for o in outcomes if o.field.endswith('sku') and o.status == 'correct')}"
          f"/{side}")
    print("== sizes: building the review page")
    docs = [page_document({"input": f"d{i}", "ok": True, "value": {"name": "Ann"},
                           "grounding": {"/name": {"value": "Ann", "status": "exact",
                                                   "score": 1.0,
                                                   "spans": [{"start": 5, "end": 8}]}}},
                          f"Call Ann at noon, note {i}. " * 20) for i in range(1_000)]
    started = time.perf_counter()
    page = build_page(docs)
    print(f"  1,000 documents: {(time.perf_counter() - started) * 1000:.0f} ms, "
          f"{len(page) / 1e6:.1f} MB")
    text = ("lorem ipsum dolor sit amet " * 110 + "\n") * 300
    spans = [{"start": i, "end": i + 5} for i in range(0, len(text) - 5, 3_000)]
    big = page_document({"input": "report", "ok": True, "value": {"words": ["lorem"] * len(spans)},
                         "grounding": {f"/words/{k}": {"value": "lorem", "status": "exact",
                                                       "score": 1.0, "spans": [s]}
                                       for k, s in enumerate(spans)}}, text)
    started = time.perf_counter()
    page = build_page([big])
    print(f"  one 300-page document ({len(text):,} characters, {len(spans)} spans): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms, {len(page) / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data, schema = default_set()
    parser.add_argument("--data", type=Path, default=data)
    parser.add_argument("--schema", type=Path, default=schema)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the eval report here")
    parser.add_argument("--sizes-only", action="store_true")
    args = parser.parse_args()
    sizes()
    if not args.sizes_only:
        quality(args.data, args.schema, args.limit, args.json)


if __name__ == "__main__":
    main()
