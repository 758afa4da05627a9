"""The dry-run estimate against what a run really spends, and what the cost machinery costs.

Three measurements, side by side in one run:

1. **Accuracy** on the embedded model (the one endpoint that reports real usage
   offline): for each example input of ``schemas/``, the dry run's prompt and
   completion tokens of the first request against the usage of the first
   attempt of a real extraction. Prints estimate / actual per input and the
   median ratio. (``--skip-local`` leaves it out.)
2. **Linearity** of the dry run: ``Estimator`` over N and 10 N rendered
   requests; prints the time per request of both and their ratio (≈ 1: constant
   work per request, constant memory).
3. **Overhead** of a spending limit in ``map``: the same batch over the
   ``TestModel`` double with and without ``max_tokens_total`` (a limit never
   reached); prints the ratio of the times.

    python bench/cost.py [--requests 1000] [--skip-local]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractkit import Extractor
from extractkit.estimate import Estimator, PlannedRequest, answer_tokens
from extractkit.loading import load_target
from extractkit.testing import TestModel

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [  # (schema, input)
    ("schemas/person.py", "schemas/inputs/person.txt"),
    ("schemas/invoice.py", "schemas/inputs/invoice.txt"),
    ("schemas/events.py", "schemas/inputs/events.txt"),
    ("schemas/contact.json", "schemas/inputs/contact.txt"),
]


def _schema(target: object) -> object:
    function = getattr(target, "function", None)
    return function.schema if function is not None else target.schema  # type: ignore[attr-defined]


def accuracy() -> None:
    print("1. estimate / actual, embedded model, first request of each input")
    ex = Extractor(local=True)
    engine = ex._engine
    ratios_prompt, ratios_completion = [], []
    for schema_file, input_file in EXAMPLES:
        spec = _schema(load_target(str(ROOT / schema_file)))
        text = (ROOT / input_file).read_text(encoding="utf-8")
        request = ex.render(spec, text)
        json_schema = engine.plan(spec).compiled.source.json_schema
        estimator = Estimator("local", model=engine.model, profile="local", price=None)
        estimator.add(PlannedRequest(input_file, request, answer_tokens(json_schema)))
        estimate = estimator.estimate()
        try:
            attempts = ex.extract_result(spec, text).attempts
        except Exception as exc:  # a failed extraction still spent its first attempt
            attempts = getattr(exc, "attempts", None) or []
        if not attempts:
            print(f"   {input_file}: no attempt")
            continue
        used = attempts[0].usage
        rp = estimate.prompt_tokens / used.prompt_tokens
        rc = estimate.completion_tokens / max(1, used.completion_tokens)
        ratios_prompt.append(rp)
        ratios_completion.append(rc)
        print(f"   {input_file:30} prompt {estimate.prompt_tokens:5} est / "
              f"{used.prompt_tokens:5} actual = {rp:.2f}   completion ~{estimate.completion_tokens:4}"
              f" est / {used.completion_tokens:4} actual = {rc:.2f}")
    if ratios_prompt:
        print(f"   median ratio: prompt {statistics.median(ratios_prompt):.2f}, "
              f"completion {statistics.median(ratios_completion):.2f}")


def _timed_estimate(ex: Extractor, texts: list[str]) -> float:
    schema = _schema(load_target(str(ROOT / "schemas/invoice.py")))
    expected = answer_tokens(ex._engine.plan(schema).compiled.source.json_schema)
    estimator = Estimator("openai", model="gpt-4o-mini", profile="openai", price=None)
    started = time.perf_counter()
    for i, text in enumerate(texts):
        estimator.add(PlannedRequest(str(i), ex.render(schema, text), expected))
    return (time.perf_counter() - started) / len(texts)


def linearity(requests: int) -> None:
    print(f"2. dry run (render + count), time per request at {requests:,} and "
          f"{10 * requests:,} requests")
    ex = Extractor(TestModel(), model="gpt-4o-mini", endpoint="openai")
    text = (ROOT / "schemas/inputs/invoice.txt").read_text(encoding="utf-8")
    texts = [f"{text} #{i}" for i in range(10 * requests)]
    _timed_estimate(ex, texts[:50])  # warm: plans, templates, the tokenizer
    small = _timed_estimate(ex, texts[:requests])
    large = _timed_estimate(ex, texts)
    print(f"   {small * 1e6:.0f} µs vs {large * 1e6:.0f} µs per request: ratio {large / small:.2f}")


def overhead(requests: int) -> None:
    print(f"3. map over {requests:,} inputs (TestModel, concurrency 8): with / without a "
          "spending limit")
    schema = _schema(load_target(str(ROOT / "schemas/person.py")))
    texts = [f"Person {i} is {i} years old." for i in range(requests)]

    def run(**limit: int) -> float:
        ex = Extractor(TestModel(), model="gpt-4o-mini")
        started = time.perf_counter()
        count = sum(1 for _ in ex.map(schema, texts, concurrency=8, **limit))
        assert count == requests
        return time.perf_counter() - started

    run()  # warm
    plain, limited = [], []
    for _ in range(9):  # interleaved: a busy machine slows both alike
        plain.append(run())
        limited.append(run(max_tokens_total=10**12))
    a, b = statistics.median(plain), statistics.median(limited)
    print(f"   {a * 1e3:.0f} ms without, {b * 1e3:.0f} ms with: ratio {b / a:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    if not args.skip_local:
        accuracy()
    linearity(args.requests)
    overhead(args.requests)


if __name__ == "__main__":
    main()
