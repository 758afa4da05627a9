"""The README's offline command on the embedded model, and backend selection rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from extractkit import ConfigurationError, Extractor
from extractkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "EXTRACTKIT_"))}
    env.update(extra)
    return env


@pytest.mark.local_model
def test_readme_offline_command_returns_validated_json():
    result = subprocess.run(
        [sys.executable, "-m", "extractkit.cli", "run", "schemas/person.py",
         "schemas/inputs/person.txt"],
        cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)
    assert set(value) == {"name", "age", "city"}
    assert isinstance(value["name"], str) and value["name"]
    assert value["age"] is None or 0 <= value["age"] <= 150
    assert "embedded local model" in result.stderr  # announced once
    assert result.stderr.count("embedded local model") == 1


@pytest.mark.local_model
def test_local_flag_forces_the_embedded_model_even_with_an_endpoint(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "extractkit.cli", "run", "schemas/person.py",
         "schemas/inputs/person.txt", "--local"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=_clean_env(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="sk-x"),
    )
    assert result.returncode == 0, result.stderr
    assert "name" in json.loads(result.stdout)


def test_missing_local_extra_says_how_to_install(monkeypatch, capsys):
    from pydantic import BaseModel

    class P(BaseModel):
        name: str

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigurationError, match=r'pip install "extractkit\[local\]"'):
        Extractor(local=True).extract(P, "x")


def test_bad_local_model_path_is_a_configuration_error(monkeypatch, tmp_path):
    monkeypatch.setenv("EXTRACTKIT_LOCAL_MODEL", str(tmp_path / "nope.gguf"))
    code = main(["run", str(ROOT / "schemas/person.py"), str(ROOT / "schemas/inputs/person.txt"),
                 "--local"])
    assert code == 2
