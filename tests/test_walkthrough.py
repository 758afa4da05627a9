"""A new user's first hour: the README's and docs' commands, as written, in a fresh virtualenv.

The virtualenv is made the fast, offline way: ``python -m venv --without-pip``, a
``.pth`` file that makes the already-installed dependencies of the test
interpreter importable (standing in for ``pip install ".[local]"``, which
would download and compile them), then ``pip install --no-deps
--no-build-isolation -e .`` of this checkout, so the ``extractkit`` command on
the PATH is the one a user gets. No key, no base URL, no model is set, and
``PYTHONPATH`` is cleared. Each ``extractkit`` command of a shell block in
README.md or docs/*.md whose files ship with the repository then runs through
``bash`` (so globs expand as in a terminal) from a scratch folder holding a
copy of ``schemas/``, and must exit 0 (or ``N`` for a line ending ``# exits
N``). A command shown on several pages runs once. Commands that run a model
use the embedded one and are marked ``local_model``. (The Python examples of
the same pages run in ``tests/test_docs.py``, in the same no-key environment.)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_docs import ENDPOINT_VARIABLES, fenced_blocks

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIRST_RUN = "## First run, offline"


def _sections(markdown: str) -> Iterator[tuple[str, str]]:
    """(heading, body) of each ``## `` section."""
    parts = re.split(r"^(## .*)$", markdown, flags=re.MULTILINE)
    for i in range(1, len(parts) - 1, 2):
        yield parts[i].strip(), parts[i + 1]


def page_commands(page: Path) -> list[tuple[str, str]]:
    """(section, command line) for every ``extractkit ...`` line of a shell block."""
    found: list[tuple[str, str]] = []
    for heading, body in _sections(page.read_text(encoding="utf-8")):
        for block in fenced_blocks(body):
            if block.language not in ("bash", "console", "sh", "shell"):
                continue
            for line in block.text.splitlines():
                command = line[2:] if line.startswith("$ ") else line
                if command.startswith("extractkit "):
                    found.append((heading, command))
    return found


def _needs_files_we_ship(command: str) -> bool:
    """Whether every file-looking argument of ``command`` exists in the checkout."""
    words = [w for w in shlex.split(command, comments=True)[2:] if not w.startswith("-")]
    files = [w for w in words if "/" in w or re.search(r"\.\w+$", w)]
    outputs = {"results.jsonl", "review.html"}
    return all(w in outputs or list(ROOT.glob(w)) for w in files)


_ALL = page_commands(README)
_RUNNABLE = [(h, c) for h, c in _ALL if _needs_files_we_ship(c)]
_PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
_EVERY = sorted({c for page in _PAGES for _, c in page_commands(page) if _needs_files_we_ship(c)})


def test_every_first_run_command_is_walked_through() -> None:
    first = [c for h, c in _ALL if h == FIRST_RUN]
    assert len(first) >= 4, first  # the first command, a batch, schema, prompt
    assert all((FIRST_RUN, c) in _RUNNABLE for c in first)
    # What is left out names the reader's own files (nda.py, contract.pdf ...).
    skipped = [c for h, c in _ALL if (h, c) not in _RUNNABLE]
    assert all(not _needs_files_we_ship(c) for c in skipped)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    venv = tmp_path_factory.mktemp("walkthrough") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "zz_walkthrough_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_NO_INDEX"] = "1"  # offline: nothing may be downloaded
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "-e", str(ROOT)],
        check=True, env=env, timeout=120, cwd=venv.parent,
    )  # fmt: skip
    work = venv.parent / "work"
    shutil.copytree(ROOT / "schemas", work / "schemas")
    env["WALKTHROUGH_CWD"] = str(work)
    yield venv, env


def _bash(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], env=env, cwd=env["WALKTHROUGH_CWD"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_fresh_venv_runs_this_checkout(fresh_venv: tuple[Path, dict[str, str]]) -> None:
    venv, env = fresh_venv
    done = _bash("command -v extractkit && extractkit --version", env)
    assert done.returncode == 0, done.stderr
    where, version = done.stdout.splitlines()[:2]
    assert Path(where).parent.parent == venv
    assert "0." in version
    found = _bash("python -c 'import extractkit; print(extractkit.__file__)'", env)
    assert Path(found.stdout.strip()).parent == ROOT / "extractkit"


def _param(command: str) -> object:
    marks = [pytest.mark.local_model] if command.startswith("extractkit run") else []
    return pytest.param(command, marks=marks, id=command.split("#")[0].strip())


_EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


def test_the_docs_commands_include_the_readmes() -> None:
    assert {c for _, c in _RUNNABLE} <= set(_EVERY)
    assert len(_EVERY) > len(_RUNNABLE)  # the docs' own commands run too


@pytest.mark.parametrize("command", [_param(c) for c in _EVERY])
def test_documented_command_runs_as_written(
    command: str, fresh_venv: tuple[Path, dict[str, str]]
) -> None:
    _, env = fresh_venv
    work = Path(env["WALKTHROUGH_CWD"])
    (work / "results.jsonl").unlink(missing_ok=True)
    done = _bash(command, env)
    exits = _EXITS.search(command)
    expected = int(exits.group(1)) if exits else 0
    assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr}"
    assert (done.stdout + done.stderr).strip(), command
    argv = shlex.split(command, comments=True)
    if expected:
        assert "Traceback" not in done.stderr and "error" in done.stdout + done.stderr
    elif argv[1] == "run" and "--dry-run" in argv:  # docs/cost.md: nothing sent, no key
        assert "extractkit: dry run, nothing sent" in done.stdout
        assert "estimated cost: $" in done.stdout, done.stdout
    elif argv[1] == "run" and "--output" in argv:
        records = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]
        assert records and all(r["ok"] for r in records), records
        names = {r["input"]: r["value"]["name"] for r in records}
        assert names["maria"] == "Maria Lopez"
    elif argv[1] == "run":
        value = json.loads(done.stdout)
        assert value["name"] == "Maria Lopez" and value["age"] == 34
    elif argv[1] == "schema":
        assert argv[2].rstrip("/").split("/")[-1] in done.stdout + done.stderr
    elif argv[1] == "prompt":
        assert "--- user ---" in done.stdout
