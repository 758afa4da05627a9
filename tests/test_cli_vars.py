"""Template variables from the command line: ``--var KEY=VALUE`` and JSON Lines fields."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.cli_runner import run_cli as _run

_SCHEMA = '''
from pydantic import BaseModel

from extractkit import extract
from extractkit.testing import FunctionModel


class Echo(BaseModel):
    prompt: str


def echo(call):
    return {"prompt": call.user_text}


@extract(client=FunctionModel(echo))
def greet(doc: str, language: str, tone: str = "plain") -> Echo:
    """In {{ language }}, {{ tone }}: {{ doc }}"""
'''




@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "greet.py").write_text(textwrap.dedent(_SCHEMA), encoding="utf-8")
    (tmp_path / "hello.txt").write_text("Hello there", encoding="utf-8")
    lines = [
        {"id": "fr", "text": "Bonjour", "language": "French"},
        {"id": "de", "text": "Hallo", "language": "German", "tone": "formal"},
        {"id": "cli", "text": "Hi"},
    ]
    (tmp_path / "many.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return tmp_path


def test_var_fills_an_extract_functions_extra_parameter(files: Path) -> None:
    code, out, err = _run("run", str(files / "greet.py"), str(files / "hello.txt"),
                          "--var", "language=Italian", "--var", "tone=warm")  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {"prompt": "In Italian, warm: Hello there"}


def test_a_missing_parameter_still_names_the_function(files: Path) -> None:
    code, _, err = _run("run", str(files / "greet.py"), str(files / "hello.txt"))
    assert code == 1 and "greet()" in err and "language" in err


def test_jsonl_fields_are_per_input_variables_over_var(files: Path) -> None:
    code, out, err = _run("run", str(files / "greet.py"), str(files / "many.jsonl"),
                          "--var", "language=English")  # fmt: skip
    assert code == 0, err
    prompts = {r["input"]: r["value"]["prompt"] for r in map(json.loads, out.splitlines())}
    assert prompts == {
        "fr": "In French, plain: Bonjour",
        "de": "In German, formal: Hallo",
        "cli": "In English, plain: Hi",
    }


def test_var_reaches_a_prompt_template_of_a_plain_schema(files: Path) -> None:
    (files / "person.json").write_text(json.dumps(
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    ))  # fmt: skip
    code, out, err = _run("prompt", str(files / "person.json"), str(files / "hello.txt"),
                          "--prompt", "From {{ source }}: {{ text }}", "--var", "source=email")  # fmt: skip
    assert code == 0, err
    assert "From email: Hello there" in out


def test_prompt_shows_a_jsonl_lines_variables(files: Path) -> None:
    one = files / "one.jsonl"
    one.write_text(json.dumps({"id": "x", "text": "Ciao", "language": "Italian"}) + "\n")
    code, out, err = _run("prompt", str(files / "greet.py"), str(one))
    assert code == 0, err
    assert "In Italian, plain: Ciao" in out


@pytest.mark.parametrize("bad", ["language", "=x", "two words=x"])
def test_a_malformed_var_is_a_usage_error(files: Path, bad: str) -> None:
    code, _, err = _run("run", str(files / "greet.py"), str(files / "hello.txt"), "--var", bad)
    assert code == 2 and f"--var {bad!r}" in err and "KEY=VALUE" in err


def test_extractor_map_takes_per_input_variables() -> None:
    from pydantic import BaseModel

    from extractkit import Extractor
    from extractkit.errors import InputError
    from extractkit.testing import FunctionModel

    class Echo(BaseModel):
        prompt: str

    model = FunctionModel(lambda call: {"prompt": call.user_text})
    extractor = Extractor(client=model, prompt="{{ who }} from {{ where }}: {{ text }}")
    inputs = [("a", {"text": "hi", "who": "Ann"}), ("b", {"text": "yo", "who": "Cy", "where": "Oslo"}),
              ("c", {"who": "Bo"})]
    items = {i.id: i for i in extractor.map(Echo, inputs, where="Rome", concurrency=1)}
    assert items["a"].value.prompt == "Ann from Rome: hi"
    assert items["b"].value.prompt == "Cy from Oslo: yo"  # its own over the shared ones
    assert isinstance(items["c"].error, InputError) and "'text'" in str(items["c"].error)
