"""The coverage checks of ``bench/coverage.py`` on a small JSONSchemaBench sample.

``tests/data/jsonschemabench-sample.jsonl`` holds 62 small schemas (a few per
subset, chosen to mix clean round trips, non-object roots, schemas whose
encoding narrows the valid set, and schemas strict mode cannot express). The
minimum rates below sit just under what the encoder measures on it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_ROOT = Path(__file__).resolve().parent.parent
_SAMPLE = _ROOT / "tests" / "data" / "jsonschemabench-sample.jsonl"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_bench_coverage", _ROOT / "bench" / "coverage.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summary() -> dict[str, dict]:
    bench = _load_bench()
    results = [bench.check_record(r) for r in bench.read_records(_SAMPLE)]
    return bench.summarize(results)


def _rate(s: dict, part: str, whole: str) -> float:
    return s[part] / s[whole]


def test_sample_covers_every_subset(summary: dict[str, dict]) -> None:
    subsets = set(summary) - {"TOTAL"}
    assert len(subsets) == 8
    assert summary["TOTAL"]["schemas"] == 62
    for name in subsets:
        assert summary[name]["compiled"] >= 1, name


def test_compiled_wire_schemas_are_strict(summary: dict[str, dict]) -> None:
    total = summary["TOTAL"]
    assert total["crashes"] == 0
    assert total["compiled"] >= 59  # measured 60 of 62
    assert total["compiled_unwrapped"] >= 51  # measured 52; the rest need the root wrapped
    assert total["strict_clean"] == total["compiled"]
    assert [k for k, _ in total["errors"]] == ["enum"]  # enum of objects / arrays


def test_validator_of_record_agrees_with_the_benchmark(summary: dict[str, dict]) -> None:
    total = summary["TOTAL"]
    assert total["meta_ok"] == total["schemas"]
    assert total["valid_accepted"] == total["valid_total"]
    assert _rate(total, "invalid_rejected", "invalid_total") >= 0.93  # measured 0.959


def test_valid_instances_survive_the_round_trip(summary: dict[str, dict]) -> None:
    total = summary["TOTAL"]
    assert total["round_trips"] >= 95  # measured 97
    assert _rate(total, "wire_valid", "round_trips") >= 0.82  # measured 0.845
    assert _rate(total, "decoded_equal", "round_trips") >= 0.92  # measured 0.948
    assert total["decoded_valid"] == total["round_trips"]
