"""First-run behaviour of the CLI and the front doors, as a new user meets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, extract
from tests.cli_runner import run_cli as _run
from tests.scripted_server import completion

ROOT = Path(__file__).resolve().parent.parent




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


def test_a_cached_test_double_keeps_its_model_name(tmp_path):
    from extractkit import Extractor
    from extractkit.cache import cached
    from extractkit.testing import TestModel

    class Person(BaseModel):
        name: str

    model = TestModel([{"name": "Ada"}], model="double-1")
    extractor = Extractor(client=cached(model, tmp_path / "r.sqlite"))
    first = extractor.extract_result(Person, "Ada")
    again = extractor.extract_result(Person, "Ada")
    assert first.model == "double-1" and again.value == Person(name="Ada")
    assert len(model.calls) == 1  # the second answer came from the cache


def test_prompt_on_a_directory_renders_its_first_document(no_endpoint, tmp_path):
    code, out, err = _run("prompt", str(ROOT / "schemas/person.py"), str(ROOT / "schemas/inputs"))
    assert code == 0, err
    assert "Jonas Weber" in out  # contact.txt sorts first
    (tmp_path / "empty").mkdir()
    code, _, err = _run("prompt", str(ROOT / "schemas/person.py"), str(tmp_path / "empty"))
    assert code == 2 and "no input documents found in" in err


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class Q:\n    pass\n\nraise TypeError(Q)\n", "TypeError: <class 'Q'>"),
        (
            "from __future__ import annotations\nfrom pydantic import BaseModel\n\n"
            "class P(BaseModel):\n    other: Undefinedthing\n",
            "model P: `P` is not fully defined; you should define `Undefinedthing`",
        ),
        (
            'from extractkit import extract\n\n@extract\ndef p(text: str) -> str:\n'
            '    """{{ role }} {{ text }}"""\n',
            "template docstring of p: variable 'role' is undefined",
        ),
    ],
    ids=["import-error", "undefined-forward-ref", "template-variable"],
)
def test_errors_never_name_internal_module_names(no_endpoint, tmp_path, source, expected):
    schema = tmp_path / "undef.py"
    schema.write_text(source, encoding="utf-8")
    code, out, err = _run("prompt", str(schema), str(ROOT / "schemas/inputs/person.txt"))
    assert code == 2, out + err
    assert expected in err and "_extractkit_schema" not in err
    assert "Traceback" not in err


def test_a_json_schema_error_names_what_the_user_wrote(no_endpoint, tmp_path):
    schema = tmp_path / "bad.json"
    schema.write_text('{"type": "object", "properties": {"age": {"type": "int"}}}')
    code, out, err = _run("schema", str(schema))
    assert code != 0
    assert "at /properties/age, keyword 'type'" in out + err
    assert "'int' is not one of ['array', 'boolean', 'integer'" in out + err
    assert "anyOf" not in out + err and "given schemas" not in out + err
