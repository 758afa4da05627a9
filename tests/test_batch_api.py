"""The provider Batch API, against scripted Files and Batches endpoints on loopback,
through the real ``openai`` SDK."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, Extractor, RefusalError
from extractkit.batch_api import ENDPOINT, BatchAPI, batch_line
from extractkit.cli import main
from tests.batch_server import install
from tests.scripted_server import BodyReply, completion, error


class Person(BaseModel):
    name: str
    age: int


def _user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def answer(body: dict[str, Any]) -> BodyReply:
    """Valid for most; ``bad`` answers wrong until re-asked; ``refuse`` refuses."""
    text = _user_text(body)
    name, _, age = text.partition(" is ")
    if name == "refuse":
        return completion(refusal="I cannot help with that.")
    if name == "bad" and len(body["messages"]) == 2:
        return completion('{"name": "bad"}')
    return completion(json.dumps({"name": name, "age": int(age)}))


FAST = BatchAPI(poll_interval=0.01)


def test_round_trip_matches_by_custom_id_and_reasks_online(server, client):
    server.default = answer
    script = install(server, polls=3, drop={"3"})
    statuses: list[str] = []
    ex = Extractor(client=client, model="m")
    inputs = [
        ("a", "Ada is 36"),
        ("b", "bad is 1"),
        ("c", "refuse is 2"),
        ("d", "Dan is 4"),
        ("e", "Eve is 5"),
    ]
    options = BatchAPI(
        poll_interval=0.01, on_status=lambda b: statuses.append(b.status), metadata={"job": "test"}
    )
    items = {item.id: item for item in ex.map(Person, inputs, batch_api=options)}

    # the upload and the batch, as the Batch API wants them
    upload = next(r for r in server.requests if r.path == "/v1/files")
    assert b'name="purpose"' in upload.raw_body and b"batch" in upload.raw_body
    created = server.bodies("/v1/batches")[0]
    assert created["endpoint"] == ENDPOINT == "/v1/chat/completions"
    assert created["completion_window"] == "24h"
    assert created["metadata"] == {"job": "test"}
    assert statuses == ["validating", "in_progress", "in_progress", "completed"]

    # each line is exactly the request the online path sends (the core loop's request())
    lines = script.input_lines("batch_1")
    assert [line["custom_id"] for line in lines] == ["0", "1", "2", "3", "4"]
    for line, (_, text) in zip(lines, inputs, strict=True):
        assert line["method"] == "POST" and line["url"] == ENDPOINT
        assert line["body"] == ex.render(Person, text)

    # answers (written in reverse order) matched back to their inputs
    assert items["a"].value == Person(name="Ada", age=36)
    assert items["e"].value == Person(name="Eve", age=5)
    assert items["b"].value == Person(name="bad", age=1)  # re-asked online
    assert len(items["b"].result.attempts) == 2
    assert items["d"].value == Person(name="Dan", age=4)  # never ran in the batch: online
    assert isinstance(items["c"].error, RefusalError)

    online = server.bodies()
    assert len(online) == 2
    reask = next(b for b in online if _user_text(b) == "bad is 1")
    assert len(reask["messages"]) == 4 and reask["messages"][2]["role"] == "assistant"
    assert next(b for b in online if _user_text(b) == "Dan is 4") == lines[3]["body"]


def test_error_file_entries_and_a_failed_batch_go_online(server, client):
    server.default = answer
    install(
        server,
        answer=lambda body: (
            error(500, "batch worker crashed") if _user_text(body).startswith("B") else answer(body)
        ),
    )
    ex = Extractor(client=client, model="m")
    items = {i.id: i for i in ex.map(Person, [("x", "A is 1"), ("y", "B is 2")], batch_api=FAST)}
    assert items["x"].value.age == 1 and items["y"].value.age == 2
    assert [_user_text(b) for b in server.bodies()] == ["B is 2"]

    server.reset()
    install(server, final_status="failed")
    items = {i.id: i for i in ex.map(Person, [("x", "A is 1"), ("y", "B is 2")], batch_api=FAST)}
    assert all(i.ok for i in items.values())
    assert sorted(_user_text(b) for b in server.bodies()) == ["A is 1", "B is 2"]


def test_batch_answers_fill_the_cache_and_cached_requests_are_not_submitted(
    server, client, tmp_path
):
    server.default = answer
    script = install(server)
    ex = Extractor(client=client, model="m")
    cache = tmp_path / "c.sqlite"
    inputs = [("x", "A is 1"), ("y", "B is 2")]
    assert all(i.ok for i in ex.map(Person, inputs, batch_api=FAST, cache=cache))
    items = list(ex.map(Person, [*inputs, ("z", "C is 3")], batch_api=FAST, cache=cache))
    assert all(i.ok for i in items) and {i.id for i in items if i.cached} == {"x", "y"}
    assert [line["custom_id"] for line in script.input_lines("batch_2")] == ["2"]
    assert server.bodies() == []


def test_batch_line_moves_sdk_options_out_of_the_body():
    request = {
        "model": "m",
        "messages": [],
        "timeout": 5,
        "extra_headers": {"X": "1"},
        "extra_body": {"top_k": 3},
    }
    assert batch_line("7", request) == {
        "custom_id": "7",
        "method": "POST",
        "url": ENDPOINT,
        "body": {"model": "m", "messages": [], "top_k": 3},
    }


def test_batch_api_needs_an_openai_client():
    class Backend:
        profile = "generic"

        def complete(self, request: dict[str, Any]) -> Any:
            raise AssertionError("not reached")

        def stream(self, request: dict[str, Any]) -> Any:
            raise AssertionError("not reached")

    ex = Extractor(client=Backend(), model="m")
    with pytest.raises(ConfigurationError, match="Batch API"):
        list(ex.map(Person, ["A is 1"], batch_api=True))
    with pytest.raises(ConfigurationError, match="ordered"):
        list(ex.map(Person, ["A is 1"], batch_api=True, ordered=True))


def test_cli_batch_api(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    server.default = answer
    install(server)
    schema = tmp_path / "person.py"
    schema.write_text(
        "from pydantic import BaseModel\n\nclass Person(BaseModel):\n    name: str\n    age: int\n"
    )
    data = tmp_path / "in.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": n, "text": t}) + "\n"
            for n, t in [("a", "Ada is 3"), ("b", "bad is 4"), ("c", "refuse is 5")]
        )
    )
    out_file = tmp_path / "out.jsonl"
    err = io.StringIO()
    code = main(
        [
            "run",
            str(schema),
            str(data),
            "--batch-api",
            "--poll-interval",
            "0.01",
            "--output",
            str(out_file),
        ],
        out=io.StringIO(),
        err=err,
    )
    assert code == 1  # the refusal
    records = {r["input"]: r for r in map(json.loads, out_file.read_text().splitlines())}
    assert records["a"]["value"] == {"name": "Ada", "age": 3}
    assert records["b"]["value"] == {"name": "bad", "age": 4}
    assert not records["c"]["ok"] and "refused" in records["c"]["error"]
    assert "batch batch_1: completed" in err.getvalue()
    assert "2 ok, 1 failed" in err.getvalue()
    assert len(server.bodies()) == 1  # only the re-ask went online
