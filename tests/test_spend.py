"""Spending limits (``max_cost=``, ``max_tokens_total=``, ``--max-cost``,
``--max-tokens-total``): a batch stops before an input that would pass them,
over the real ``openai`` SDK and a scripted server that reports usage."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from extractkit import AsyncExtractor, Extractor, SpendLimitReached
from extractkit.drivers.jobs import ItemResult
from extractkit.errors import ConfigurationError
from extractkit.pricing import Price
from extractkit.results import Usage
from extractkit.settings import Settings
from extractkit.spend import SpendLimit
from tests.cli_runner import run_cli
from tests.scripted_server import BodyReply, completion

#: every answer costs 1,000 prompt + 100 completion tokens: $0.0012 at these prices
PRICES = {"m": Price(1.0, 2.0)}
ITEM_COST = 0.0012


class Person(BaseModel):
    name: str
    age: int


def answer(body: dict[str, Any]) -> BodyReply:
    return completion(json.dumps({"name": "Ada", "age": 36}), usage=(1000, 100), model="m")


def _item(tokens: tuple[int, int] = (1000, 100), *, cached: bool = False) -> ItemResult[Any]:
    usage = Usage(tokens[0], tokens[1], sum(tokens))
    return ItemResult("x", 0, usage=usage, cached=cached)


# -- the rule, without I/O ----------------------------------------------------------


def test_until_one_cost_is_known_inputs_start_one_at_a_time() -> None:
    limit = SpendLimit(max_cost=1.0, prices=PRICES, model="m")
    assert limit.may_start(0) and not limit.may_start(1)
    limit.add(_item())
    assert limit.may_start(5)


def test_an_input_starts_only_if_spent_plus_in_flight_plus_it_fit() -> None:
    limit = SpendLimit(max_cost=0.005, prices=PRICES, model="m")
    limit.add(_item())  # $0.0012 spent
    assert limit.may_start(2)  # 0.0012 + 3 * 0.0012 = 0.0048
    assert not limit.may_start(3)  # 0.0012 + 4 * 0.0012 = 0.0060
    assert limit.cost == pytest.approx(ITEM_COST)


def test_the_most_an_input_cost_is_what_the_next_is_expected_to_cost() -> None:
    limit = SpendLimit(max_tokens_total=5000, model="m")
    limit.add(_item((100, 0)))
    limit.add(_item((1900, 0)))  # a long one: the next may be as long
    assert limit.expected() == (0.0, 1900)
    assert limit.may_start(0) and not limit.may_start(1)  # 2000 + 2 * 1900 > 5000


def test_cached_and_requestless_items_cost_nothing_and_teach_nothing() -> None:
    limit = SpendLimit(max_tokens_total=10, model="m")
    limit.add(_item(cached=True))
    limit.add(_item((0, 0)))
    assert limit.tokens == 0 and limit.expected() is None and limit.finished == 2


def test_an_unknown_price_with_max_cost_is_refused_before_anything() -> None:
    with pytest.raises(ConfigurationError, match="max_cost needs a price for model 'mystery'"):
        SpendLimit(max_cost=1.0, model="mystery")
    SpendLimit(max_tokens_total=100, model="mystery")  # tokens need no price
    SpendLimit(max_cost=1.0, model="smollm2-135m-instruct", local=True)  # free


@pytest.mark.parametrize(("name", "value"), [("max_cost", 0), ("max_cost", -1.0),
                                             ("max_cost", True), ("max_tokens_total", 0),
                                             ("max_tokens_total", 1.5)])
def test_bad_limits_name_the_setting(name: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.of(**{name: value})


# -- Extractor.map over HTTP ------------------------------------------------------------


def test_map_stops_before_passing_max_cost_and_counts_what_was_in_flight(server, client):
    server.default = answer
    ex = Extractor(client=client, model="m", prices=PRICES)
    items = []
    with pytest.raises(SpendLimitReached) as caught:
        for item in ex.map(Person, [f"text {i}" for i in range(20)], concurrency=4,
                           max_cost=0.005):
            items.append(item)
    assert len(items) == 4 and all(item.ok for item in items)  # 4 x 0.0012 <= 0.005 < 5 x
    assert len(server.bodies()) == 4
    error = caught.value
    assert error.spent_cost == pytest.approx(4 * ITEM_COST) and error.spent_tokens == 4400
    assert "spending limit reached after 4 input(s)" in str(error)
    assert "$0.0048 of max_cost $0.0050" in str(error)


def test_in_input_order_the_stop_is_the_same(server, client):
    server.default = answer
    ex = Extractor(client=client, model="m", prices=PRICES)
    items = []
    with pytest.raises(SpendLimitReached):
        for item in ex.map(Person, [str(i) for i in range(9)], concurrency=3, ordered=True,
                           max_cost=0.005):
            items.append(item)
    assert [item.id for item in items] == ["0", "1", "2", "3"]


def test_a_limit_that_is_not_reached_changes_nothing(server, client):
    server.default = answer
    ex = Extractor(client=client, model="m", prices=PRICES, max_cost=1.0)  # as a setting
    items = list(ex.map(Person, ["a", "b", "c"], concurrency=2))
    assert [item.ok for item in items] == [True, True, True]


def test_re_asks_are_paid_for_and_counted(server, client):
    server.push(completion('{"name": "Ada"}', usage=(1000, 100), model="m"))  # invalid: re-ask
    server.default = answer
    ex = Extractor(client=client, model="m", prices=PRICES)
    with pytest.raises(SpendLimitReached) as caught:
        list(ex.map(Person, ["a", "b", "c"], concurrency=1, max_tokens_total=4000))
    # the first input took two requests (2,200 tokens): 2,200 + 2,200 > 4,000
    assert caught.value.spent_tokens == 2200 and len(server.bodies()) == 2


def test_async_map_stops_the_same_way(server):
    server.default = answer

    async def main() -> tuple[int, SpendLimitReached | None]:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        ex = AsyncExtractor(client=client, model="m")
        count = 0
        try:
            async for _ in ex.map(Person, [str(i) for i in range(10)], concurrency=3,
                                  max_tokens_total=3500):
                count += 1
        except SpendLimitReached as exc:
            return count, exc
        finally:
            await client.close()
        return count, None

    count, error = asyncio.run(main())
    assert count == 3 and error is not None and error.spent_tokens == 3300


def test_one_limit_shared_by_two_batches(server, client):
    server.default = answer
    ex = Extractor(client=client, model="m")
    shared = SpendLimit(max_tokens_total=5000, model="m")
    assert len(list(ex.map(Person, ["a", "b"], spend=shared))) == 2
    with pytest.raises(SpendLimitReached):
        list(ex.map(Person, ["c", "d", "e"], spend=shared))
    assert shared.tokens == 4400  # 2 + 2 inputs: a fifth would pass 5,000


def test_max_cost_with_an_unpriced_model_fails_before_any_request(server, client):
    server.default = answer
    ex = Extractor(client=client, model="unpriced-model")
    with pytest.raises(ConfigurationError, match="unpriced-model"):
        ex.map(Person, ["a"], max_cost=1.0)
    assert server.bodies() == []


def test_the_batch_api_refuses_a_limit(server, client):
    ex = Extractor(client=client, model="m", prices=PRICES)
    with pytest.raises(ConfigurationError, match="Batch API"):
        ex.map(Person, ["a"], batch_api=True, max_cost=1.0)


def test_a_decorated_function_takes_the_limit_too(server, client):
    from extractkit import extract

    server.default = answer

    @extract(client=client, model="m")
    def person(text: str) -> Person:
        """{{ text }}"""

    with pytest.raises(SpendLimitReached):
        list(person.map(["a", "b", "c"], max_tokens_total=2000))
    assert len(server.bodies()) == 1


# -- the command line ---------------------------------------------------------------


@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    server.default = answer
    return server


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"m": {"input": 1.0, "output": 2.0}}))
    return path


def _inputs(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"P{i} is {i}"}) + "\n"
                            for i in range(count)))
    return path


def test_cli_stops_at_max_cost_with_exit_3_and_resume_finishes(remote, prices, tmp_path):
    inputs, out = _inputs(tmp_path, 10), tmp_path / "out.jsonl"
    base = ["run", "schemas/person.py", str(inputs), "-o", str(out), "--price-table",
            str(prices), "--concurrency", "3"]
    code, _, err = run_cli(*base, "--max-cost", "0.005")
    assert code == 3, err
    assert "stopped: spending limit reached after 4 input(s)" in err
    assert "rerun with --resume to do the rest" in err
    assert len(out.read_text().splitlines()) == 4 and len(remote.bodies()) == 4
    code, _, err = run_cli(*base, "--resume", "--max-cost", "0.02")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["input"] for r in records) == sorted(f"d{i}" for i in range(10))
    assert len(remote.bodies()) == 10  # nothing was done twice


def test_cli_max_tokens_total(remote, tmp_path):
    code, stdout, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 5)),
                                "--max-tokens-total", "2500")
    assert code == 3 and len(stdout.splitlines()) == 2, err
    assert "2,200 tokens of max_tokens_total 2,500" in err


def test_cli_unknown_price_is_exit_2_before_sending(remote, tmp_path):
    code, _, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 3)),
                           "--max-cost", "1")
    assert code == 2 and "max_cost needs a price for model 'm'" in err
    assert remote.bodies() == []


def test_cli_refuses_a_limit_with_the_batch_api(remote, prices, tmp_path):
    code, _, err = run_cli("run", "schemas/person.py", str(_inputs(tmp_path, 2)),
                           "--max-cost", "1", "--price-table", str(prices), "--batch-api")
    assert code == 2 and "--batch-api" in err


def test_cli_counts_chunked_documents_against_the_limit(remote, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(" ".join(f"word{j}" for j in range(400)))
    code, stdout, err = run_cli("run", "schemas/person.py", str(folder), "--chunking", "on",
                                "--chunk-tokens", "400", "--max-tokens-total", "8000")
    assert code == 3, err
    records = [json.loads(line) for line in stdout.splitlines()]
    per_document = records[0]["document"]["chunks"] * 1100  # one request per chunk
    assert per_document > 1100  # read in chunks indeed
    done = len(records)
    assert done * per_document <= 8000 < (done + 1) * per_document and done < 3
    assert len(remote.bodies()) * 1100 == done * per_document
    assert f"{done * per_document:,} tokens of max_tokens_total 8,000" in err


def test_cli_limit_over_an_extract_function(remote, tmp_path):
    from tests.test_estimate import FUNCTION_TARGET

    target = tmp_path / "fn.py"
    target.write_text(FUNCTION_TARGET)
    code, stdout, err = run_cli("run", f"{target}:person", str(_inputs(tmp_path, 6)),
                                "--max-tokens-total", "3000", "--concurrency", "2")
    assert code == 3, err
    assert len(stdout.splitlines()) == 2 and len(remote.bodies()) == 2


def test_the_progress_line_shows_the_limits():
    from extractkit.pricing import PriceTable
    from extractkit.tally import Tally

    tally = Tally(PriceTable(PRICES), model="m")
    tally.spend = SpendLimit(max_cost=0.005, max_tokens_total=9000, prices=PRICES, model="m")
    tally.add(_item())
    line = tally.line()
    assert "1,100 of max 9,000 tokens" in line and "~$0.0012 of max $0.0050" in line
