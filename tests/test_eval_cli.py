"""``extractkit eval`` / ``review`` and ``extractkit.evaluate`` over real HTTP to the scripted server."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from pydantic import BaseModel

import extractkit
from extractkit import Extractor, extract
from extractkit.eval import EvalReport
from tests.cli_runner import run_cli as run
from tests.scripted_server import completion

SECRET = "sk-eval-test-secret-99"

ORDER_PY = '''
from typing import Annotated
from pydantic import BaseModel
from extractkit.markers import Match

class Item(BaseModel):
    sku: str
    qty: int

class Order(BaseModel):
    customer: str
    date: Annotated[str, Match("date")]
    items: list[Item] = []
'''

EXAMPLES = [
    {"id": "o1", "text": "Order by ACME on March 5, 2024: 2x A-1, 1x B-2",
     "expected": {"customer": "ACME", "date": "2024-03-05",
                  "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}]}},
    {"id": "o2", "text": "Globex ordered 3x C-3 on 2024-04-01 </script><b>x</b>",
     "expected": {"customer": "Globex", "date": "2024-04-01", "items": [{"sku": "C-3", "qty": 3}]}},
    {"id": "o3", "text": "Initech, 7 May 2024, nothing else",
     "expected": {"customer": "Initech", "date": "2024-05-07", "items": []}},
]

ANSWERS = {
    # o1: right, with the items in the other order and the date written out
    "o1": {"customer": "acme", "date": "5 March 2024",
           "items": [{"sku": "B-2", "qty": 1}, {"sku": "A-1", "qty": 2}]},
    # o2: one wrong quantity and an extra item
    "o2": {"customer": "Globex", "date": "2024-04-01",
           "items": [{"sku": "C-3", "qty": 4}, {"sku": "Z-9", "qty": 1}]},
    # o3: not valid (no customer): the extraction fails
    "o3": {"date": "2024-05-07"},
}


def _answer_by_text(body):
    text = body["messages"][-1]["content"]
    for example in EXAMPLES:
        if example["text"] in text:
            return completion(json.dumps(ANSWERS[example["id"]]), usage=(100, 20))
    raise AssertionError(f"unexpected request: {text!r}")




@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("EXTRACTKIT_MODEL", "gpt-4o-mini")
    server.default = _answer_by_text
    return server


@pytest.fixture
def files(tmp_path):
    schema = tmp_path / "order.py"
    schema.write_text(ORDER_PY)
    data = tmp_path / "orders.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    return schema, data, tmp_path


# hand count: o1 4 leaves + customer + date = 6 correct
# o2: customer, date, C-3 sku correct (3); qty wrong (fp+fn); Z-9 sku+qty extra (2 fp)
# o3 failed: customer, date = 2 fn (items is empty)
TP, FP, FN = 9, 3, 3


def test_eval_runs_scores_and_writes_everything(remote, files):
    schema, data, tmp = files
    code, out, err = run("eval", str(schema), str(data), "--max-retries", "0",
                         "--json", str(tmp / "r.json"), "--html", str(tmp / "r.html"),
                         "-o", str(tmp / "records.jsonl"))
    assert code == 0, err
    assert len(remote.bodies()) == 3
    report = json.loads((tmp / "r.json").read_text())
    s = report["summary"]
    assert (s["tp"], s["fp"], s["fn"]) == (TP, FP, FN)
    assert s["f1"] == pytest.approx(0.75)
    assert s["failed"] == 1
    assert s["exact_match_rate"] == pytest.approx(1 / 3)
    assert s["tokens"] == 3 * 120
    assert s["cost"] == pytest.approx(3 * (100 * 0.15 + 20 * 0.6) / 1e6)
    assert report["fields"]["/items/*/qty"] == {"tp": 2, "fp": 2, "fn": 1,
                                                "precision": 0.5, "recall": pytest.approx(2 / 3,
                                                                                          abs=1e-6),
                                                "f1": pytest.approx(4 / 7, abs=1e-6)}
    docs = {d["id"]: d for d in report["documents"]}
    assert docs["o1"]["exact"] and not docs["o2"]["exact"]
    assert docs["o3"]["ok"] is False and "customer" in docs["o3"]["error"]
    assert all(d["seconds"] is not None and d["seconds"] >= 0 for d in report["documents"])
    # the terminal table
    assert "/items/*/qty" in out and "FAILED" in out and "F1 75.0" in out
    assert SECRET not in out + err + (tmp / "r.html").read_text()
    # the page: the document's own </script> is escaped inside the embedded JSON
    page = (tmp / "r.html").read_text()
    assert page.count("</script>") == 2
    assert "\\u003c/script\\u003e\\u003cb\\u003ex" in page
    assert '"expected": 4' not in page and '"status": "wrong"' in page


def test_results_are_rescored_without_a_model_and_baseline_marks_regressions(remote, files):
    schema, data, tmp = files
    assert run("eval", str(schema), str(data), "--max-retries", "0",
               "-o", str(tmp / "records.jsonl"), "--json", str(tmp / "base.json"))[0] == 0
    asked = len(remote.bodies())
    # make o1 worse in the saved records, then score them offline
    records = [json.loads(line) for line in (tmp / "records.jsonl").read_text().splitlines()]
    for record in records:
        if record["input"] == "o1":
            record["value"]["customer"] = "Someone Else"
    (tmp / "worse.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = run("eval", str(schema), str(data), "--results", str(tmp / "worse.jsonl"),
                         "--baseline", str(tmp / "base.json"), "--json", str(tmp / "now.json"),
                         "--fail-under", "0.9")
    assert len(remote.bodies()) == asked  # no request
    assert code == 1
    assert "under 0.9000" in err
    assert "REGRESSION" in out
    row = next(line for line in out.splitlines() if "/customer" in line)
    # /customer F1: baseline 2 tp 1 fn = 0.8; now 1 tp, 1 fp, 2 fn = 0.4
    assert "REGRESSION" in row and "-40.0" in row
    now = EvalReport.load(tmp / "now.json")
    assert [d.field for d in now.regressions(EvalReport.load(tmp / "base.json"))] == ["/customer"]
    code, _, _ = run("eval", str(schema), str(data), "--results", str(tmp / "records.jsonl"),
                     "--fail-under", "0.7")
    assert code == 0


def test_match_config_file_overrides_markers(remote, files):
    schema, data, tmp = files
    config = tmp / "match.json"
    config.write_text(json.dumps({"/date": "exact", "/customer": {"type": "fuzzy",
                                                                  "threshold": 0.5}}))
    code, _, err = run("eval", str(schema), str(data), "--max-retries", "0",
                       "--match-config", str(config), "--json", str(tmp / "r.json"))
    assert code == 0, err
    fields = json.loads((tmp / "r.json").read_text())["fields"]
    # "5 March 2024" is no longer the same as "2024-03-05"
    assert (fields["/date"]["tp"], fields["/date"]["fp"]) == (1, 1)
    config.write_text(json.dumps({"/date": "dat"}))
    code, _, err = run("eval", str(schema), str(data), "--results", str(tmp / "r.json"),
                       "--match-config", str(config))
    assert code == 2 and "match config '/date': unknown matcher 'dat'" in err


def test_bad_dataset_line_is_named(files):
    schema, data, _tmp = files
    data.write_text(json.dumps(EXAMPLES[0]) + "\n{not json\n")
    code, _, err = run("eval", str(schema), str(data), "--results", str(data))
    assert code == 1
    assert f"{data}:2: not a JSON line" in err


def test_review_command_writes_the_page(files, tmp_path):
    records = tmp_path / "out.jsonl"
    doc = tmp_path / "letter.txt"
    doc.write_text("Dear Ann, see you in Paris.")
    records.write_text(json.dumps({
        "input": str(doc), "ok": True, "value": {"name": "Ann", "city": "Paris"},
        "grounding": {"/name": {"value": "Ann", "status": "exact", "score": 1.0,
                                "spans": [{"start": 5, "end": 8}]},
                      "/city": {"value": "Paris", "status": "exact", "score": 1.0,
                                "spans": [{"start": 21, "end": 26}]}}}) + "\n"
        + json.dumps({"input": "gone.txt", "ok": False, "error": "boom"}) + "\n")
    code, _, err = run("review", str(records))
    assert code == 0, err
    page = (tmp_path / "out.html").read_text()
    data = json.loads(page.split('id="review-data">')[1].split("</script>")[0])
    first, second = data["documents"]
    assert first["text"] == "Dear Ann, see you in Paris."   # read from the input path
    assert second["text"] is None and second["error"] == "boom"
    records.write_text("[1]\n")
    code, _, err = run("review", str(records))
    assert code == 1 and f"{records}:1: a record is a JSON object" in err


class Item(BaseModel):
    sku: str
    qty: int


class Order(BaseModel):
    customer: str
    date: str
    items: list[Item] = []


def test_evaluate_python_api_with_extract_function_and_extractor(remote):
    client = openai.OpenAI(base_url=remote.base_url, api_key=SECRET, max_retries=0)

    @extract(client=client, model="gpt-4o-mini", max_retries=0)
    def order(text: str) -> Order:
        """Extract the order.

        {{ text }}"""

    report = extractkit.evaluate(order, EXAMPLES, match_config={"/date": "date"})
    assert isinstance(report, EvalReport)
    assert (report.total.tp, report.total.fp, report.total.fn) == (TP, FP, FN)
    assert report.model == "gpt-4o-mini" and not report.local
    ex = Extractor(client=client, model="gpt-4o-mini", max_retries=0)
    again = extractkit.evaluate(ex, EXAMPLES, Order, concurrency=3,
                                match_config={"/date": "date"})
    assert again.f1 == pytest.approx(report.f1)
    with pytest.raises(TypeError, match="needs the schema"):
        extractkit.evaluate(ex, EXAMPLES)
    client.close()


def test_evaluate_a_plain_callable(tmp_path):
    def guess(text: str) -> dict:
        if "Initech" in text:
            raise ValueError("no idea")
        return {"customer": text.split()[0], "date": "2024-03-05"}

    report = extractkit.evaluate(guess, EXAMPLES, Order)
    docs = {d.id: d for d in report.documents}
    assert docs["o3"].error == "ValueError: no idea"
    # o1: "Order" is not ACME; the date is right; items missing
    assert {o.field: o.status for o in docs["o1"].outcomes}["/date"] == "correct"
    assert report.tokens == 0 and report.cost == 0.0
    assert Path(tmp_path).exists()


def test_run_keep_text_and_html(remote, files, tmp_path):
    schema, data, _ = files
    code, _out, err = run("run", str(schema), str(data), "--max-retries", "0", "--keep-text",
                         "--html", str(tmp_path / "run.html"), "-o", str(tmp_path / "out.jsonl"))
    assert code == 1  # o3 fails
    records = {r["input"]: r for r in map(json.loads,
                                           (tmp_path / "out.jsonl").read_text().splitlines())}
    assert records["o1"]["text"] == EXAMPLES[0]["text"]
    assert records["o3"]["ok"] is False and records["o3"]["text"] == EXAMPLES[2]["text"]
    page = (tmp_path / "run.html").read_text()
    data_json = json.loads(page.split('id="review-data">')[1].split("</script>")[0])
    assert sorted(d["id"] for d in data_json["documents"]) == ["o1", "o2", "o3"]
    failed = next(d for d in data_json["documents"] if d["id"] == "o3")
    assert len(failed["attempts"]) == 1 and "customer" in failed["attempts"][0]["errors"][0]
    assert "wrote" in err and str(tmp_path / "run.html") in err
    # without the flags, records carry no text
    code, _, _ = run("run", str(schema), str(data), "--max-retries", "0",
                     "-o", str(tmp_path / "plain.jsonl"))
    assert all("text" not in json.loads(line)
               for line in (tmp_path / "plain.jsonl").read_text().splitlines())


def test_known_keys_never_reach_records_reports_or_pages(remote, files, monkeypatch):
    schema, data, tmp = files
    # the model echoes the key in its answer, and it is in a document text too
    leaky = [dict(e, text=e["text"] + f" key={SECRET}") for e in EXAMPLES]
    data.write_text("".join(json.dumps(e) + "\n" for e in leaky))
    remote.default = lambda body: completion(json.dumps(
        {"customer": SECRET, "date": "2024-01-01"}))
    code, out, err = run("eval", str(schema), str(data), "--max-retries", "0",
                         "-o", str(tmp / "rec.jsonl"), "--json", str(tmp / "r.json"),
                         "--html", str(tmp / "r.html"))
    assert code == 0, err
    for path in ("rec.jsonl", "r.html"):
        assert SECRET not in (tmp / path).read_text(), path
    assert SECRET not in out + err


def test_eval_with_the_response_cache_asks_once(remote, files):
    schema, data, tmp = files
    cache = str(tmp / "cache.sqlite")
    costs = []
    for _ in range(2):
        code, _, err = run("eval", str(schema), str(data), "--max-retries", "0",
                           "--cache-path", cache, "--json", str(tmp / "r.json"))
        assert code == 0, err
        costs.append(json.loads((tmp / "r.json").read_text())["summary"]["cost"])
    # the second eval came from the cache, except the example whose answer failed
    # validation: failures are never cached, so it is asked again
    assert len(remote.bodies()) == 4
    summary = json.loads((tmp / "r.json").read_text())["summary"]
    assert summary["f1"] == pytest.approx(0.75)
    assert 0 < costs[1] < costs[0] / 2  # only the re-asked example costs anything


def test_an_endpoint_error_every_request_meets_stops_the_eval(remote, files):
    from tests.scripted_server import error

    schema, data, tmp = files
    remote.default = lambda body: error(401, f"bad key {SECRET}", type="invalid_api_key")
    code, out, err = run("eval", str(schema), str(data), "--json", str(tmp / "r.json"))
    assert code == 1
    assert "stopped:" in err and "401" in err
    assert SECRET not in out + err
    assert not (tmp / "r.json").exists()  # no score from a run that never got an answer


def test_template_variables_examples(remote):
    client = openai.OpenAI(base_url=remote.base_url, api_key=SECRET, max_retries=0)

    @extract(client=client, model="gpt-4o-mini", max_retries=0)
    def order(text: str, shop: str) -> Order:
        """Orders of {{ shop }}:

        {{ text }}"""

    examples = [{"id": e["id"], "vars": {"text": e["text"], "shop": "Corner"},
                 "expected": e["expected"]} for e in EXAMPLES]
    report = extractkit.evaluate(order, examples, match_config={"/date": "date"})
    assert (report.total.tp, report.total.fp, report.total.fn) == (TP, FP, FN)
    assert "Orders of Corner" in remote.bodies()[0]["messages"][-1]["content"]
    # a model (not a function) takes one text: other variables are a clear per-example error
    ex = Extractor(client=client, model="gpt-4o-mini", max_retries=0)
    plain = extractkit.evaluate(ex, examples, Order)
    assert plain.failed == 3
    assert "template variables shop need an @extract function" in plain.documents[0].error
    client.close()


def test_unwritable_outputs_fail_before_any_request(remote, files):
    schema, data, tmp = files
    code, _, err = run("eval", str(schema), str(data), "--html", str(tmp / "nope" / "r.html"))
    assert code == 2  # like run's --output: a usage error
    assert "r.html: the folder" in err and "does not exist" in err
    assert remote.bodies() == []


def test_path_examples_scored_from_run_records(remote, files):
    schema, _, tmp = files
    docs = tmp / "docs"
    docs.mkdir()
    lines = []
    for e in EXAMPLES:
        (docs / f"{e['id']}.txt").write_text(e["text"])
        lines.append({"id": e["id"], "path": f"docs/{e['id']}.txt", "expected": e["expected"]})
    data = tmp / "by_path.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, _, err = run("run", str(schema), str(docs), "--max-retries", "0",
                       "-o", str(tmp / "run.jsonl"))
    assert code == 1, err  # o3 fails
    asked = len(remote.bodies())
    code, _out, err = run("eval", str(schema), str(data), "--results", str(tmp / "run.jsonl"),
                         "--json", str(tmp / "r.json"), "--html", str(tmp / "r.html"))
    assert code == 0, err
    assert len(remote.bodies()) == asked
    summary = json.loads((tmp / "r.json").read_text())["summary"]
    assert (summary["tp"], summary["fp"], summary["fn"]) == (TP, FP, FN)
    # tokens priced by $EXTRACTKIT_MODEL (run's records name no model)
    assert summary["cost"] == pytest.approx(3 * (100 * 0.15 + 20 * 0.6) / 1e6)
    page = (tmp / "r.html").read_text()
    data_json = json.loads(page.split('id="review-data">')[1].split("</script>")[0])
    first = data_json["documents"][0]
    assert first["id"] == "o1" and first["text"] == EXAMPLES[0]["text"]
    assert first["eval"]["correct"] == 6
