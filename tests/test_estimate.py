"""``extractkit run --dry-run`` and :mod:`extractkit.estimate`: every request rendered,
counted and priced, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from pydantic import BaseModel

from extractkit import Extractor
from extractkit.estimate import (
    MESSAGE_TOKENS,
    REPLY_TOKENS,
    Estimator,
    PlannedRequest,
    answer_tokens,
    dollars,
    estimate,
    prompt_tokens,
    tokenizer_for,
)
from extractkit.pricing import DEFAULT_PRICES, Price
from extractkit.schema.budget import schema_token_budget
from extractkit.testing import TestModel
from tests.cli_runner import run_cli
from tests.scripted_server import BodyReply, completion


class Person(BaseModel):
    name: str
    age: int


def answer(body: dict[str, Any]) -> BodyReply:
    return completion(json.dumps({"name": "Ada", "age": 36}), usage=(1000, 100), model="m")


@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    server.default = answer
    return server


@pytest.fixture
def offline(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "EXTRACTKIT_MODEL", "EXTRACTKIT_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def _inputs(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"P{i} is {i}"}) + "\n"
                            for i in range(count)))
    return path


# -- counting ----------------------------------------------------------------------------


def test_openai_models_are_counted_with_their_tiktoken_encoding():
    ex = Extractor(TestModel(), model="gpt-4o-mini", endpoint="openai")
    request = ex.render(Person, "Ada Lovelace, 36, 東京")
    tokenizer = tokenizer_for("gpt-4o-mini", "openai")
    assert tokenizer.name == "tiktoken o200k_base"
    encoding = tiktoken.get_encoding("o200k_base")
    messages = request["messages"]
    expected = REPLY_TOKENS + sum(MESSAGE_TOKENS + len(encoding.encode(m["content"]))
                                  for m in messages)
    expected += len(encoding.encode(json.dumps(request["response_format"],
                                               separators=(",", ":"), ensure_ascii=False)))
    assert prompt_tokens(request, tokenizer) == expected
    # the 4-characters rule would be another number: the real tokenizer is used
    assert prompt_tokens(request, tokenizer_for("unknown-model", "generic")) != expected


def test_unknown_models_get_the_stated_approximation():
    tokenizer = tokenizer_for("my-finetune", "vllm")
    assert tokenizer.name == "an approximation (1 token per 4 characters)"
    request = {"messages": [{"role": "user", "content": "x" * 40}]}
    assert prompt_tokens(request, tokenizer) == REPLY_TOKENS + MESSAGE_TOKENS + 10


def test_answer_tokens_come_from_the_schema_capped_by_max_tokens():
    schema = Person.model_json_schema()
    assert answer_tokens(schema) == schema_token_budget(schema) > 10
    assert answer_tokens(schema, {"max_tokens": 5}) == 5
    assert answer_tokens(schema, {"max_completion_tokens": 7}) == 7


def test_an_estimate_counts_inputs_requests_and_prices_them():
    request = {"messages": [{"role": "user", "content": "x" * 400}]}
    planned = [PlannedRequest("a", request, 50), PlannedRequest("a", request, 50),
               PlannedRequest("b", request, 50)]
    result = estimate(planned, endpoint="e", model="m", profile="generic",
                      price=Price(1.0, 2.0))
    assert (result.inputs, result.requests) == (2, 3)
    assert result.prompt_tokens == 3 * (REPLY_TOKENS + MESSAGE_TOKENS + 100)
    assert result.completion_tokens == 150
    assert result.cost == pytest.approx((result.prompt_tokens * 1.0 + 150 * 2.0) / 1e6)
    assert estimate(planned, endpoint="e", model="m", profile="generic",
                    price=None).cost is None  # unknown, not 0


def test_several_endpoints_over_the_same_requests():
    request = Extractor(TestModel(), model="gpt-4o", endpoint="openai").render(Person, "Ada, 36")
    planned = PlannedRequest("a", request, 40)
    cheap = Estimator("cheap", model="gpt-4o-mini", profile="openai",
                      price=DEFAULT_PRICES["gpt-4o-mini"])
    strong = Estimator("strong", model="gpt-4o", profile="openai", price=DEFAULT_PRICES["gpt-4o"])
    for estimator in (cheap, strong):
        estimator.add(planned)
    a, b = cheap.estimate(), strong.estimate()
    assert a.prompt_tokens == b.prompt_tokens and a.cost is not None and b.cost is not None
    assert b.cost / a.cost == pytest.approx(16.67, rel=0.01)  # the list prices' ratio


def test_dollars():
    assert dollars(12.34) == "$12.3400" and dollars(0.00057) == "$0.000570"
    assert dollars(0) == "$0.0000" and dollars(1234.5) == "$1,234.5000"
    assert dollars(1e-9) == "< $0.000001"


# -- the command line -----------------------------------------------------------------------


def test_dry_run_sends_nothing_and_prints_the_estimate(remote, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"m": {"input": 1.0, "output": 2.0}}))
    code, out, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 5)),
                             "--dry-run", "--price-table", str(prices))
    assert code == 0, err
    assert remote.bodies() == []
    assert out.startswith("extractkit: dry run, nothing sent\nendpoint generic: model m")
    assert "5 input(s), 5 request(s)" in out and "estimated cost: $" in out
    code, out, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 5)),
                             "--dry-run", "--json", "--price-table", str(prices))
    report = json.loads(out)
    (row,) = report["estimates"]
    assert row["requests"] == 5 and row["price"] == {"input": 1.0, "output": 2.0}
    assert row["cost"] == pytest.approx(
        (row["prompt_tokens"] * 1.0 + row["completion_tokens"] * 2.0) / 1e6)
    assert remote.bodies() == []


def test_dry_run_counts_what_the_real_run_sends(remote, tmp_path):
    """Chunked documents: one request per chunk, the same requests as the real run."""
    doc = tmp_path / "long.txt"
    doc.write_text(" ".join(f"word{j}" for j in range(1500)))
    short = tmp_path / "short.txt"
    short.write_text("Ada is 36")
    args = ["run", "schemas/person.py", str(doc), str(short), "--chunk-tokens", "300"]
    code, out, err = run_cli(*args, "--dry-run", "--json")
    assert code == 0, err
    (row,) = json.loads(out)["estimates"]
    code, _, err = run_cli(*args)
    assert code == 0, err
    sent = remote.bodies()
    assert row["requests"] == len(sent) > 3 and row["inputs"] == 2
    tokenizer = tokenizer_for("m", "generic")
    assert row["prompt_tokens"] == sum(prompt_tokens(body, tokenizer) for body in sent)


def test_dry_run_with_resume_counts_what_is_left(remote, tmp_path):
    out_file = tmp_path / "out.jsonl"
    code, _, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 2)), "-o",
                           str(out_file))
    assert code == 0, err
    code, out, _ = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 5)), "-o",
                           str(out_file), "--resume", "--dry-run", "--json")
    report = json.loads(out)
    assert report["skipped"] == 2 and report["estimates"][0]["inputs"] == 3
    assert len(out_file.read_text().splitlines()) == 2  # the records file is untouched


def test_dry_run_needs_no_key_for_a_named_model(offline, tmp_path):
    code, out, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 3)),
                             "--model", "gpt-4o-mini", "--dry-run")
    assert code == 0, err
    assert "endpoint openai: model gpt-4o-mini, tokens counted with tiktoken o200k_base" in out
    assert "estimated cost: $0.0" in out


def test_dry_run_of_an_unpriced_model_says_so(offline, tmp_path):
    code, out, _ = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 1)),
                           "--model", "my-finetune", "--dry-run")
    assert code == 0
    assert "estimated cost: unknown: no price for 'my-finetune' (add it with --price-table)" in out


def test_dry_run_on_the_embedded_model_counts_with_its_vocabulary(offline, tmp_path):
    code, out, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 2)), "--dry-run")
    assert code == 0, err
    assert "tokens counted with the embedded model's vocabulary" in out
    assert "estimated cost: $0 (free)" in out


def test_dry_run_names_an_unreadable_input_and_counts_the_others(remote, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Ada is 36")
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00garbage\x80")
    code, out, err = run_cli("run", "schemas/person.py", str(folder), "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["unreadable"] == 1 and report["estimates"][0]["inputs"] == 1
    assert "bad.txt: not counted" in err


def test_dry_run_for_the_batch_api_says_it_is_priced_online(remote, tmp_path):
    code, out, _ = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 2)), "--dry-run",
                           "--batch-api")
    assert code == 0 and "the Batch API charges about half" in out
    assert remote.bodies() == []


def test_json_without_dry_run_is_a_usage_error(remote, tmp_path):
    code, _, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 2)), "--json")
    assert code == 2 and "--json goes with --dry-run" in err


FUNCTION_TARGET = '''from pydantic import BaseModel
from extractkit import extract


class Person(BaseModel):
    name: str
    age: int


@extract
def person(text: str) -> Person:
    """Who is this? {{ text }}"""
'''


def test_dry_run_of_an_extract_function_renders_its_docstring(offline, tmp_path):
    target = tmp_path / "fn.py"
    target.write_text(FUNCTION_TARGET)
    code, out, err = run_cli("run", f"{target}:person", str(_inputs(tmp_path, 2)),
                             "--model", "gpt-4.1-mini", "--dry-run", "--json")
    assert code == 0, err
    (row,) = json.loads(out)["estimates"]
    assert row["requests"] == 2 and row["tokenizer"] == "tiktoken o200k_base"
    assert row["cost"] > 0
