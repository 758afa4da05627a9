"""Hostile sizes for the compile-time reference check (``SchemaView.check_references``).

Builds, for a size N and 10*N, three schemas -- N properties each referencing
its own definition (wide), a chain of N definitions each an ``allOf`` of the
next (long, every edge in place), and the chain closed into a cycle (rejected)
-- and prints the time per schema element at both sizes and their ratio (about
1.0 when the check is linear; best of three runs each).

Usage::

    python bench/schema_refs.py [--n N]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extractkit.errors import SchemaError  # noqa: E402
from extractkit.schema.view import SchemaView  # noqa: E402


def wide(n: int) -> dict[str, Any]:
    return {"type": "object",
            "$defs": {f"D{i}": {"type": "string", "maxLength": i + 1} for i in range(n)},
            "properties": {f"p{i}": {"$ref": f"#/$defs/D{i}"} for i in range(n)}}


def chain(n: int, *, closed: bool = False) -> dict[str, Any]:
    defs: dict[str, Any] = {f"D{i}": {"allOf": [{"$ref": f"#/$defs/D{i + 1}"}]} for i in range(n)}
    defs[f"D{n}"] = {"allOf": [{"$ref": "#/$defs/D0"}]} if closed else {"type": "string"}
    return {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/D0"}}}


def per_element(schema: dict[str, Any], n: int, *, rejected: bool) -> float:
    """The best of three runs (a fresh view each time, garbage collected first)."""
    best = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        try:
            SchemaView(schema).check_references()
        except SchemaError:
            assert rejected
        else:
            assert not rejected
        best = min(best, time.perf_counter() - start)
    return best / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    n = parser.parse_args().n
    print(f"{'schema':<16}{'us/element N':>14}{'us/element 10N':>16}{'ratio':>8}")
    for name, build, rejected in (
        ("wide", wide, False),
        ("allOf chain", chain, False),
        ("allOf cycle", lambda k: chain(k, closed=True), True),
    ):
        small = per_element(build(n), n, rejected=rejected)
        large = per_element(build(10 * n), 10 * n, rejected=rejected)
        print(f"{name:<16}{small * 1e6:>14.2f}{large * 1e6:>16.2f}{large / small:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
