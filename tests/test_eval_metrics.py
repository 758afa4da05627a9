"""Eval metrics on hand-computed examples: leaf outcomes, list alignment, failures, totals."""

from __future__ import annotations

import itertools
import json
import random
from typing import Annotated

import pytest
from pydantic import BaseModel

from extractkit.errors import ConfigurationError, InputError
from extractkit.eval import Comparer, EvalReport, score_records
from extractkit.eval.assign import best_pairs, hungarian
from extractkit.eval.dataset import Example, load_dataset
from extractkit.eval.metrics import Counts, by_field
from extractkit.markers import Match, register_callable

ORDER = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "total": {"type": "number"},
        "address": {"type": "object", "properties": {
            "city": {"type": "string"}, "zip": {"type": "string"}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "qty": {"type": "integer"}}}},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def statuses(outcomes):
    return sorted((o.field, o.status) for o in outcomes)


def test_nested_object_and_scalars_hand_counted():
    expected = {"customer": "ACME Corp", "total": 10.5,
                "address": {"city": "Berlin", "zip": "10115"}}
    actual = {"customer": "  acme   CORP ", "total": 10.0,
              "address": {"city": "Berlin"}, "tags": ["x"]}
    out = Comparer(ORDER).compare(expected, actual)
    assert statuses(out) == [
        ("/address/city", "correct"),
        ("/address/zip", "missing"),
        ("/customer", "correct"),   # normalized: case and whitespace
        ("/tags/*", "extra"),
        ("/total", "wrong"),
    ]
    c = by_field(out)
    total = Counts()
    for part in c.values():
        total += part
    # tp=2, fp = wrong(1)+extra(1) = 2, fn = wrong(1)+missing(1) = 2
    assert (total.tp, total.fp, total.fn) == (2, 2, 2)
    assert total.precision == pytest.approx(0.5)
    assert total.recall == pytest.approx(0.5)
    assert total.f1 == pytest.approx(0.5)


def test_list_items_aligned_by_assignment_not_position():
    expected = {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}, {"sku": "C", "qty": 3}]}
    # reordered; B has a wrong qty; A is missing; D is extra (shares nothing with A)
    actual = {"items": [{"sku": "C", "qty": 3}, {"sku": "D", "qty": 9}, {"sku": "B", "qty": 5}]}
    out = Comparer(ORDER).compare(expected, actual)
    pairs = {(o.expected_pointer, o.pointer, o.status) for o in out}
    assert ("/items/2/sku", "/items/0/sku", "correct") in pairs   # C <-> C
    assert ("/items/1/sku", "/items/2/sku", "correct") in pairs   # B <-> B
    assert ("/items/1/qty", "/items/2/qty", "wrong") in pairs
    assert ("/items/0/sku", "/items/0/sku", "missing") in pairs   # A, in the expected value
    assert (None, "/items/1/sku", "extra") in pairs               # D
    fields = by_field(out)
    assert fields["/items/*/sku"].as_dict()["tp"] == 2
    assert (fields["/items/*/sku"].fp, fields["/items/*/sku"].fn) == (1, 1)
    assert (fields["/items/*/qty"].tp, fields["/items/*/qty"].fp,
            fields["/items/*/qty"].fn) == (1, 2, 2)
    # by position instead, C/A and B/D would have been compared: 0 correct sku


def test_scalar_list_with_missing_and_extra():
    out = Comparer(ORDER).compare({"tags": ["red", "green", "blue"]},
                                  {"tags": ["Blue", "red", "yellow", "pink"]})
    got = sorted(o.status for o in out)
    # red, blue correct; green vs yellow/pink: no similarity under "normalized" -> missing;
    # yellow and pink extra
    assert got == ["correct", "correct", "extra", "extra", "missing"]


def test_failed_document_counts_against_recall_and_exact_rate():
    examples = [Example("a", {"customer": "X", "total": 1}, text="..."),
                Example("b", {"customer": "Y", "total": 2}, text="..."),
                Example("c", {"customer": "Z"}, text="...")]
    records = [
        {"input": "a", "ok": True, "value": {"customer": "X", "total": 1},
         "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
         "model": "gpt-4o-mini"},
        {"input": "b", "ok": False, "error": "validation failed",
         "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}},
        # "c" has no record at all
    ]
    report = score_records(ORDER, examples, records, model="gpt-4o-mini")
    assert [d.ok for d in report.documents] == [True, False, False]
    assert report.documents[2].error == "no result for this example"
    t = report.total
    # a: 2 tp; b: 2 fn; c: 1 fn
    assert (t.tp, t.fp, t.fn) == (2, 0, 3)
    assert report.precision == 1.0
    assert report.recall == pytest.approx(2 / 5)
    assert report.f1 == pytest.approx(2 * 1 * 0.4 / 1.4)
    assert report.exact_match_rate == pytest.approx(1 / 3)
    assert report.failed == 2
    assert report.tokens == 165
    # gpt-4o-mini: $0.15 / $0.60 per million
    assert report.documents[0].cost == pytest.approx((100 * 0.15 + 10 * 0.6) / 1e6)
    assert report.cost == pytest.approx((150 * 0.15 + 15 * 0.6) / 1e6)


def test_unknown_model_cost_is_unknown_and_local_is_local():
    examples = [Example("a", {"customer": "X"}, text="t")]
    records = [{"input": "a", "ok": True, "value": {"customer": "X"},
                "usage": {"total_tokens": 5, "prompt_tokens": 4, "completion_tokens": 1}}]
    unpriced = score_records(ORDER, examples, records, model="my-own-model")
    assert unpriced.cost is None
    assert unpriced.cost_text(unpriced.cost) == "?"
    local = score_records(ORDER, examples, records, model="smollm2", local=True)
    assert local.cost == 0.0
    assert local.cost_text(local.cost) == "local"


def test_nothing_expected_nothing_found_is_an_exact_document():
    report = score_records(ORDER, [Example("a", {"customer": None, "items": []}, text="t")],
                           [{"input": "a", "ok": True, "value": {"customer": None, "items": []}}])
    assert report.documents[0].exact
    assert report.exact_match_rate == 1.0
    assert report.total.f1 == 1.0


def test_markers_choose_matchers():
    register_callable(lambda e, a: str(e).lower()[:3] == str(a).lower()[:3], "first3")

    class Invoice(BaseModel):
        issued: Annotated[str, Match("date")]
        vendor: Annotated[str, Match("fuzzy", threshold=0.8)]
        amount: Annotated[float, Match("numeric", tolerance=0.01)]
        code: Annotated[str, Match("first3")]
        status: Annotated[str, Match("enum")]

    expected = {"issued": "2024-03-05", "vendor": "Globex Corporation", "amount": 100.0,
                "code": "ABC-1", "status": "PAID"}
    actual = {"issued": "March 5th, 2024", "vendor": "Globex Corporatoin", "amount": "100.004",
              "code": "abc-9", "status": "paid "}
    comparer = Comparer(Invoice.model_json_schema())
    assert {o.field: o.status for o in comparer.compare(expected, actual)} == {
        "/issued": "correct", "/vendor": "correct", "/amount": "correct",
        "/code": "correct", "/status": "correct"}
    wrong = {"issued": "5 April 2024", "vendor": "Initech", "amount": 100.02,
             "code": "abd-1", "status": "open"}
    assert {o.status for o in comparer.compare(expected, wrong)} == {"wrong"}


def test_match_config_overrides_by_field_pattern():
    expected = {"items": [{"sku": "AB-1", "qty": 1}]}
    actual = {"items": [{"sku": "ab-1", "qty": 1}]}
    assert {o.status for o in Comparer(ORDER).compare(expected, actual)} == {"correct"}
    strict = Comparer(ORDER, {"/items/*/sku": "exact"})
    assert {o.field: o.status for o in strict.compare(expected, actual)} == {
        "/items/*/sku": "wrong", "/items/*/qty": "correct"}
    with pytest.raises(ConfigurationError, match=r"'/x'.*unknown matcher 'nope'"):
        Comparer(ORDER, {"/x": "nope"})


def test_union_branches_and_unknown_parts():
    schema = {"type": "object", "properties": {"pay": {"anyOf": [
        {"type": "object", "properties": {"kind": {"const": "card"}, "last4": {"type": "string"}}},
        {"type": "object", "properties": {"kind": {"const": "iban"}, "iban": {"type": "string"}}},
    ]}}}
    out = Comparer(schema).compare({"pay": {"kind": "iban", "iban": "DE89 3704"}},
                                   {"pay": {"kind": "iban", "iban": "de89 3704"}, "note": 1})
    assert {o.field: o.status for o in out} == {
        "/pay/kind": "correct", "/pay/iban": "correct", "/note": "extra"}


def test_container_against_scalar():
    out = Comparer(ORDER).compare({"address": {"city": "Rome"}}, {"address": "Rome"})
    assert sorted((o.field, o.status) for o in out) == [
        ("/address", "extra"), ("/address/city", "missing")]


def test_report_json_round_trip_and_baseline_regressions(tmp_path):
    examples = [Example("a", {"customer": "X", "total": 1}, text="t")]
    good = score_records(ORDER, examples, [{"input": "a", "ok": True,
                                            "value": {"customer": "X", "total": 1}}])
    worse = score_records(ORDER, examples, [{"input": "a", "ok": True,
                                             "value": {"customer": "X", "total": 2}}])
    path = tmp_path / "base.json"
    good.write_json(path)
    base = EvalReport.load(path)
    assert base.f1 == good.f1 == 1.0
    regressions = worse.regressions(base)
    assert [d.field for d in regressions] == ["/total"]
    assert regressions[0].delta == pytest.approx(-1.0)
    assert good.regressions(base) == []
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ConfigurationError, match=r"junk\.json is not an eval report"):
        EvalReport.load(tmp_path / "junk.json")


def test_dataset_errors_name_file_and_line(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "t", "expected": {}}\n\n{"id": "b", "text": "t"}\n')
    with pytest.raises(InputError, match=r"d\.jsonl:3: an example needs \"expected\""):
        load_dataset(data)
    data.write_text('{"id": "a", "text": "t", "path": "x", "expected": {}}\n')
    with pytest.raises(InputError, match=r"d\.jsonl:1: an example needs exactly one of"):
        load_dataset(data)
    data.write_text('{"id": "a", "path": "doc.txt", "expected": {}}\n')
    (tmp_path / "doc.txt").write_text("hello")
    [example] = load_dataset(data)
    assert example.document_text() == "hello"   # relative to the dataset's folder


# -- the assignment ---------------------------------------------------------------


def _brute_force(matrix):
    rows, cols = len(matrix), len(matrix[0])
    best = -1.0
    if rows <= cols:
        for perm in itertools.permutations(range(cols), rows):
            best = max(best, sum(matrix[r][c] for r, c in enumerate(perm)))
    else:
        for perm in itertools.permutations(range(rows), cols):
            best = max(best, sum(matrix[r][c] for c, r in enumerate(perm)))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_hungarian_is_optimal_against_brute_force(seed):
    rng = random.Random(seed)
    rows, cols = rng.randint(1, 6), rng.randint(1, 6)
    matrix = [[rng.choice([0.0, 0.25, 0.5, rng.random(), 1.0]) for _ in range(cols)]
              for _ in range(rows)]
    pairs = hungarian(matrix)
    assert len(pairs) == min(rows, cols)
    assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
    assert sum(matrix[r][c] for r, c in pairs) == pytest.approx(_brute_force(matrix))


def test_greedy_would_be_wrong_here():
    # greedy picks (0,0)=0.9 first and ends at 0.9+0.1; the optimum is 0.8+0.8
    matrix = [[0.9, 0.8], [0.8, 0.1]]
    assert hungarian(matrix) == [(0, 1), (1, 0)]


def test_equal_items_pair_first_and_zero_similarity_stays_unpaired():
    expected, actual = ["a", "b", "a"], ["a", "c", "a"]

    def sim(i, j):
        return 1.0 if expected[i] == actual[j] else 0.0

    assert best_pairs(expected, actual, sim) == [(0, 0), (2, 2)]
    assert json.dumps(best_pairs([], ["x"], sim)) == "[]"


def test_long_lists_beyond_the_matrix_limit_pair_by_shared_rare_values():
    from extractkit.eval.assign import MAX_CELLS

    n = 300
    assert n * n > MAX_CELLS
    expected = {"items": [{"sku": f"S{i}", "qty": i % 3} for i in range(n)]}
    # every item changed (no equal pairs), reversed, plus one stranger
    actual = {"items": [{"sku": f"S{i}", "qty": i % 3 + 1} for i in reversed(range(n))]
              + [{"sku": "NEW", "qty": 7}]}
    fields = by_field(Comparer(ORDER).compare(expected, actual))
    sku, qty = fields["/items/*/sku"], fields["/items/*/qty"]
    assert (sku.tp, sku.fp, sku.fn) == (n, 1, 0)      # every sku found its partner
    assert (qty.tp, qty.fp, qty.fn) == (0, n + 1, n)  # every qty wrong, one extra


def test_without_a_schema_matchers_follow_the_value_types():
    out = Comparer(None).compare({"name": "Ann  LEE", "n": 2, "ok": True, "tags": ["A"]},
                                 {"name": "ann lee", "n": 2.0, "ok": 1, "tags": ["a"]})
    assert {o.field: (o.status, o.matcher) for o in out} == {
        "/name": ("correct", "normalized"), "/n": ("correct", "numeric"),
        "/ok": ("wrong", "exact"), "/tags/*": ("correct", "normalized")}


@pytest.mark.parametrize(("text", "iso"), [
    ("2024-03-05", "2024-03-05"), ("2024/3/5", "2024-03-05"), ("2024-03-05T10:30:00Z", "2024-03-05"),
    ("March 5, 2024", "2024-03-05"), ("March 5th, 2024", "2024-03-05"), ("5 Mar 2024", "2024-03-05"),
    ("Tuesday, 5 March 2024", "2024-03-05"), ("the 5th day of March, 2024", "2024-03-05"),
    ("3/5/2024", "2024-03-05"), ("05.03.2024", "2024-03-05"), ("Sept 30 2024", "2024-09-30"),
    ("March 2024", None), ("2024-02-30", None), ("soon", None), ("5 March", None),
])
def test_written_dates(text, iso):
    from extractkit.eval.matchers import parse_date

    found = parse_date(text)
    assert (found.isoformat() if found else None) == iso


def test_default_matchers_by_type():
    schema = {"type": "object", "properties": {
        "state": {"type": "string", "enum": ["OPEN", "PAID"]},
        "day": {"type": "string", "format": "date"},
        "note": {"type": "string"},
        "n": {"type": "integer"},
        "flag": {"type": "boolean"}}}
    out = Comparer(schema).compare(
        {"state": "PAID", "day": "2024-03-05", "note": "Ｈｅｌｌｏ  World", "n": 3, "flag": True},
        {"state": " paid", "day": "5 March 2024", "note": "hello world", "n": 3.0, "flag": 1})
    assert {o.field: (o.matcher, o.status) for o in out} == {
        "/state": ("enum", "correct"), "/day": ("date", "correct"),
        "/note": ("normalized", "correct"),  # NFKC folds the full-width letters
        "/n": ("numeric", "correct"), "/flag": ("exact", "wrong")}


def test_a_callable_matcher_score_is_clamped_and_nan_is_no_match():
    from extractkit.eval.matchers import make_matcher

    wild = make_matcher({"type": register_callable(lambda e, a: float("nan"), "nan_score")})
    assert wild.score("a", "a") == 0.0 and not wild.matches("a", "a")
    big = make_matcher(lambda e, a: 7.5)
    assert big.score("a", "b") == 1.0
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {
        "type": "string", "x-match": "nan_score"}}}}
    out = Comparer(schema).compare({"tags": ["x", "y"]}, {"tags": ["y", "x"]})
    # equal items pair first (no NaN reaches the assignment), and the matcher has the last word
    assert [(o.expected, o.actual, o.status) for o in out] == [("x", "x", "wrong"),
                                                               ("y", "y", "wrong")]
