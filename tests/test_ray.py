"""Extraction over a Ray Data dataset (extractkit.integrations.ray) and ``run --ray``.

One local Ray cluster for the module (2 CPUs, no dashboard, no usage stats)
against the scripted loopback server through the real SDK. The workers read
the API key from the environment the cluster was started with, as on a real
cluster; nothing secret travels in the job.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from extractkit import extract
from extractkit.cli import main
from tests.scripted_server import BodyReply, completion, error
from tests.test_batch import Concurrency

ray = pytest.importorskip("ray")  # the [ray] extra (installed by dev)

from extractkit.integrations.ray import (  # noqa: E402
    Target,
    done_ids,
    fingerprint_of,
)
from extractkit.integrations.ray import extract_dataset as _extract_dataset  # noqa: E402

WORKER_KEY = "sk-worker-env-key-123"


class Person(BaseModel):
    name: str
    age: int


def answer(body: dict[str, Any]) -> BodyReply:
    """``{"name", "age"}`` from a user message ``NAME AGE``; ``bad`` never validates."""
    text = body["messages"][-1]["content"].split()
    if text[0] == "bad":
        return completion('{"name": "bad"}')
    return completion(json.dumps({"name": text[0], "age": int(text[-1])}))


@pytest.fixture(scope="module")
def cluster():
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "OPENAI_API_KEY")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["OPENAI_API_KEY"] = WORKER_KEY  # what the workers inherit
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def extract_dataset(*args: Any, **options: Any) -> Any:
    """Half a CPU per actor: the 2-CPU test cluster keeps room for the reads, filters and
    writes of a pipeline (I/O-bound actors need no whole CPU)."""
    return _extract_dataset(*args, num_cpus=0.5, **options)


def _target(server: Any, schema: Any = Person, **settings: Any) -> Target:
    return Target(schema, {"base_url": server.base_url, "model": "m", "max_retries": 0,
                           "transport_retries": 0, **settings})


def _people(count: int, start: int = 0) -> list[dict[str, str]]:
    return [{"id": f"p{i}", "text": f"Ada{i} {i}"} for i in range(start, start + count)]


def test_rows_carry_values_usage_and_a_failed_item_without_failing_the_dataset(
    cluster, server
):
    server.default = answer
    rows = [*_people(5), {"id": "oops", "text": "bad 1"}]
    out = extract_dataset(ray.data.from_items(rows), _target(server), id_column="id",
                          batch_size=2).take_all()
    by_id = {row["id"]: row for row in out}
    assert set(by_id) == {"p0", "p1", "p2", "p3", "p4", "oops"}
    for i in range(5):
        row = by_id[f"p{i}"]
        assert row["ok"] and row["error"] is None
        assert json.loads(row["value"]) == {"name": f"Ada{i}", "age": i}
        assert (row["value.name"], row["value.age"]) == (f"Ada{i}", i)  # flat schema: columns
        assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (10, 5, 15)
        assert row["fingerprint"] == fingerprint_of(_target(server))
    failed = by_id["oops"]
    assert not failed["ok"] and failed["value"] is None and failed["value.age"] is None
    assert "age" in failed["error"]  # the validation error names the field
    assert WORKER_KEY not in json.dumps(out, default=str)
    # the key came from the workers' environment: sent on every request
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {WORKER_KEY}"}


def test_global_limit_holds_across_actors_on_the_server_side(cluster, server):
    gauge = Concurrency(0.05, answer=answer)
    server.default = gauge
    ds = extract_dataset(ray.data.from_items(_people(24)), _target(server), id_column="id",
                         actors=2, concurrency=4, max_in_flight=3, batch_size=4)
    out = ds.take_all()
    assert len(out) == 24 and all(row["ok"] for row in out)
    # each actor alone could send 4 at once (8 together): the Slots actor holds it at 3
    assert gauge.peak == 3


def test_written_results_resume_and_the_cache_answers_repeats(cluster, server, tmp_path):
    server.default = answer
    target = _target(server)
    results = tmp_path / "results"
    cache = tmp_path / "responses.sqlite"
    ds = extract_dataset(ray.data.from_items(_people(4)), target, id_column="id", cache=cache)
    ds.write_parquet(str(results))
    assert len(server.requests) == 4
    done = done_ids(results, fingerprint_of(target))
    assert done == {"p0", "p1", "p2", "p3"}
    assert done_ids(results, "another-fingerprint") == set()
    # the rerun over a grown corpus sends only the new inputs
    again = extract_dataset(ray.data.from_items(_people(6)), target, id_column="id",
                            skip=done, cache=cache)
    again.write_parquet(str(results))
    assert len(server.requests) == 6
    everything = ray.data.read_parquet(str(results)).take_all()
    assert sorted(row["id"] for row in everything) == [f"p{i}" for i in range(6)]
    # the same inputs again without skipping: all answered from the cache
    cached = extract_dataset(ray.data.from_items(_people(6)), target, id_column="id",
                             cache=cache).take_all()
    assert len(server.requests) == 6
    assert all(row["cached"] and row["ok"] and row["cost"] == 0.0 for row in cached)


def test_template_variable_columns_of_an_extract_function_and_hashed_ids(cluster, server):
    server.default = answer
    out = extract_dataset(
        ray.data.from_items([{"who": "Bo", "years": 7}, {"who": "Cy", "years": 9}]),
        _target(server, schema=person_of), column=["who", "years"],
    ).take_all()
    assert sorted(json.loads(row["value"])["name"] for row in out) == ["Bo", "Cy"]
    assert all(len(row["id"]) == 16 for row in out)  # a stable hash of the input
    assert len({row["id"] for row in out}) == 2


@extract
def person_of(who: str, years: int) -> Person:
    """{{ who }} {{ years }}"""


def test_a_fatal_endpoint_error_stops_the_dataset_with_one_message(cluster, server):
    from extractkit.integrations.ray import WorkerStopped

    server.default = lambda body: error(401, "invalid api key")
    ds = extract_dataset(ray.data.from_items(_people(6)), _target(server), id_column="id")
    from extractkit.integrations.ray import raise_cause

    with pytest.raises(WorkerStopped, match=r"^AuthenticationError: .*invalid api key"):
        try:
            ds.take_all()
        except Exception as exc:
            raise_cause(exc)


def test_missing_column_is_named(cluster):
    from extractkit.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"'body'.*it has 'id', 'text'"):
        extract_dataset(ray.data.from_items(_people(1)), Target(Person), column="body")


def test_a_key_in_the_settings_is_refused_before_anything_runs():
    from extractkit.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY") as caught:
        Target(Person, {"api_key": "sk-do-not-ship-me-123456"})
    assert "sk-do-not-ship" not in str(caught.value)


def _run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), err.getvalue()


def test_cli_ray_writes_the_local_batch_records_and_resumes(cluster, server, tmp_path):
    server.default = answer
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(Person.model_json_schema()))
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(r) + "\n" for r in [*_people(5), {"id": "x",
                                                                           "text": "bad 2"}]))
    common = [str(schema), str(inputs), "--base-url", server.base_url, "--model", "m",
              "--max-retries", "0", "--concurrency", "3"]
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    code, _ = _run("run", *common, "-o", str(local_out))
    assert code == 1  # one item failed
    sent = len(server.requests)
    code, err = _run("run", *common, "--ray", "-o", str(ray_out))
    assert code == 1, err
    assert "x:" in err and "5 ok, 1 failed" in err
    assert len(server.requests) == 2 * sent

    def records(path: Path) -> list[dict[str, Any]]:
        return sorted((json.loads(line) for line in path.read_text().splitlines()),
                      key=lambda r: r["input"])

    assert records(ray_out) == records(local_out)  # the same records, field for field
    code, err = _run("run", *common, "--ray", "--resume", "-o", str(ray_out))
    assert len(server.requests) == 2 * sent + 1  # only the failed one is redone
    assert "0 ok, 1 failed, 5 already done" in err


@pytest.mark.local_model
def test_embedded_model_one_per_actor(cluster):
    out = extract_dataset(
        ray.data.from_items([{"text": "Ada Lovelace is 36."}, {"text": "Bo Diddley, 40"}]),
        Target(Person, {"local": True, "max_retries": 1}), actors=1, concurrency=1,
    ).take_all()
    assert len(out) == 2
    for row in out:  # grammar-constrained decoding: always a valid Person
        assert row["ok"], row["error"]
        assert row["cost"] == 0.0 and row["model"]
        value = json.loads(row["value"])
        assert isinstance(value["name"], str) and isinstance(value["age"], int)
