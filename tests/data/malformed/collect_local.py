"""Collect invalid raw answers of the embedded model (SmolLM2-135M) for the corpus.

Run from the repository root (slow: a few minutes on 2 cores)::

    python tests/data/malformed/collect_local.py > /tmp/local_failures.jsonl
    python tests/data/malformed/collect_local.py --more >> /tmp/local_failures.jsonl

Each line: schema name, mode, temperature, the raw answer and its errors
(collected with ``coerce=False``: every answer that fails plain validation). The
corpus file ``local.jsonl`` was made from this output by hand: each answer got
the value a careful reader would recover from it against the schema, or
``"reject": true`` when the schema cannot tell what was meant.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from extractkit import Extractor
from extractkit.errors import ExtractionError

ROOT = Path(__file__).resolve().parents[3]


def _module(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"_schemas_{name}", ROOT / "schemas" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # forward references resolve through the module
    spec.loader.exec_module(mod)
    return mod


#: Second round (``--more``): the corpus's own small schemas on short texts, sampled.
MORE_TEXTS = {
    "answer": "Context: [doc1] Paris is the capital of France. Question: what is the capital of France?",
    "verdict": "Review: I loved this hammer, it works great. Classify the sentiment of the review.",
    "tags": "Post: How to parse JSON in Python with the json module. List topic tags.",
    "person": "Maria Lopez is 34 years old and lives in Madrid.",
}


def _report(name: str, mode: str, temperature: float, seed: int, exc: ExtractionError) -> None:
    for attempt in exc.attempts:
        print(json.dumps({"schema": name, "mode": mode, "temperature": temperature, "seed": seed,
                          "raw": attempt.raw, "errors": attempt.errors}), flush=True)


def more() -> None:
    schemas = json.loads((Path(__file__).with_name("schemas.json")).read_text())
    for seed in range(3, 9):
        for temperature in (0.3, 0.6):
            ex = Extractor(local=True, mode="md_json", max_retries=0, temperature=temperature,
                           seed=seed, coerce=False)
            for name, text in MORE_TEXTS.items():
                try:
                    ex.extract(schemas[name], text)
                except ExtractionError as exc:
                    _report(name, "md_json", temperature, seed, exc)


def main() -> None:
    if "--more" in sys.argv:
        more()
        return
    schemas = {
        "person": _module("person").Person,
        "invoice": _module("invoice").Invoice,
        "events": list[_module("events").Event],  # type: ignore[name-defined]
        "contact": str(ROOT / "schemas" / "contact.json"),
    }
    runs = [(0.0, 1), (0.7, 1), (0.7, 2), (1.0, 1), (1.0, 2)]
    for mode in ("md_json", "json_object"):
        for temperature, seed in runs:
                ex = Extractor(local=True, mode=mode, max_retries=0, temperature=temperature,
                               seed=seed, coerce=False)
                for name, schema in schemas.items():
                    text = (ROOT / "schemas" / "inputs" / f"{name}.txt").read_text()
                    try:
                        ex.extract(schema, text)
                    except ExtractionError as exc:
                        _report(name, mode, temperature, seed, exc)
                    except Exception as exc:  # report and go on
                        print(f"{name} {mode}: {type(exc).__name__}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
