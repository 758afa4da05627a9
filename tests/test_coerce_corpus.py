"""The malformed-reply corpus (tests/data/malformed): every reply through the loop's
check_text gives its expected value, or is rejected where the corpus says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractkit.loop import Extraction
from extractkit.modes import build_plan
from extractkit.profiles import get_profile
from extractkit.results import Usage

CORPUS = Path(__file__).resolve().parent / "data" / "malformed"
SCHEMAS: dict[str, Any] = json.loads((CORPUS / "schemas.json").read_text(encoding="utf-8"))
CASES = [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl"))
         for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _check(case: dict[str, Any], *, coerce: bool = True) -> Any:
    plan = build_plan(SCHEMAS[case["schema"]], "md_json", get_profile("generic"))
    return Extraction(plan, [], model="m", coerce=coerce).check_text(
        case["raw"], case.get("finish_reason"), Usage())


def test_corpus_covers_every_class_and_both_origins():
    classes = {c["class"] for c in CASES}
    assert {"keys", "wrapping", "scalars", "enums", "prose", "candidates", "syntax",
            "mixed"} <= classes
    assert {c["origin"] for c in CASES} >= {"hand", "smollm2-135m"}
    assert all(("expected" in c) != bool(c.get("reject")) for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reply_gives_its_expected_value_or_is_rejected(case):
    attempt = _check(case)
    if case.get("reject"):
        assert not attempt.ok, f"accepted {attempt.value!r}; the corpus says reject"
    else:
        assert attempt.ok, attempt.errors
        assert attempt.value == case["expected"]


def test_without_coercion_only_syntax_faults_recover():
    recovered = {c["id"] for c in CASES if "expected" in c and _check(c, coerce=False).ok}
    assert recovered, "the syntax-only cases recover without coercion"
    assert all(next(c for c in CASES if c["id"] == i)["class"] in ("syntax", "prose", "candidates")
               for i in recovered)
