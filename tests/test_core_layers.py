"""Settings, profiles, backends, batch failure rules and sync/async parity.

Each test pins one bug of issue 11 (stale plans on re-registering a profile,
an unregistered ``Profile`` that failed with a client, settings resolved in
three places, every non-fatal exception reported as one item's failure) or a
rule the layers must keep (one transport budget, the same options on both
front doors).
"""

from __future__ import annotations

import inspect
import traceback
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel

from extractkit import (
    AsyncExtractFunction,
    AsyncExtractor,
    ConfigurationError,
    ExtractFunction,
    ExtractionError,
    Extractor,
    FatalError,
    InputError,
    Profile,
    SchemaError,
    TemplateError,
    extract,
    get_profile,
    register_profile,
)
from extractkit import profiles as profiles_module
from extractkit.drivers.batch import map_jobs
from extractkit.drivers.gate import ThreadGate
from extractkit.drivers.jobs import Job, jobs_from
from extractkit.drivers.send import Sending
from extractkit.errors import ArgumentsError, is_item_failure
from extractkit.retry import TransportRetry
from extractkit.settings import Settings
from tests.scripted_server import completion, error


class Person(BaseModel):
    name: str
    age: int


ADA = '{"name": "Ada", "age": 36}'
CUSTOM = Profile(
    "unregistered-core-test",
    modes=("json_object", "md_json"),
    json_object_schema=True,
    description="never registered",
)


# -- profiles and plans --------------------------------------------------------------


def test_reregistering_a_profile_compiles_a_new_plan(client, monkeypatch):
    monkeypatch.setitem(
        profiles_module._PROFILES, "core-test", Profile("core-test", modes=("json_schema",))
    )
    first = Extractor(client, model="m", endpoint="core-test").render(Person, "x")
    assert "strict" not in first["response_format"]["json_schema"]

    register_profile(Profile("core-test", modes=("json_schema",), strict_schema=True))
    second = Extractor(client, model="m", endpoint="core-test").render(Person, "x")
    assert second["response_format"]["json_schema"]["strict"] is True


def test_an_unregistered_profile_works_with_a_client(server, client):
    server.push(completion(ADA))
    ex = Extractor(client, model="m", endpoint=CUSTOM)
    assert ex.extract(Person, "Ada is 36") == Person(name="Ada", age=36)
    body = server.bodies()[0]
    assert body["response_format"]["type"] == "json_object"
    assert "schema" in body["response_format"]
    assert ex._engine.backend.profile is CUSTOM


def test_an_unregistered_profile_works_without_a_client(server):
    server.push(completion(ADA))
    ex = Extractor(model="m", endpoint=CUSTOM, base_url=server.base_url, api_key="sk-x")
    assert ex.extract(Person, "Ada is 36").age == 36
    assert server.bodies()[0]["response_format"]["type"] == "json_object"


async def test_an_unregistered_profile_works_with_an_async_client(server, aclient):
    server.push(completion(ADA))
    ex = AsyncExtractor(aclient, model="m", endpoint=CUSTOM)
    assert (await ex.extract(Person, "Ada is 36")).age == 36
    assert server.bodies()[0]["response_format"]["type"] == "json_object"


def test_the_engine_and_its_backend_share_one_resolved_profile(client, monkeypatch):
    monkeypatch.setenv("EXTRACTKIT_ENDPOINT", "vllm")
    ex = Extractor(client, model="m")
    assert ex._engine.profile is get_profile("vllm")
    assert ex._engine.backend.profile is ex._engine.profile


def test_settings_resolve_reads_the_environment_in_one_place(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "env-model")
    resolved = Settings.of().resolve()
    assert not resolved.local and resolved.base_url == "http://127.0.0.1:9/v1"
    assert resolved.profile.name == "generic" and resolved.model == "env-model"
    assert resolved.max_retries == 2 and resolved.transport_retries == 5

    openai_host = openai.OpenAI(api_key="sk-x", base_url="https://api.openai.com/v1")
    assert Settings.of(client=openai_host).resolve().profile.name == "openai"
    assert "sk-" not in repr(Settings.of(api_key="sk-secret").resolve())


def test_conflicting_or_malformed_settings_name_the_setting():
    with pytest.raises(ConfigurationError, match="endpoint='vllm'"):
        Settings.of(local=True, endpoint="vllm").resolve()
    with pytest.raises(ConfigurationError, match="transport_retries"):
        Settings.of(transport_retries=-1)
    with pytest.raises(ConfigurationError, match="max_retries"):
        Settings.of(max_retries=True)
    with pytest.raises(ConfigurationError, match="endpoint must be"):
        Settings.of(endpoint=3)


# -- the two budgets ---------------------------------------------------------------


def _busy() -> Any:
    return error(503, "busy", headers={"retry-after-ms": "1"})


def test_transport_retries_sets_the_transport_budget(server, client):
    server.push(_busy(), _busy(), completion(ADA))
    result = Extractor(client, model="m", transport_retries=2).extract_result(Person, "x")
    assert result.transport_retries == 2 and len(result.attempts) == 1

    server.push(_busy(), _busy(), completion(ADA))
    with pytest.raises(openai.InternalServerError):
        Extractor(client, model="m", transport_retries=1).extract(Person, "x")
    assert len(server.bodies()) == 3 + 2


def test_max_retries_counts_reasks_not_transport_failures(server, client):
    server.push(_busy(), completion('{"name": "Ada"}'), completion(ADA))
    result = Extractor(client, model="m", max_retries=1, transport_retries=1).extract_result(
        Person, "x"
    )
    assert result.transport_retries == 1 and len(result.attempts) == 2


def test_transport_retries_on_the_decorator(server, client):
    @extract(client=client, model="m", transport_retries=0)
    def person(text: str) -> Person:
        """{{ text }}"""

    server.push(_busy())
    with pytest.raises(openai.InternalServerError):
        person("Ada")
    assert len(server.bodies()) == 1


# -- what ends a batch ---------------------------------------------------------------


def test_fatal_errors_share_a_base_and_item_failures_are_named():
    for cls in (ConfigurationError, SchemaError, TemplateError):
        assert issubclass(cls, FatalError)
    assert not is_item_failure(ConfigurationError("x"))
    assert is_item_failure(ExtractionError("x"))
    assert is_item_failure(InputError("x"))
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    # every further request would meet these: they end a batch (is_endpoint_fatal)
    assert not is_item_failure(openai.APIConnectionError(request=request))
    assert is_item_failure(openai.APITimeoutError(request=request))
    bad = httpx2.Response(400, request=request)
    assert is_item_failure(openai.BadRequestError("too long", response=bad, body=None))
    denied = httpx2.Response(401, request=request)
    assert not is_item_failure(openai.AuthenticationError("no", response=denied, body=None))
    assert not is_item_failure(KeyError("a bug"))


class _BuggyBackend:
    """Answers valid JSON, except that one input trips a bug of ours."""

    profile = "generic"

    def complete(self, request: dict[str, Any]) -> Any:
        text = request["messages"][-1]["content"]
        if text == "boom":
            raise KeyError("a bug, not a model failure")
        return openai.types.chat.ChatCompletion.model_validate_json(completion(ADA).body)

    def stream(self, request: dict[str, Any]) -> Any:
        raise NotImplementedError


def test_a_bug_ends_the_batch_with_its_traceback():
    ex = Extractor(_BuggyBackend(), model="m")
    with pytest.raises(KeyError, match="a bug") as info:
        list(ex.map(Person, ["a", "boom", "c"], concurrency=1))
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "complete" in frames


async def test_a_bug_ends_an_async_batch_too():
    ex = AsyncExtractor(_AsyncBuggy(), model="m")
    with pytest.raises(KeyError, match="a bug"):
        async for _ in ex.map(Person, ["a", "boom"], concurrency=1):
            pass


class _AsyncBuggy:
    profile = "generic"

    def __init__(self) -> None:
        self._sync = _BuggyBackend()

    async def complete(self, request: dict[str, Any]) -> Any:
        return self._sync.complete(request)

    def stream(self, request: dict[str, Any]) -> Any:
        raise NotImplementedError


def test_endpoint_and_model_failures_stay_one_items_failure(server, client):
    server.push(error(400, "bad request for this one"), completion('{"name": 1}'), completion(ADA))
    items = list(Extractor(client, model="m", max_retries=0).map(Person, ["a", "b", "c"],
                                                                   concurrency=1))
    kinds = [type(item.error).__name__ if item.error else "ok" for item in items]
    assert kinds == ["BadRequestError", "ExtractionError", "ok"]


def test_bad_arguments_of_one_input_are_that_items_failure(server, client):
    @extract(client=client, model="m")
    def person(text: str) -> Person:
        """{{ text }}"""

    server.push(completion(ADA))
    items = {item.id: item for item in person.map([("good", {"text": "Ada"}), ("bad", {"txt": 1})])}
    assert items["good"].ok
    assert isinstance(items["bad"].error, ArgumentsError)
    assert "person()" in str(items["bad"].error)
    with pytest.raises(TypeError):  # a direct call still raises a TypeError
        person(txt="x")  # type: ignore[call-arg]


def test_an_input_that_is_an_error_never_starts():
    started: list[Any] = []
    jobs = list(jobs_from([("a", InputError("unreadable a.pdf", path="a.pdf"))], started.append))
    assert jobs[0].error is not None
    [item] = list(map_jobs(_BuggyBackend(), jobs))
    assert not item.ok and "a.pdf" in str(item.error) and started == []


def test_a_job_whose_start_fails_fatally_ends_the_batch():
    def start() -> Any:
        raise TemplateError("undefined variable 'txt'", variable="txt")

    with pytest.raises(TemplateError):
        list(map_jobs(_BuggyBackend(), [Job("0", 0, start)]))


# -- the sender ------------------------------------------------------------------------


def test_sending_gives_the_gate_slot_back_with_the_outcome():
    gate = ThreadGate(4)
    sending = Sending(TransportRetry(max_attempts=3, base_delay=0.001), gate)
    sending.took(gate.acquire())
    assert gate.in_flight == 1
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(429, headers={"retry-after": "2"}, request=request)
    delay = sending.failed(openai.RateLimitError("slow", response=response, body=None))
    assert delay == 2.0 and gate.in_flight == 0
    assert gate.limit == 2 and gate.paused_for > 1  # the whole gate pauses and halves

    sending.took(0)
    assert sending.cut() is not None  # a cut stream spends the same budget
    assert sending.cut() is None  # ... and runs out like it
    assert sending.retry.failures == 2


# -- parity of the sync and async front doors ------------------------------------------


def _surface(cls: type) -> dict[str, list[str]]:
    out = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if callable(member):
            out[name] = list(inspect.signature(member).parameters)
        else:
            out[name] = []
    return out


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"),
    [(Extractor, AsyncExtractor), (ExtractFunction, AsyncExtractFunction)],
)
def test_sync_and_async_front_doors_expose_the_same_methods_and_options(sync_cls, async_cls):
    assert _surface(sync_cls) == _surface(async_cls)
    assert "batch_api" in _surface(async_cls)["map"]


def test_render_is_sync_on_both_extractors_and_awaited_only_for_async_bodies():
    assert not inspect.iscoroutinefunction(Extractor.render)
    assert not inspect.iscoroutinefunction(AsyncExtractor.render)
    assert not inspect.iscoroutinefunction(ExtractFunction.render)
    # the body of an async @extract function may add variables: it must be awaited first
    assert inspect.iscoroutinefunction(AsyncExtractFunction.render)


async def test_async_map_refuses_the_batch_api_with_a_clear_error(aclient):
    with pytest.raises(ConfigurationError, match=r"blocking openai\.OpenAI client"):
        AsyncExtractor(aclient, model="m").map(Person, ["x"], batch_api=True)


def test_a_profile_is_a_hashable_value_checked_when_made():
    listed = Profile("listed-modes", modes=["tools", "md_json"])  # type: ignore[arg-type]
    assert listed.modes == ("tools", "md_json") and hash(listed) == hash(listed)
    assert listed == Profile("listed-modes", modes=("tools", "md_json"))
    with pytest.raises(ConfigurationError, match=r"'typo-profile'.*'jsn'"):
        Profile("typo-profile", modes=("jsn",))
    with pytest.raises(ConfigurationError, match="length_policy"):
        Profile("bad-policy", modes=("tools",), length_policy="retry")


def test_tally_is_still_importable_from_the_batch_driver():
    from extractkit.drivers import batch
    from extractkit.tally import Tally

    assert batch.Tally is Tally
