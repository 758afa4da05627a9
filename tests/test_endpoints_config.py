"""Endpoints as data and the config file: extractkit.toml, [tool.extractkit], names, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, Extractor, Profile
from extractkit.endpoints import Endpoint, find_config, load_config
from extractkit.pricing import Price
from tests.cli_runner import run_cli
from tests.scripted_server import ScriptedServer, completion


class Person(BaseModel):
    name: str


def _toml(tmp_path: Path, text: str, name: str = "extractkit.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_endpoint_holds_the_name_of_its_key_variable_and_the_request_carries_the_key(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHEAP_KEY", "sk-cheap-123456")
    server.push(completion('{"name": "Ada"}'))
    cheap = Endpoint("cheap", base_url=server.base_url, model="m-cheap", api_key_env="CHEAP_KEY",
                     profile="vllm")
    assert "sk-cheap" not in repr(cheap)
    result = Extractor(endpoint=cheap, transport_retries=0).extract_result(Person, "Ada.")
    assert result.value == Person(name="Ada")
    assert result.endpoint == "cheap" and result.attempts[0].endpoint == "cheap"
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer sk-cheap-123456"
    assert request.body["model"] == "m-cheap"
    assert request.body["response_format"]["type"] == "json_schema"  # the vllm profile


def test_a_missing_key_variable_is_an_error_naming_the_endpoint_and_the_variable() -> None:
    cheap = Endpoint("cheap", base_url="http://127.0.0.1:9/v1", model="m",
                     api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(ConfigurationError, match=r"'cheap'.*NO_SUCH_KEY_VAR"):
        Extractor(endpoint=cheap).extract(Person, "Ada.")


def test_explicit_settings_win_over_the_endpoints_own(server: ScriptedServer) -> None:
    server.push(completion('{"name": "Ada"}'))
    ep = Endpoint("e", base_url=server.base_url, model="from-endpoint")
    Extractor(endpoint=ep, model="from-call").extract(Person, "Ada.")
    assert server.bodies()[0]["model"] == "from-call"


def test_a_profile_name_or_object_as_endpoint_still_means_a_profile(
        server: ScriptedServer, client) -> None:  # type: ignore[no-untyped-def]
    server.push(completion('{"name": "Ada"}'), completion('{"name": "Ada"}'))
    Extractor(client, model="m", endpoint="llamacpp").extract(Person, "Ada.")
    Extractor(client, model="m", endpoint=Profile("mine", modes=("tools",))).extract(Person, "A")
    first, second = server.bodies()
    assert first["response_format"]["type"] == "json_object" and "tools" in second


def test_bad_endpoint_values_are_errors_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match="'e': concurrency"):
        Endpoint("e", concurrency=0)
    with pytest.raises(ConfigurationError, match="'e': price"):
        Endpoint("e", price={"input": 1})  # type: ignore[arg-type]
    assert Endpoint("e", price={"input": 1, "output": 2}).price == Price(1.0, 2.0)  # type: ignore[arg-type]


def test_the_config_file_names_endpoints_and_chain_defaults(tmp_path: Path) -> None:
    path = _toml(tmp_path, """
default = "cheap"
fallback = ["strong"]
routing = "cheapest"
escalate_with_errors = true
[breaker]
failures = 3
cooldown = 2.5
[endpoints.cheap]
base_url = "http://127.0.0.1:1/v1"
model = "small"
api_key_env = "CHEAP_KEY"
profile = "vllm"
price = {input = 0.1, output = 0.4}
context_window = 8192
concurrency = 4
weight = 3
[endpoints.strong]
model = "gpt-4o"
""")
    config = load_config(path)
    cheap = config.get("cheap")
    assert cheap == Endpoint("cheap", base_url="http://127.0.0.1:1/v1", model="small",
                             api_key_env="CHEAP_KEY", profile="vllm", price=Price(0.1, 0.4),
                             context_window=8192, concurrency=4, weight=3)
    assert config.default == "cheap" and config.fallback == ("strong",)
    assert config.routing == "cheapest" and config.escalate_with_errors is True
    assert config.breaker is not None and (config.breaker.failures, config.breaker.cooldown) == (3, 2.5)
    with pytest.raises(ConfigurationError, match=r"no endpoint named 'nope' in .*extractkit.toml; "
                                                 r"endpoints defined: cheap, strong"):
        config.get("nope")


@pytest.mark.parametrize(("text", "message"), [
    ('[endpoints.a]\nmodel = "m"\napi_key = "sk-live-abcdef"\n', r"endpoints\.a\.api_key: API keys do not belong"),
    ('[endpoints.a]\nopenai_key = "x"\n', r"endpoints\.a\.openai_key: API keys do not belong"),
    ('api_key = "sk-x"\n', r": api_key: API keys do not belong"),
    ('[endpoints.a]\nmodle = "m"\n', r"endpoints\.a\.modle: unknown key"),
    ('[endpoints.a]\nconcurrency = "4"\n', r"endpoints\.a\.concurrency: must be an integer, got '4'"),
    ('[endpoints.a]\nweight = -1\n', r"endpoints\.a: .*weight must be an integer >= 0"),
    ('[endpoints.a]\nprice = {input = "x", output = 1}\n', r"endpoints\.a\.price: must be"),
    ('colour = "blue"\n', r"colour: unknown key"),
    ('fallback = ["ghost"]\n', r"fallback: no endpoint named 'ghost'"),
    ('routing = "random"\n', r"routing: must be one of order, cheapest, weighted"),
    ('[breaker]\nfailures = 0\n', r"breaker: breaker failures must be an integer >= 1"),
    ('not toml [', r"is not valid TOML"),
])
def test_config_mistakes_are_errors_naming_the_file_and_the_key(
        tmp_path: Path, text: str, message: str) -> None:
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigurationError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "sk-live-abcdef" not in str(info.value)


def test_pyproject_tool_table_is_found_and_its_errors_say_tool_extractkit(tmp_path: Path) -> None:
    _toml(tmp_path, '[project]\nname = "x"\n[tool.extractkit.endpoints.a]\nmodel = "m"\n',
          "pyproject.toml")
    found = find_config(tmp_path)
    assert found == tmp_path / "pyproject.toml"
    assert load_config(found).get("a").model == "m"
    _toml(tmp_path, '[tool.extractkit.endpoints.a]\nmodel = 3\n', "pyproject.toml")
    with pytest.raises(ConfigurationError, match=r"pyproject.toml: tool\.extractkit\.endpoints\.a\.model"):
        load_config(tmp_path / "pyproject.toml")
    (tmp_path / "other").mkdir()
    _toml(tmp_path / "other", '[project]\nname = "x"\n', "pyproject.toml")
    assert find_config(tmp_path / "other") is None
    _toml(tmp_path / "other", '[endpoints.b]\nmodel = "m"\n')
    assert find_config(tmp_path / "other") == tmp_path / "other" / "extractkit.toml"


def test_endpoint_name_and_the_files_default_pick_the_endpoint(
        server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _toml(tmp_path, f"""
default = "b"
[endpoints.a]
base_url = "{server.base_url}"
model = "model-a"
[endpoints.b]
base_url = "{server.base_url}"
model = "model-b"
""")
    server.push(completion('{"name": "Ada"}'), completion('{"name": "Ada"}'),
                completion('{"name": "Ada"}'))
    assert Extractor(endpoint_name="a", config=path).extract_result(Person, "A").endpoint == "a"
    assert Extractor(config=path).extract_result(Person, "A").endpoint == "b"
    monkeypatch.chdir(tmp_path)  # found in the working directory
    assert Extractor(endpoint_name="a").extract_result(Person, "A").endpoint == "a"
    assert [b["model"] for b in server.bodies()] == ["model-a", "model-b", "model-a"]
    with pytest.raises(ConfigurationError, match="endpoint= or endpoint_name=, not both"):
        Extractor(endpoint="vllm", endpoint_name="a")


def test_cli_endpoint_name_from_the_config_file_and_the_record_names_it(
        server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_KEY", "sk-a-7654321")
    config = _toml(tmp_path, f"""
[endpoints.a]
base_url = "{server.base_url}"
model = "model-a"
api_key_env = "A_KEY"
""")
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(Person.model_json_schema()), encoding="utf-8")
    doc1, doc2 = tmp_path / "1.txt", tmp_path / "2.txt"
    doc1.write_text("Ada.", encoding="utf-8")
    doc2.write_text("Bob.", encoding="utf-8")
    server.push(completion('{"name": "Ada"}'), completion('{"name": "Bob"}'))
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("run", str(schema), str(doc1), str(doc2), "--config", str(config),
                           "--endpoint-name", "a", "-o", str(out))
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["endpoint"] for r in records} == {"a"}
    assert all(r["attempts"] == [{"endpoint": "a", "model": "scripted-model",
                                  "usage": r["usage"], "cost": None}] for r in records)
    assert server.requests[0].headers["authorization"] == "Bearer sk-a-7654321"
    code, _, err = run_cli("run", str(schema), str(doc1), "--config", str(config),
                           "--endpoint-name", "zz")
    assert code == 2 and "no endpoint named 'zz'" in err and "endpoints defined: a" in err
