"""First-run behaviour of the CLI and the front doors, as a new user meets it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, extract
from extractkit.cli import main
from tests.scripted_server import completion

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_endpoint(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTKIT_MODEL", "EXTRACTKIT_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_a_remote_model_name_without_credentials_is_a_configuration_error(no_endpoint):
    code, out, err = _run("run", str(ROOT / "schemas/person.py"),
                          str(ROOT / "schemas/inputs/person.txt"), "--model", "gpt-4o-mini")
    assert code == 2
    assert out == ""
    assert "OPENAI_API_KEY" in err and "--base-url" in err and "--local" in err
    assert "embedded local model" not in err.split("error:")[0]  # no silent fallback notice


def test_decorated_function_with_a_remote_model_and_no_key_fails_clearly(no_endpoint):
    class Person(BaseModel):
        name: str

    @extract(model="gpt-4o-mini")
    def person(text: str) -> Person:
        """{{ text }}"""

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        person("Ada")


def test_cache_is_a_flag_and_works_for_one_input(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-first-run-01")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    monkeypatch.setenv("HOME", str(tmp_path))  # the default cache file lands here
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    schema, doc = ROOT / "schemas/person.py", ROOT / "schemas/inputs/person.txt"
    server.push(completion('{"name": "Maria Lopez", "age": 34}'))
    # --cache does not swallow the next positional argument
    code, first, err = _run("run", "--cache", str(schema), str(doc))
    assert code == 0, err
    code, second, err = _run("run", "--cache", str(schema), str(doc))
    assert code == 0, err
    assert first == second and '"Maria Lopez"' in first
    assert len(server.requests) == 1  # the second run was answered from the cache
    assert (tmp_path / ".cache" / "extractkit" / "responses.sqlite").exists()


def test_local_wins_over_endpoint_variables(monkeypatch):
    from extractkit.settings import Settings

    monkeypatch.setenv("EXTRACTKIT_ENDPOINT", "llamacpp")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    resolved = Settings.of(local=True).resolve()
    assert resolved.local and resolved.profile.name == "local"
    with pytest.raises(ConfigurationError, match="endpoint='llamacpp'"):
        Settings.of(local=True, endpoint="llamacpp").resolve()
