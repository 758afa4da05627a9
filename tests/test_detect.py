"""endpoint="auto": server-kind detection against scripted loopback servers that answer
like Ollama, vLLM, llama.cpp's server, OpenAI and an unknown server; its caches; and the
profiles data file. (The real llama_cpp.server: tests/test_llama_server.py.)"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, Extractor
from extractkit.detect import Detector, default_detector, detect_endpoint, is_loopback
from extractkit.profiles import (
    CATALOGUE,
    PROFILES_FILE,
    get_profile,
    load_profiles,
    profile_by_host,
    profile_for_base_url,
    profile_names,
)
from extractkit.settings import Settings
from tests.cli_runner import run_cli
from tests.scripted_server import RecordedRequest, ScriptedServer, completion, json_reply

SECRET = "sk-detect-secret-42"


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(autouse=True)
def _fresh_detections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    default_detector().forget()
    yield
    default_detector().forget()


def _models(owned_by: str):
    def handler(srv: ScriptedServer, req: RecordedRequest):
        return json_reply({"object": "list", "data": [
            {"id": "m1", "object": "model", "created": 0, "owned_by": owned_by}]})
    return handler


def _answer(payload: object):
    return lambda srv, req: json_reply(payload)


def _server(owned_by: str = "scripted", **routes: object) -> ScriptedServer:
    srv = ScriptedServer()
    srv.add_route("GET", "/v1/models", _models(owned_by))
    for path, payload in routes.items():
        srv.add_route("GET", "/" + path.replace("__", "/"), _answer(payload))
    return srv


def _gets(srv: ScriptedServer) -> list[str]:
    return [r.path for r in srv.requests if r.method == "GET"]


KINDS = {
    # what the server answers → the profile, and the evidence named in the reason
    "ollama": (dict(owned_by="library", api__version={"version": "0.5.7"}), "ollama",
               "/api/version"),
    "vllm": (dict(owned_by="vllm", version={"version": "0.6.4"}), "vllm", "owned_by 'vllm'"),
    "llama-server": (dict(owned_by="llamacpp"), "llamacpp", "owned_by 'llamacpp'"),
    "llama-server-props": (dict(props={"default_generation_settings": {"n_ctx": 4096},
                                       "total_slots": 1}), "llamacpp", "/props"),
    "llama-cpp-python": (dict(owned_by="me", **{"openapi.json": {
        "info": {"title": "🦙 llama.cpp Python API", "version": "0.3.36"}}}),
        "llamacpp", "info.title"),
    "openai": (dict(owned_by="system"), "openai", "owned_by 'system'"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_server_kind_gets_its_profile_with_the_reason(kind: str) -> None:
    routes, profile, evidence = KINDS[kind]
    with _server(**routes) as srv:  # type: ignore[arg-type]
        found = detect_endpoint(srv.base_url, api_key=SECRET)
        assert (found.profile, found.detected, found.source) == (profile, True, "server")
        assert evidence in found.reason
        assert found.requests == len(_gets(srv)) >= 1
        assert SECRET not in found.reason


def test_owned_by_decides_in_one_request() -> None:
    with _server(owned_by="vllm") as srv:
        assert detect_endpoint(srv.base_url).profile == "vllm"
        assert _gets(srv) == ["/v1/models"]


def test_an_unknown_server_gets_the_fallback_with_the_reason(caplog) -> None:
    with _server() as srv, caplog.at_level(logging.INFO, logger="extractkit.detect"):
        ex = Extractor(openai.OpenAI(base_url=srv.base_url, api_key=SECRET, max_retries=0),
                       model="m", endpoint="auto")
        assert ex._engine.profile.name == "generic"
        warning = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warning) == 1
        text = warning[0].getMessage()
        assert "not detected" in text and "owned_by scripted" in text and "'generic'" in text
        assert SECRET not in caplog.text
        # every probe of the data file was tried once, then no more
        probes = {s.probe for s in CATALOGUE.signatures if s.probe}
        assert sorted(_gets(srv)) == sorted(["/v1/models", *probes])


def test_an_unreachable_server_falls_back_and_is_asked_again(caplog) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"http://127.0.0.1:{port}/v1"
    with caplog.at_level(logging.WARNING, logger="extractkit.detect"):
        profile = Settings.of(base_url=url, endpoint="auto").resolve().profile
    assert profile.name == "generic"
    assert "unreachable" in caplog.text and url in caplog.text
    again = detect_endpoint(url)
    assert again.source == "server" and again.requests == 1  # not cached


def test_an_oversized_answer_is_not_read_to_the_end() -> None:
    from extractkit.detect import MAX_ANSWER_BYTES

    huge = {"info": {"title": "llama.cpp"}, "pad": "x" * (2 * MAX_ANSWER_BYTES)}
    with _server(**{"openapi.json": huge}) as srv:
        found = detect_endpoint(srv.base_url)
    assert found.profile == "generic" and "/openapi.json" in found.reason


def test_the_key_goes_to_models_only_and_never_to_disk(tmp_path: Path) -> None:
    cache = tmp_path / "endpoints.json"
    detector = Detector(cache_file=cache, persist_loopback=True)
    with _server(api__version={"version": "0.5.7"}) as srv:
        assert detector.detect(srv.base_url, api_key=SECRET).profile == "ollama"
        auth = {r.path: r.headers.get("authorization") for r in srv.requests}
    assert auth["/v1/models"] == f"Bearer {SECRET}"
    assert all(v is None for k, v in auth.items() if k != "/v1/models")
    assert SECRET not in cache.read_text()
    assert json.loads(cache.read_text())["endpoints"]


def test_a_second_extractor_sends_no_detection_request() -> None:
    with _server(api__version={"version": "0.5.7"}) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        first = Extractor(client, model="m", endpoint="auto")
        assert first._engine.profile.name == "ollama"
        sent = len(srv.requests)
        second = Extractor(client, model="m", endpoint="auto")
        assert second._engine.profile.name == "ollama"
        assert len(srv.requests) == sent
        assert detect_endpoint(srv.base_url).source == "memory"


def test_detections_expire(tmp_path: Path) -> None:
    now = [1000.0]
    cache = tmp_path / "endpoints.json"
    detector = Detector(cache_file=cache, ttl=60, persist_loopback=True, clock=lambda: now[0])
    with _server(owned_by="vllm") as srv:
        assert detector.detect(srv.base_url).source == "server"
        now[0] += 59
        assert detector.detect(srv.base_url).source == "memory"
        # another process (a new detector) reads the disk cache: no request
        other = Detector(cache_file=cache, ttl=60, persist_loopback=True, clock=lambda: now[0])
        assert other.detect(srv.base_url).source == "disk"
        assert len(_gets(srv)) == 1
        now[0] += 2
        assert detector.detect(srv.base_url).source == "server"  # expired: asked again
        assert other.detect(srv.base_url).source == "disk"  # ... and stored for the others
        assert len(_gets(srv)) == 2
        now[0] += 61
        assert other.detect(srv.base_url).source == "server"


def test_a_refused_models_request_is_not_cached() -> None:
    from tests.scripted_server import error

    with ScriptedServer() as srv:
        srv.add_route("GET", "/v1/models", lambda s, r: error(401, "bad key"))
        first = detect_endpoint(srv.base_url, api_key="wrong")
        assert (first.profile, first.detected) == ("generic", False)
        assert "answered 401" in first.reason
        assert detect_endpoint(srv.base_url, api_key="right").source == "server"


def test_a_disk_cache_of_other_rules_or_profiles_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "endpoints.json"
    with _server(owned_by="vllm") as srv:
        Detector(cache_file=cache, persist_loopback=True).detect(srv.base_url)
        data = json.loads(cache.read_text())
        data["endpoints"][srv.base_url]["profile"] = "no-such-profile"
        cache.write_text(json.dumps(data))
        assert Detector(cache_file=cache, persist_loopback=True).detect(
            srv.base_url).profile == "vllm"
        data = json.loads(cache.read_text())
        assert data["endpoints"][srv.base_url]["profile"] == "vllm"
        data["signatures"] = "older-rules"
        cache.write_text(json.dumps(data))
        again = Detector(cache_file=cache, persist_loopback=True).detect(srv.base_url)
        assert again.source == "server" and len(_gets(srv)) == 3


def test_loopback_detections_stay_in_the_process(tmp_path: Path) -> None:
    cache = tmp_path / "endpoints.json"
    with _server(owned_by="vllm") as srv:
        Detector(cache_file=cache).detect(srv.base_url)
    assert not cache.exists()
    assert is_loopback("http://localhost:8080/v1") and is_loopback("http://[::1]:1/v1")
    assert not is_loopback("https://api.example.com/v1")


def test_auto_extraction_uses_the_detected_profile() -> None:
    with _server(owned_by="llamacpp") as srv:
        srv.push(completion('{"name": "Ada", "age": 36}'))
        client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        value = Extractor(client, model="m", endpoint="auto").extract(Person, "Ada is 36.")
        assert value == Person(name="Ada", age=36)
        body = srv.bodies()[0]
        assert body["response_format"]["type"] == "json_object"  # llama.cpp: never json_schema
        assert body["response_format"]["schema"]["required"] == ["name", "age"]


def test_without_endpoint_an_unnamed_host_is_generic_and_nothing_is_sent(monkeypatch) -> None:
    with _server(api__version={"version": "0.5.7"}) as srv:
        resolved = Settings.of(base_url=srv.base_url, api_key="k").resolve()
        assert resolved.profile.name == "generic" and srv.requests == []
        monkeypatch.setenv("EXTRACTKIT_ENDPOINT", "auto")  # the opt-in for every extractor
        assert Settings.of(base_url=srv.base_url, api_key="k").resolve().profile.name == "ollama"


def test_a_hanging_server_holds_detection_no_longer_than_the_timeout(caplog) -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="extractkit.detect"):
            profile = Settings.of(base_url=url, endpoint="auto", timeout=0.5).resolve().profile
        elapsed = time.monotonic() - started
    assert profile.name == "generic" and "Timeout" in caplog.text
    assert elapsed < 3.0  # the per-GET detection timeout (3 s) was capped at 0.5 s


def test_a_backend_that_knows_its_profile_is_not_asked() -> None:
    from extractkit.testing import TestModel

    assert Settings.of(client=TestModel(), endpoint="auto").resolve().profile.name == "generic"
    llama = TestModel(profile="llamacpp")
    assert Settings.of(client=llama, endpoint="auto").resolve().profile.name == "llamacpp"


def test_named_hosts_and_explicit_profiles_send_nothing() -> None:
    with _server(owned_by="vllm") as srv:
        Settings.of(base_url=srv.base_url, endpoint="ollama").resolve()
        assert srv.requests == []
    assert profile_for_base_url("https://api.groq.com/openai/v1").name == "groq"
    assert Settings.of(base_url="https://api.deepseek.com", api_key="k").resolve(
    ).profile.name == "deepseek"
    assert Settings.of(base_url=None, api_key="k").resolve().profile.name == "openai"


def test_cli_verbose_says_which_profile_and_why(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(Person.model_json_schema()))
    doc = tmp_path / "a.txt"
    doc.write_text("Ada is 36.")
    with _server(api__version={"version": "0.5.7"}) as srv:
        srv.push(completion('{"name": "Ada", "age": 36}'))
        code, out, err = run_cli("run", str(schema), str(doc), "--base-url", srv.base_url,
                                 "--model", "m", "--endpoint", "auto", "-v")
    assert code == 0, err
    assert json.loads(out)["name"] == "Ada"
    assert "profile 'ollama'" in err and "/api/version" in err
    assert SECRET not in err


def test_cli_reports_a_fallback_without_verbose(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(Person.model_json_schema()))
    doc = tmp_path / "a.txt"
    doc.write_text("Ada is 36.")
    with _server() as srv:
        srv.push(completion('{"name": "Ada", "age": 36}'))
        code, out, err = run_cli("run", str(schema), str(doc), "--base-url", srv.base_url,
                                 "--model", "m", "--endpoint", "auto")
    assert code == 0, err
    assert json.loads(out) == {"name": "Ada", "age": 36}
    assert "server kind not detected" in err and "'generic'" in err
    assert logging.getLogger("extractkit.detect").handlers == []  # removed after the run


def test_a_server_echoing_the_key_cannot_put_it_in_a_reason(caplog) -> None:
    with _server(owned_by=f"Bearer {SECRET}") as srv, caplog.at_level(logging.INFO):
        found = detect_endpoint(srv.base_url, api_key=SECRET)
        assert not found.detected and SECRET not in found.reason
        Settings.of(base_url=srv.base_url, api_key=SECRET, endpoint="auto").resolve()
    assert SECRET not in caplog.text


# -- the profiles data file ----------------------------------------------------------


def test_every_provider_profile_links_its_documentation() -> None:
    for profile in CATALOGUE.profiles:
        assert profile.docs.startswith("https://"), profile.name
        assert profile.description, profile.name
    names = {p.name for p in CATALOGUE.profiles}
    assert {"openai", "azure-openai", "openrouter", "groq", "together", "fireworks", "deepseek",
            "mistral", "gemini", "anthropic", "ollama", "vllm", "llamacpp", "lmstudio",
            "litellm", "generic"} <= names
    assert set(profile_names()) == names | {"local"}


def test_hosts_select_profiles_by_name() -> None:
    cases = {
        "https://api.openai.com/v1": "openai",
        "https://myres.openai.azure.com/openai/deployments/x": "azure-openai",
        "https://openrouter.ai/api/v1": "openrouter",
        "https://api.together.xyz/v1": "together",
        "https://api.fireworks.ai/inference/v1": "fireworks",
        "https://api.mistral.ai/v1": "mistral",
        "https://generativelanguage.googleapis.com/v1beta/openai/": "gemini",
        "https://api.anthropic.com/v1/": "anthropic",
        "https://API.GROQ.COM/openai/v1": "groq",
    }
    for url, name in cases.items():
        found = profile_by_host(url)
        assert found is not None and found.name == name, url
    assert profile_by_host("http://127.0.0.1:8080/v1") is None
    assert profile_by_host("https://evil-api.openai.com.example.org/v1") is None


def test_profiles_keep_what_they_promise() -> None:
    anthropic = get_profile("anthropic")
    assert anthropic.resolve_mode("auto") == "tools" and not anthropic.supports_n
    with pytest.raises(ConfigurationError, match="does not support mode 'json_schema'"):
        anthropic.resolve_mode("json_schema")
    assert get_profile("together").json_object_schema
    assert get_profile("azure-openai").strict_schema
    with pytest.raises(ConfigurationError, match="'auto' is not a profile"):
        get_profile("auto")


def test_n_is_refused_where_a_profile_says_so() -> None:
    with pytest.raises(ConfigurationError, match="does not support n > 1"):
        Extractor(openai.OpenAI(base_url="https://api.groq.com/openai/v1", api_key="k"),
                  model="m", n=2).render(Person, "Ada is 36.")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text)
    return path


def test_unknown_keys_in_the_data_file_are_an_error(tmp_path: Path) -> None:
    bad = _write(tmp_path, '[[profile]]\nname = "x"\nmodes = ["tools"]\nstrict_shema = true\n')
    with pytest.raises(ConfigurationError, match=r"profile 'x': unknown key 'strict_shema'") as info:
        load_profiles(bad)
    assert str(bad) in str(info.value)
    for text, message in [
        ('[[profile]]\nname = "x"\nmodes = ["tools"]\n[[profile.detect]]\nowned = ["a"]\n',
         "unknown key 'owned'"),
        ('[[profile]]\nname = "x"\nmodes = ["tools"]\n[[profile.detect]]\nprobe = "/v"\n',
         "either owned_by, or a probe with expect"),
        ('[[profile]]\nname = "x"\nmodes = ["telepathy"]\n', "modes must be"),
        ('[[profile]]\nmodes = ["tools"]\n', "needs a name"),
        ('[[profile]]\nname = "x"\nmodes = ["tools"]\nstrict_schema = "yes"\n',
         "strict_schema must be true or false"),
        ('[[profile]]\nname = "x"\nmodes = ["tools"]\ncontext_window = 0\n',
         "context_window must be a positive integer"),
        ('[[profile]]\nname = "x"\nmodes = ["tools"]\nhosts = "api.x.com"\n',
         "hosts must be a list"),
        ('[strict_limits]\nmax_depth = 0\n', "max_depth must be a positive integer"),
        ('[[providers]]\nname = "x"\n', "unknown key 'providers'"),
        ('[[profile]\n', "cannot read profiles"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_profiles(_write(tmp_path, text))


def test_the_bundled_file_loads_to_the_registered_profiles() -> None:
    again = load_profiles(PROFILES_FILE)
    assert again == CATALOGUE
    for profile in again.profiles:
        assert get_profile(profile.name) == profile


def _table_rows() -> list[str]:
    """The provider table of docs/endpoints-profiles.md, rendered from the data file."""
    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    hosts: dict[str, list[str]] = {}
    for pattern, name in CATALOGUE.hosts:
        hosts.setdefault(name, []).append(f"`{pattern}`")
    rows = []
    for p in CATALOGUE.profiles:
        signs = [("owned_by " + ", ".join(f"`{o}`" for o in s.owned_by)) if s.owned_by
                 else f"`{s.probe}`" for s in CATALOGUE.signatures if s.profile == p.name]
        rows.append(
            f"| `{p.name}` | {', '.join(hosts.get(p.name, [])) or '—'} | {', '.join(p.modes)} "
            f"| {yes(p.strict_schema)} | {yes(p.json_object_schema)} | {yes(p.supports_n)} "
            f"| `{p.max_tokens_param}` | {'; '.join(signs) or '—'} | [docs]({p.docs}) |")
    return rows


def test_the_documented_table_matches_the_data_file() -> None:
    page = Path(__file__).parent.parent / "docs" / "endpoints-profiles.md"
    documented = [line for line in page.read_text().splitlines() if line.startswith("| `")]
    assert documented == _table_rows()
