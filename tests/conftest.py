"""Shared fixtures: a scripted OpenAI-compatible server on loopback, real SDK clients,
and an environment with no endpoint configured (so nothing can leak to the network)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.scripted_server import ScriptedServer

_ENDPOINT_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "EXTRACTKIT_MODEL",
    "EXTRACTKIT_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=server.base_url, api_key="sk-test-secret-123", max_retries=0)
    yield c
    c.close()


@pytest.fixture
def aclient(server: ScriptedServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test-secret-123", max_retries=0)
